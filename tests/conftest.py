from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from bot.config import load_settings
from bot.runtime import Runtime
from tests.adapter_helpers import START
from tests.databases import DatabaseTemplate, PostgresTemplate, SqliteTemplate
from tests.fakes.clock import FakeClock
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.smtp_server import FakeSMTPServer
from tests.helpers import ALERT_CHANNEL_ID, BOT_TOKEN, CONFIG, Stack, set_slack_env
from tests.loopback import TLS

# Fixtures shared by the test modules that run stores.
pytest_plugins = ["tests.webhook_helpers"]


@pytest.fixture
def slack_api() -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI(token=BOT_TOKEN, channels={"stock-alerts": ALERT_CHANNEL_ID}) as api:
        yield api


@pytest.fixture
def smtp() -> Iterator[FakeSMTPServer]:
    """A real SMTP server on loopback that keeps what it receives (tests/fakes)."""
    with FakeSMTPServer() as server:
        yield server


@pytest.fixture
def group_over() -> int:
    return 10


POSTGRES_ADMIN_URL = os.environ.get("STOCKBOT_TEST_POSTGRES_URL")


# Fixtures that start real `stockbot run` processes: their tests wait seconds on them.
PROCESS_FIXTURES = frozenset({"bots", "start_bot"})


def starts_processes(item: pytest.Item) -> bool:
    return bool(PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests that run the whole stack are the ones worth repeating on PostgreSQL.
    for item in items:
        if "stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.database)
    # The long tests first (a stable sort keeps the rest in order): on several workers
    # (`make test`: -n 2 --dist worksteal) the others share out the short ones meanwhile,
    # and no long test starts last and runs on alone.
    items.sort(key=lambda item: not starts_processes(item))


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseTemplate]:
    """Migrated once per session, when the first test needs a database."""
    template: DatabaseTemplate = (
        SqliteTemplate(tmp_path_factory.mktemp("template"))
        if POSTGRES_ADMIN_URL is None
        else PostgresTemplate(POSTGRES_ADMIN_URL)
    )
    yield template
    template.close()


@pytest.fixture
async def database_url(
    database_template: DatabaseTemplate, tmp_path: Path
) -> AsyncIterator[str | None]:
    """None: the default SQLite file beside the config, a copy of the migrated template.
    With STOCKBOT_TEST_POSTGRES_URL set (scripts/test-postgres.sh), a fresh PostgreSQL
    database for each test, cloned from the migrated template."""
    url = await database_template.create(tmp_path)
    yield url
    await database_template.drop(url)


@pytest.fixture
def slack_env(
    monkeypatch: pytest.MonkeyPatch, slack_api: FakeSlackAPI, database_url: str | None
) -> None:
    set_slack_env(monkeypatch, slack_api, database_url)


@pytest.fixture
def extra_config() -> str:
    """TOML appended to the test config; override it in a test module."""
    return ""


@pytest.fixture
def config_path(tmp_path: Path, group_over: int, extra_config: str) -> Path:
    path = tmp_path / "stockbot.toml"
    path.write_text(CONFIG.format(group_over=group_over) + extra_config, encoding="utf-8")
    (tmp_path / "feeds").mkdir()
    return path


@pytest.fixture
async def stack(
    tmp_path: Path, config_path: Path, slack_env: None, slack_api: FakeSlackAPI
) -> AsyncIterator[Stack]:
    settings = load_settings(config_path)
    runtime = await Runtime.start(settings, per_channel_interval=0)
    built = Stack(tmp_path, config_path, settings, runtime, slack_api)
    yield built
    await built.close()


# --- adapter tests (suppliers and stores against fake servers) -------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(verify=TLS) as http_client:
        yield http_client
