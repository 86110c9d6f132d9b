"""Stockbot's exception vocabulary: who needs to hear about a failure, and how.

- `UserError`: a refusal or a mistake the person can fix (an unknown SKU, a supplier
  without stock, a bad import file). Its text is shown as is: an ephemeral message in
  Slack, a plain line and exit code 1 on the command line. Nothing was changed.
- `ConfigError`: the configuration is wrong; every problem names its key. Exit code 2.
- `DatabaseUnavailable`: the database cannot be reached; says which (password hidden)
  and what to check. Exit code 1.
- Supplier and store problems are the adapters' own errors (`suppliers.FeedError`,
  `stores.StoreError`): they become alerts in the channel, not answers to a person.
- Anything else is a bug: logged with its traceback; the person sees a short apology.
"""

from __future__ import annotations


class StockbotError(Exception):
    """Base of the errors Stockbot raises on purpose."""


class UserError(StockbotError):
    """A refusal or mistake to tell the person plainly; nothing was changed."""


class ConfigError(StockbotError):
    """A configuration problem, one `key: problem` per line."""

    def __init__(self, problems: list[str], source: str = "configuration") -> None:
        self.problems = problems
        super().__init__(
            f"{source} has {len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems)
        )


class DatabaseUnavailable(StockbotError):
    """The database cannot be reached or opened; the message says which and why."""
