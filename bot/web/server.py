"""Stockbot's own HTTP routes: health and the store order webhooks."""

from __future__ import annotations

from aiohttp import web

from bot.runtime import Runtime
from bot.web.webhooks import WEBHOOKS, webhook_handler


def add_routes(web_app: web.Application, runtime: Runtime) -> web.Application:
    """Add `GET /healthz` and the store order webhooks (Shopify, WooCommerce)."""

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    web_app.router.add_get("/healthz", healthz)
    for hook in WEBHOOKS:
        web_app.router.add_post(hook.path, webhook_handler(runtime, hook))
    return web_app
