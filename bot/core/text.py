"""Text meant for people: escaping outside text, mentions, clipping to a limit.

Thread notes and summaries that the core writes are Slack mrkdwn, so these live
here, below every surface, and the Slack layer uses the same functions.
"""

from __future__ import annotations


def escape(text: str) -> str:
    """Make text we did not write (titles, names, feed errors) inert in Slack mrkdwn:
    no mentions, links or formatting can come from outside."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(user_id: str) -> str:
    """A Slack mention of a user ID (only ever IDs Slack gave us, never typed text)."""
    return f"<@{escape(user_id)}>"


def clip(text: str, limit: int) -> str:
    """Cut text to `limit` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def clip_lines(lines: list[str], limit: int, line_limit: int = 500) -> str:
    """Join as many lines as fit in `limit` characters, then say how many are left."""
    shown: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        line = clip(line, line_limit)
        tail = f"…and {len(lines) - index} more"
        needed = len(line) + (1 if shown else 0)
        # Keep room for the "and N more" line unless this is the last line.
        reserve = 0 if index == len(lines) - 1 else len(tail) + 1
        if used + needed + reserve > limit:
            shown.append(tail)
            break
        shown.append(line)
        used += needed
    return "\n".join(shown)


def span_words(seconds: float) -> str:
    """A length of time as a phone reads it: '12 s', '5 min', '3 h', '2 days'."""
    if seconds < 60:
        return f"{max(0, round(seconds))} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    if seconds < 86400:
        return f"{round(seconds / 3600)} h"
    days = round(seconds / 86400)
    return "1 day" if days == 1 else f"{days} days"


def rate_words(per_day: float) -> str:
    """'5/day', '0.4/day': a sales rate, rounded as far as it is worth reading."""
    shown = f"{per_day:.0f}" if per_day >= 10 else f"{per_day:.1f}".removesuffix(".0")
    return f"{shown}/day"
