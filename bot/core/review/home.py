"""Who looks at Stockbot's App Home: refreshed after polls while they are recent
viewers, at most once a minute each, whichever process does it (the database decides)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import HomeView
from bot.db.upsert import dialect_insert

# Someone who opened the Home tab this recently still sees it refreshed after polls.
RECENT = timedelta(hours=1)
# And no more often than this.
REFRESH_EVERY = timedelta(minutes=1)


async def opened(session: AsyncSession, user_id: str, now: datetime) -> None:
    """`user_id` opened the Home tab (and is shown it now)."""
    values = {"user_id": user_id, "opened_at": now, "published_at": now}
    await session.execute(
        dialect_insert(session, HomeView)
        .values(**values)
        .on_conflict_do_update(index_elements=["user_id"], set_=values)
    )


async def claim_due(session: AsyncSession, now: datetime) -> list[str]:
    """The recent viewers whose Home was last published a minute ago or more, marked
    published now: two processes refreshing at once never publish twice."""
    due = (
        select(HomeView.user_id)
        .where(HomeView.opened_at >= now - RECENT)
        .where(or_(HomeView.published_at.is_(None), HomeView.published_at <= now - REFRESH_EVERY))
    )
    users = list(await session.scalars(due))
    claimed = []
    for user_id in users:
        result = await session.execute(
            update(HomeView)
            .where(
                HomeView.user_id == user_id,
                or_(HomeView.published_at.is_(None), HomeView.published_at <= now - REFRESH_EVERY),
            )
            .values(published_at=now)
        )
        if getattr(result, "rowcount", 0):
            claimed.append(user_id)
    return claimed
