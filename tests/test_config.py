"""Configuration: good files load; every mistake names its key and stops the bot."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.config import load_settings, parse_duration
from bot.errors import ConfigError

GOOD = """
[slack]
alert_channel = "#stock"

[[suppliers]]
name = "Acme"
kind = "csv_feed"
url = "feeds/acme.csv"
poll_interval = "15m"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stockbot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_file_loads_with_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.slack.alert_channel == "#stock"
    assert settings.suppliers[0].poll_interval == timedelta(minutes=15)
    assert settings.rules.feed_guard_share == 0.5
    assert settings.rules.supplier_down_after == 3
    # The default database is an SQLite file beside the config, on the async driver.
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'stockbot.db'}"
    assert settings.slack_api_url == "https://slack.com/api/"
    assert not settings.slack_configured


def test_environment_supplies_secrets_and_endpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@localhost/stock")
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.slack_configured
    assert settings.slack_api_url == "http://127.0.0.1:9/api/"
    assert settings.database_url == "postgresql+asyncpg://u:p@localhost/stock"
    assert "xoxb-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD.replace('poll_interval = "15m"', 'poll_interval = "soon"'),
            "suppliers[0].poll_interval: expected a duration such as '30s'",
        ),
        (
            GOOD.replace('kind = "csv_feed"', 'kind = "carrier_pigeon"'),
            "suppliers[0].kind: unknown kind 'carrier_pigeon'",
        ),
        (GOOD.replace("[slack]", "[slak]"), "slak: unknown key"),
        (
            GOOD.replace('alert_channel = "#stock"', ""),
            "slack.alert_channel: required key is missing",
        ),
        (
            GOOD + "\n[rules]\nfeed_guard_share = 2\n",
            "rules.feed_guard_share: Input should be less than or equal to 1",
        ),
        (
            GOOD.replace('url = "feeds/acme.csv"', 'url = "x"\ncolour = "red"'),
            "suppliers[0].colour: unknown key",
        ),
        (
            GOOD + GOOD.split("\n", 4)[4].replace("[[suppliers]]", "[[suppliers]]"),
            "supplier name 'Acme' is used twice",
        ),
        ("[slack\n", "not valid TOML"),
        (
            'sqlite_lock_wait = "a while"\n' + GOOD,
            "sqlite_lock_wait: expected a duration such as '30s'",
        ),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    assert expected in str(caught.value)


def test_header_from_missing_environment_variable_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ACME_FEED_TOKEN", raising=False)
    text = GOOD + 'headers_env = { Authorization = "ACME_FEED_TOKEN" }\n'
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    assert "suppliers[0].headers_env" in str(caught.value)
    assert "ACME_FEED_TOKEN" in str(caught.value)


def test_durations() -> None:
    assert parse_duration("30s") == timedelta(seconds=30)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration(45) == timedelta(seconds=45)
    for bad in ("", "10", "-5m", "0s", "5 minutes"):
        with pytest.raises(ValueError, match=r"duration|longer than zero"):
            parse_duration(bad)


def test_cli_refuses_to_start_on_a_bad_config(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('"15m"', '"15 parsecs"'))
    result = CliRunner().invoke(main, ["--config", str(path), "poll", "--once"])
    assert result.exit_code == 2
    assert "suppliers[0].poll_interval" in result.output
    assert "Traceback" not in result.output


def test_cli_without_any_config_says_how_to_give_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STOCKBOT_CONFIG", raising=False)
    result = CliRunner().invoke(main, ["poll", "--once"])
    assert result.exit_code == 2
    assert "--config PATH or set STOCKBOT_CONFIG" in result.output


def assert_refused(tmp_path: Path, table: str, cases: list[tuple[str, str]]) -> None:
    """Each key line in `table` is refused with a problem starting with its message."""
    for line, expected in cases:
        with pytest.raises(ConfigError) as caught:
            load_settings(write(tmp_path, GOOD + f"\n[{table}]\n{line}\n"))
        assert any(problem.startswith(expected) for problem in caught.value.problems), (
            caught.value.problems
        )


