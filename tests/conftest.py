from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.runtime import Runtime
from tests.fakes.slack_api import FakeSlackAPI
from tests.helpers import ALERT_CHANNEL_ID, BOT_TOKEN, CONFIG, SIGNING_SECRET, Stack


@pytest.fixture
def slack_api() -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI(token=BOT_TOKEN, channels={"stock-alerts": ALERT_CHANNEL_ID}) as api:
        yield api


@pytest.fixture
def group_over() -> int:
    return 10


@pytest.fixture
def slack_env(monkeypatch: pytest.MonkeyPatch, slack_api: FakeSlackAPI) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("SLACK_API_URL", slack_api.url)
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)


@pytest.fixture
def config_path(tmp_path: Path, group_over: int) -> Path:
    path = tmp_path / "stockbot.toml"
    path.write_text(CONFIG.format(group_over=group_over), encoding="utf-8")
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
