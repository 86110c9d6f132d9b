"""SQLite serves one bot process: a second `stockbot run` on the same file says so.

The lock is an OS file lock beside the database: the kernel drops it when the process
ends, SIGKILL included, so a restarted bot never waits for a stale lock. Command-line
tools (`poll --once`, imports) take no such lock: they run beside the bot and wait
for SQLite's write lock instead.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.errors import ConfigError

ONE_PROCESS = (
    "SQLite serves one bot process, and another `stockbot run` (pid {pid}) is using {path}. "
    "Stop it first, or, to run several replicas, use PostgreSQL: set DATABASE_URL to a "
    'postgresql:// URL (see README, "Running several replicas"). Commands such as '
    "`stockbot poll --once` or `stockbot catalog import` may run beside the bot."
)


class BotLock:
    """Held by the one `stockbot run` of an SQLite file while it runs."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock
            self._fd = None


def lock_sqlite_bot(database_url: str) -> BotLock | None:
    """Take the file's bot lock, or raise ConfigError naming the process that has it.
    None for PostgreSQL (any number of bots) and for in-memory SQLite."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    database = Path(url.database).resolve()
    database.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(f"{database}.bot-lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise ConfigError(
            [f"database_url: {ONE_PROCESS.format(pid=holder, path=database)}"]
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return BotLock(fd)