def test_forecast_table_has_defaults_and_checked_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = load_settings(write(tmp_path, GOOD))
    assert (settings.forecast.warn_days, settings.forecast.history_days) == (3, 90)
    settings = load_settings(write(tmp_path, GOOD + "\n[forecast]\nwarn_days = 7\n"))
    assert settings.forecast.warn_days == 7
    assert_refused(
        tmp_path,
        "forecast",
        [
            ("warn_days = 0", "forecast.warn_days: Input should be greater than or equal to 1"),
            ("history_days = 10", "forecast.history_days: Input should be greater than or equal"),
            ("history_days = 'long'", "forecast.history_days: Input should be a valid integer"),
            ("horizon = 3", "forecast.horizon: unknown key (check the spelling)"),
        ],
    )


WITH_WEB = GOOD + '\n[web]\npublic_url = "https://bot.example.com/"\n'
LINK_SECRET = "s" * 40


def test_public_url_without_link_secret_refuses_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STOCKBOT_LINK_SECRET", raising=False)
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, WITH_WEB))
    assert "web.public_url" in str(caught.value)
    assert "STOCKBOT_LINK_SECRET" in str(caught.value)


def test_short_link_secret_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKBOT_LINK_SECRET", "short")
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, WITH_WEB))
    assert "STOCKBOT_LINK_SECRET: must be at least 32 characters" in str(caught.value)


def test_public_url_must_be_https(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKBOT_LINK_SECRET", LINK_SECRET)
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, WITH_WEB.replace("https://", "http://")))
    assert "web.public_url: expected an https:// address" in str(caught.value)


def test_public_url_and_link_secret_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKBOT_LINK_SECRET", LINK_SECRET)
    settings = load_settings(write(tmp_path, WITH_WEB))
    assert settings.web.public_url == "https://bot.example.com"
    assert settings.link_secret is not None
    assert settings.link_secret.get_secret_value() == LINK_SECRET
    monkeypatch.delenv("STOCKBOT_LINK_SECRET")
    assert load_settings(write(tmp_path, GOOD)).web.public_url is None


def test_the_review_is_off_until_a_time_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert not load_settings(write(tmp_path, GOOD)).review.enabled
    table = '\n[review]\ntime = "09:00"\ntimezone = "Europe/Berlin"\n'
    review = load_settings(write(tmp_path, GOOD + table)).review
    assert review.enabled
    assert (review.time, str(review.zone)) == (time(9, 0), "Europe/Berlin")


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('time = "9am"', "review.time: expected a time of day such as \"09:00\", got '9am'"),
        ('time = "24:00"', "review.time: expected a time of day"),
        ('time = "09:00"\ntimezone = "Berlin"', "review.timezone: expected an IANA time zone"),
        ('time = "09:00"\ntimezone = "CEST+2"', "review.timezone: expected an IANA time zone"),
        ('at = "09:00"', "review.at: unknown key (check the spelling)"),
    ],
)
def test_review_mistakes_name_the_key(tmp_path: Path, table: str, expected: str) -> None:
    assert_refused(tmp_path, "review", [(table, expected)])


def test_charts_table_has_defaults_and_checked_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.charts.enabled is True
    assert settings.charts.folder == tmp_path / "charts"  # beside the config file
    settings = load_settings(write(tmp_path, GOOD + "\n[charts]\nenabled = false\n"))
    assert settings.charts.enabled is False
    (tmp_path / "a-file").write_text("not a folder")
    assert_refused(
        tmp_path,
        "charts",
        [
            ('folder = "a-file"', f"charts.folder: {tmp_path / 'a-file'} is not a folder"),
            ("enabled = 'sometimes'", "charts.enabled: Input should be a valid boolean"),
            ("size = 3", "charts.size: unknown key (check the spelling)"),
        ],
    )
