"""Log records as people read them, or as JSON lines for a log pipeline."""

from __future__ import annotations

import logging
import os

# Request URLs can carry credentials in query strings: keep them out of logs.
QUIET_LIBRARIES = ("httpx", "httpcore", "apscheduler", "aiosqlite", "alembic")
FORMAT_VARIABLE = "STOCKBOT_LOG_FORMAT"


def configure_logging(verbose: bool) -> None:
    """Plain lines by default; one JSON object per line with STOCKBOT_LOG_FORMAT=json."""
    handler = logging.StreamHandler()
    if os.environ.get(FORMAT_VARIABLE, "").strip().lower() == "json":
        # Imported only when asked for: most runs log plain lines.
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
        )
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    for noisy in QUIET_LIBRARIES:
        logging.getLogger(noisy).setLevel(logging.WARNING)
