"""The schedule: one polling job per supplier, plus housekeeping.

Every replica runs this schedule; each job runs once per interval across them all
(`Leases.run_if_due`): whichever process's tick comes first does the work, and when
a process dies the others' ticks pick its jobs up.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.core.polling import PollSummary
from bot.runtime import Runtime
from stores import StoreError

log = logging.getLogger(__name__)

SNOOZE_CHECK = timedelta(seconds=60)
# How often the schedule looks whether the daily review is due (the database makes it
# once a day whichever process looks first).
REVIEW_CHECK = timedelta(seconds=60)
STORE_PUSH_EVERY = timedelta(seconds=60)
# How often notes on store orders are written ([[stores]] write_order_notes).
STORE_NOTES_EVERY = timedelta(seconds=60)
# How often store cancels claimed by a process that stopped are looked for.
CANCEL_CHECK = timedelta(seconds=60)
# [notify] auto_back_in_stock: how often covered orders are looked for.
BACK_IN_STOCK_CHECK = timedelta(seconds=60)


def describe(summary: PollSummary) -> str:
    if summary.error:
        return f"{summary.supplier}: poll failed: {summary.error}"
    if summary.not_modified:
        return f"{summary.supplier}: feed unchanged since last poll"
    notes = "".join(f"; {note}" for note in summary.notes)
    return (
        f"{summary.supplier}: {summary.rows_read} rows read, {summary.changed} changed, "
        f"{summary.set_aside} set aside, {summary.alerts_opened} alert(s) opened, "
        f"{summary.alerts_resolved} resolved{notes}"
    )


# A tick a little early still counts as on time: ticks jitter.
ON_TIME = 0.9


def once_across_replicas(
    runtime: Runtime, name: str, every: timedelta, job: Callable[[], Awaitable[object]]
) -> Callable[[], Awaitable[None]]:
    """`job`, run by this process only if no replica ran it in the last `every`."""

    async def run() -> None:
        await runtime.leases.run_if_due(f"schedule:{name}", every * ON_TIME, job)

    return run


def every_so_often(
    scheduler: AsyncIOScheduler,
    runtime: Runtime,
    name: str,
    every: timedelta,
    job: Callable[[], Awaitable[object]],
    title: str,
) -> None:
    """Housekeeping: `job` every `every`, by one replica (lease `schedule:<name>`)."""
    scheduler.add_job(
        once_across_replicas(runtime, name, every, job),
        IntervalTrigger(seconds=every.total_seconds()),
        id=name,
        name=title,
        max_instances=1,
        coalesce=True,
    )


def build_scheduler(runtime: Runtime) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=UTC)
    now = datetime.now(UTC)

    for supplier in runtime.settings.suppliers:
        seconds = supplier.poll_interval.total_seconds()

        async def poll(name: str = supplier.name) -> None:
            log.info(describe(await runtime.poll_cycle(name)))

        scheduler.add_job(
            once_across_replicas(runtime, f"poll:{supplier.name}", supplier.poll_interval, poll),
            # A little jitter keeps many suppliers from polling in lockstep.
            IntervalTrigger(seconds=seconds, jitter=min(30, int(seconds * 0.1))),
            id=f"poll:{supplier.name}",
            name=f"poll {supplier.name}",
            max_instances=1,  # never two polls of one supplier at once
            coalesce=True,
            misfire_grace_time=int(seconds),
            next_run_time=now,
        )

    for store in runtime.settings.stores:
        seconds = store.poll_interval.total_seconds()

        async def poll_orders(name: str = store.name) -> None:
            try:
                report = await runtime.poll_store_orders(name)
            except StoreError as exc:
                log.warning("%s: reading open orders failed: %s", name, exc)
                return
            log.info(
                "%s: %d open orders listed, %d new, %d updated, %d closed",
                name,
                report.listed,
                report.created,
                report.updated,
                report.closed,
            )

        scheduler.add_job(
            once_across_replicas(
                runtime, f"store_orders:{store.name}", store.poll_interval, poll_orders
            ),
            IntervalTrigger(seconds=seconds, jitter=min(30, int(seconds * 0.1))),
            id=f"store_orders:{store.name}",
            name=f"orders of {store.name}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=int(seconds),
            next_run_time=now,
        )

    if runtime.stores:

        async def push_inventory() -> None:
            for report in await runtime.push_store_inventory():
                if report.pushed or report.failed:
                    log.info(
                        "%s: %d stock update(s) sent, %d failed",
                        report.store,
                        report.pushed,
                        report.failed,
                    )

        scheduler.add_job(
            once_across_replicas(runtime, "store_push", STORE_PUSH_EVERY, push_inventory),
            IntervalTrigger(seconds=STORE_PUSH_EVERY.total_seconds()),
            id="store_push",
            name="push stock to stores",
            max_instances=1,
            coalesce=True,
            next_run_time=now,
        )
        every_so_often(
            scheduler,
            runtime,
            "interrupted_cancels",
            CANCEL_CHECK,
            runtime.choices.release_interrupted_cancels,
            "offer again the store cancels a stopped process left unfinished",
        )

    if any(store.write_order_notes for store in runtime.settings.stores):
        every_so_often(
            scheduler,
            runtime,
            "store_notes",
            STORE_NOTES_EVERY,
            runtime.write_store_notes,
            "write notes on store orders",
        )

    every = runtime.settings.forecast.recompute_every
    scheduler.add_job(
        # Lease "schedule:forecast", as the recompute after a poll: one at a time, anywhere.
        once_across_replicas(runtime, "forecast", every, runtime.watch_forecasts),
        IntervalTrigger(seconds=every.total_seconds()),
        id="forecasts",
        name="recompute forecasts",
        max_instances=1,
        coalesce=True,
        next_run_time=now + timedelta(minutes=1),
    )
    if runtime.settings.notify.auto_back_in_stock:
        every_so_often(
            scheduler,
            runtime,
            "back_in_stock",
            BACK_IN_STOCK_CHECK,
            runtime.notifier.send_due_back_in_stock,
            "tell customers their order is on its way",
        )

    every_so_often(
        scheduler,
        runtime,
        "wake_snoozed",
        SNOOZE_CHECK,
        runtime.staff.wake_snoozed,
        "wake snoozed alerts",
    )
    if runtime.settings.review.enabled:
        scheduler.add_job(
            runtime.reviews.tick,
            IntervalTrigger(seconds=REVIEW_CHECK.total_seconds()),
            id="daily_review",
            name="daily review",
            max_instances=1,
            coalesce=True,
            next_run_time=now,
        )
    return scheduler
