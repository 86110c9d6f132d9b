"""Stockbot's own HTTP routes: health, readiness, metrics and the store order webhooks."""

from __future__ import annotations

import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bot.db.types import utcnow
from bot.runtime import Runtime
from bot.telemetry import metrics
from bot.views.health import Health, health, poll_leases_held
from bot.web.choice_page import choice_routes
from bot.web.webhooks import WEBHOOKS, webhook_handler

log = logging.getLogger(__name__)


def add_routes(web_app: web.Application, runtime: Runtime) -> web.Application:
    """Add `/healthz`, `/readyz`, `/metrics`, the store order webhooks and the
    customers' choice page."""

    async def snapshot() -> Health:
        async with runtime.sessions() as session:
            return await health(
                session,
                now=utcnow(),
                supplier_down_after=runtime.settings.rules.supplier_down_after,
            )

    async def healthz(_request: web.Request) -> web.Response:
        # Alive whatever else is wrong (a load balancer must not restart us for a
        # supplier's outage); "degraded" says what needs a person.
        try:
            state = await snapshot()
        except (OSError, DBAPIError):
            return web.json_response(
                {"ok": True, "status": "degraded", "reasons": ["the database cannot be reached"]}
            )
        status = "degraded" if state.degraded else "ok"
        return web.json_response({"ok": True, "status": status, "reasons": state.reasons})

    async def readyz(_request: web.Request) -> web.Response:
        # Ready means able to serve: the database answers.
        try:
            async with runtime.sessions() as session:
                await session.execute(text("SELECT 1"))
        except (OSError, DBAPIError) as exc:
            log.warning("not ready: the database cannot be reached (%s)", type(exc).__name__)
            return web.json_response(
                {"ok": False, "error": "the database cannot be reached"}, status=503
            )
        return web.json_response({"ok": True})

    async def prometheus(_request: web.Request) -> web.Response:
        state = await snapshot()
        metrics.ALERTS_OPEN.clear()
        for kind, count in state.alerts_open.items():
            metrics.ALERTS_OPEN.labels(kind=kind).set(count)
        metrics.OUTBOX_DEPTH.set(state.outbox_depth)
        oldest = state.outbox_oldest.total_seconds() if state.outbox_oldest else 0.0
        metrics.OUTBOX_OLDEST_SECONDS.set(oldest)
        metrics.SUPPLIER_FAILURES.clear()
        for supplier, failures in state.supplier_failures.items():
            metrics.SUPPLIER_FAILURES.labels(supplier=supplier).set(failures)
        async with runtime.sessions() as session:
            held = await poll_leases_held(
                session,
                runtime.leases.membership.id,
                [supplier.name for supplier in runtime.settings.suppliers],
            )
        metrics.SUPPLIER_LEASE_HELD.clear()
        for supplier, holds in held.items():
            metrics.SUPPLIER_LEASE_HELD.labels(supplier=supplier).set(int(holds))
        body = generate_latest(metrics.REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/readyz", readyz)
    web_app.router.add_get("/metrics", prometheus)
    for hook in WEBHOOKS:
        web_app.router.add_post(hook.path, webhook_handler(runtime, hook))
    choice_routes(web_app, runtime.choices)
    return web_app
