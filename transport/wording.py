"""How messages about outbound calls are worded, for every service alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus

# 524 is Cloudflare's "origin timed out", which HTTPStatus does not know.
_EXTRA_PHRASES = {524: "A Timeout Occurred"}


def duration_text(seconds: float) -> str:
    if seconds == 1:
        return "1 second"
    if seconds < 120:
        return f"{seconds:g} seconds"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.0f} hours"


def status_text(status: int) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = _EXTRA_PHRASES.get(status, "")
    return f"{status} {phrase}".strip()


def refused_access(subject: str, status: int, hint: str) -> str:
    """Credentials or permissions refused (401/403); `hint` says where to look."""
    return f"{subject} refused access ({status_text(status)}) - {hint}"


@dataclass(frozen=True, slots=True)
class Speaker:
    """Who a message is about and how it names Stockbot.

    Feeds say "Supplier feed at <url> ... asked us to wait ...; will try again";
    API services say "<service> ... asked Stockbot to wait ...; Stockbot will try".
    """

    subject: str  # starts every message, e.g. "BigBuy" or "Supplier feed at <url>"
    us: str = "Stockbot"
    we_will: str = "Stockbot will"

    def gave_up(self, failures: list[str]) -> str:
        count = len(failures)
        times = "once" if count == 1 else f"{count} times"
        if len(set(failures)) == 1:
            what = f"{failures[0]} {times}"
        else:
            what = f"failed {times} (last time it {failures[-1]})"
        return f"{self.subject} {what}; {self.we_will} try again next poll"

    def asked_to_wait(self, what: str, seconds: float, until: datetime) -> str:
        return (
            f"{self.subject} {what} and asked {self.us} to wait {duration_text(seconds)}; "
            f"{self.we_will} try again after {until.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        )
