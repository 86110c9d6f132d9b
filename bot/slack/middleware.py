"""Bolt middleware: what every listener finds in its context, and the checks that run
before a listener, so that listeners only ack, call a service and render.

- `ProvideServices` (global): `services` in every request's context, and
  an ack that stays given (`KeptAck`).
- `clicked(Model)`: the clicked button's (or chosen option's) value, parsed, as `clicked`.
- `form(Model)`: a modal's private_metadata, parsed, as `form`; its channel as
  `reply_channel`, where answers to a submission go.
- `allowed_only`: refuses whoever the access policy (bot/slack/access.py) does not list.

A refusal is raised as a `UserError`; Bolt hands it to the one error path
(bot/slack/answers.py), which answers after the ack.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.slack.access import NotAllowed
from bot.slack.services import Services
from bot.slack.texts import NOT_ALLOWED
from bot.slack.values import ButtonValue, Form, clicked_value

Next = Callable[[], Awaitable[None]]
ListenerMiddleware = Callable[..., Awaitable[None]]


class KeptAck(AsyncAck):
    """An ack that, once given, stays given.

    When a listener raises after acking, Bolt (1.30) may set `ack.response` back to
    None before it has answered Slack's request, and then answers 404 three seconds
    later. The error path tells the person what went wrong; Slack must still get the
    ack the listener gave.
    """

    def __init__(self) -> None:
        self._given: BoltResponse | None = None
        super().__init__()

    @property
    def response(self) -> BoltResponse | None:
        return self._given

    @response.setter
    def response(self, value: BoltResponse | None) -> None:
        if value is not None:
            self._given = value


class ProvideServices(AsyncMiddleware):
    """Puts the services and a `KeptAck` into every request's context."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],  # Bolt's name for it
    ) -> BoltResponse | None:
        req.context["ack"] = KeptAck()
        req.context["services"] = self.services
        return await next()


def clicked(model: type[ButtonValue]) -> ListenerMiddleware:
    """Parses the clicked value into `model`; `OutOfDate` when it is not one."""

    async def parse_clicked(action: dict[str, Any], context: AsyncBoltContext, next_: Next) -> None:
        context["clicked"] = model.parse(clicked_value(action))
        await next_()

    return parse_clicked


def form(model: type[Form]) -> ListenerMiddleware:
    """Parses a modal's metadata into `model` (submissions and menu option requests)."""

    async def parse_form(body: dict[str, Any], context: AsyncBoltContext, next_: Next) -> None:
        parsed = model.parse(str((body.get("view") or {}).get("private_metadata") or ""))
        context["form"] = parsed
        if parsed.channel_id:
            context["reply_channel"] = parsed.channel_id
        await next_()

    return parse_form


async def allowed_only(user_id: str | None, services: Services, next_: Next) -> None:
    """Only people the access policy lists may change anything; looking is open to all."""
    if user_id is None or not await services.access.may_act(user_id):
        raise NotAllowed(NOT_ALLOWED)
    await next_()
