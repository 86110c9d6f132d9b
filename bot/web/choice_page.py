"""The customer's choice page: `GET /choice/<token>` shows it, `POST` records a choice.

Safe by design: the signed token in the URL is the only credential (a forged form
cannot name an order without it), answers are never cached, framed or sent on as a
Referer, everything outside is HTML-escaped (Jinja2 autoescape), and a body over
`MAX_BODY` bytes is refused unread. A tampered, foreign or dead link gets one plain
404 page and changes nothing.

Rate limit: each link may be opened or submitted `LINK_RATE` times (a moving window,
the `limits` library, kept in this process's memory: a restart or a second replica
gives a link a fresh allowance, which only bounds abuse and never decides anything
that must happen once; the database does that).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.core.fixes.choice_links import CHOICE_PATH
from bot.core.fixes.choices import ChoicePage, CustomerChoices
from bot.core.fixes.customer_notices import long_date
from bot.db.models import CustomerChoice

log = logging.getLogger(__name__)

LINK_RATE = "20/10 minutes"
MAX_BODY = 1024
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}
NOT_FOUND = "This link is not valid any more. If you have a question about your order, "
NOT_FOUND += "just reply to our email."
TOO_MANY = "Too many tries with this link. Please wait a few minutes and try again."
PICK_ONE = "Please pick one of the choices below."

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _labels(page: ChoicePage) -> list[tuple[str, str]]:
    choices = [(CustomerChoice.WAIT.value, "I will wait for it")]
    if page.substitute_title:
        choices.append(
            (CustomerChoice.SUBSTITUTE.value, f"Send me {page.substitute_title} instead")
        )
    choices.append((CustomerChoice.CANCEL.value, "Cancel my order"))
    return choices


def answer_sentence(page: ChoicePage) -> str:
    """The one sentence that confirms the customer's choice."""
    thanks = f"Thank you{', ' + page.first_name if page.first_name else ''}: "
    if page.choice == CustomerChoice.SUBSTITUTE:
        return thanks + f"we will send you {page.substitute_title} for order {page.order_number}."
    if page.choice == CustomerChoice.CANCEL:
        return thanks + f"we will cancel order {page.order_number} and confirm it by email."
    return thanks + f"we will ship order {page.order_number} as soon as it is back in stock."


def _html(status: int, **context: Any) -> web.Response:
    body = _templates.get_template("choice_page.html.j2").render(**context)
    return web.Response(
        status=status, text=body, content_type="text/html", charset="utf-8", headers=HEADERS
    )


def _message(choices: CustomerChoices, status: int, message: str) -> web.Response:
    return _html(status, title=message, shop_name=choices.shop_name, page=None, message=message)


def _page(page: ChoicePage, *, answer: str = "", note: str = "") -> web.Response:
    return _html(
        200,
        title=f"Order {page.order_number}",
        shop_name=page.shop_name,
        page=page,
        answer=answer,
        note=note,
        choices=_labels(page),
        restock_text=long_date(page.restock_date) if page.restock_date else "",
    )


def choice_routes(web_app: web.Application, choices: CustomerChoices) -> None:
    """Add the choice page's routes (nothing without `[web] public_url`)."""
    if not choices.links.enabled:
        return
    # Loaded only when links are on: a bot without them starts as before.
    from limits import parse
    from limits.storage import MemoryStorage
    from limits.strategies import MovingWindowRateLimiter

    limiter = MovingWindowRateLimiter(MemoryStorage())
    rate = parse(LINK_RATE)

    def allowed(token: str) -> bool:
        ids = choices.links.read(token)
        # A token that is not ours costs nothing to refuse: only real links are counted.
        return ids is None or limiter.hit(rate, "choice", *map(str, ids))

    async def show(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if not allowed(token):
            return _message(choices, 429, TOO_MANY)
        page = await choices.page(token)
        if page is None:
            return _message(choices, 404, NOT_FOUND)
        return _page(page)

    async def submit(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if not allowed(token):
            return _message(choices, 429, TOO_MANY)
        if (request.content_length or 0) > MAX_BODY:
            return _message(choices, 413, PICK_ONE)
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return _message(choices, 413, PICK_ONE)
        try:
            form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=5)
            picked = form.get("choice", [""])[0]
            page = await choices.choose(token, picked)
        except ValueError:
            page = await choices.page(token)
            if page is None:
                return _message(choices, 404, NOT_FOUND)
            return _page(page, note=PICK_ONE)
        if page is None:
            return _message(choices, 404, NOT_FOUND)
        return _page(page, answer=answer_sentence(page))

    path = CHOICE_PATH + "{token}"
    web_app.router.add_get(path, show)
    web_app.router.add_post(path, submit)
