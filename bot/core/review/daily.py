"""Once a day, exactly once: the database decides which process posts the review.

A review date is claimed by inserting its row (the date is the primary key) before
anything is posted; the process whose insert went in posts it, every other one (or
the same one after a restart) sees the row and leaves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import DailyReview
from bot.db.upsert import dialect_insert


@dataclass(frozen=True, slots=True)
class LastReview:
    day: date
    posted_at: datetime
    summary: str
    posted: bool


def due_day(now: datetime, at: time, zone: ZoneInfo) -> date | None:
    """The review date due at `now`: today in `zone` once its clock reads `at`."""
    local = now.astimezone(zone)
    return local.date() if local.time() >= at else None


async def claim(session: AsyncSession, day: date, now: datetime, channel: str) -> bool:
    """Take `day`'s review for this process; False when it was taken already."""
    inserted = await session.execute(
        dialect_insert(session, DailyReview)
        .values(day=day, started_at=now, channel=channel, summary="")
        .on_conflict_do_nothing()
        .returning(DailyReview.day)
    )
    return inserted.scalar() is not None


async def posted(session: AsyncSession, day: date, ts: str | None, summary: str) -> None:
    """Record where `day`'s review went (ts None: printed, not posted to Slack)."""
    await session.execute(
        update(DailyReview).where(DailyReview.day == day).values(posted_ts=ts, summary=summary)
    )


async def release(session: AsyncSession, day: date) -> None:
    """Slack refused the post, so nothing was shown: let a later tick try again."""
    await session.execute(delete(DailyReview).where(DailyReview.day == day))


async def last_review(session: AsyncSession) -> LastReview | None:
    row = await session.scalar(select(DailyReview).order_by(DailyReview.day.desc()).limit(1))
    if row is None:
        return None
    return LastReview(row.day, row.started_at, row.summary, row.posted_ts is not None)
