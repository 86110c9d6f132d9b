"""Check Slack's requests before Bolt parses them: signature first, then shape.

Bolt parses a body before it checks the signature, and a malformed body raises deep
inside it: anyone could fill the log with tracebacks. Here an unsigned request gets
401 and a signed but malformed one 400, both with one log line and no traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from slack_sdk.signature import SignatureVerifier

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Loose(BaseModel):
    # Slack adds fields over time: check only what Bolt and our listeners read.
    model_config = ConfigDict(extra="allow")


class _User(_Loose):
    id: str


class _Action(_Loose):
    action_id: str


class _BlockActions(_Loose):
    type: Literal["block_actions"]
    user: _User
    actions: Annotated[list[_Action], Field(min_length=1)]


class _BlockSuggestion(_Loose):
    type: Literal["block_suggestion"]
    user: _User
    action_id: str
    value: str


class _View(_Loose):
    id: str
    callback_id: str


class _ViewPayload(_Loose):
    type: Literal["view_submission", "view_closed"]
    user: _User
    view: _View


class _OtherPayload(_Loose):
    # Shortcuts and the like: no listener of ours reads them, Bolt only needs a dict.
    type: str


_PAYLOAD: TypeAdapter[Any] = TypeAdapter(
    Annotated[
        _BlockActions | _BlockSuggestion | _ViewPayload,
        Field(discriminator="type"),
    ]
)
_KNOWN_TYPES = {"block_actions", "block_suggestion", "view_submission", "view_closed"}


class _SlashCommand(_Loose):
    command: str
    user_id: str
    team_id: str


class _Event(_Loose):
    type: str


def malformation(body: str, content_type: str) -> str | None:
    """Why a (signed) Slack request body cannot be handled, or None when it can."""
    try:
        if content_type == "application/json":
            _Event.model_validate(json.loads(body))
            return None
        fields = parse_qs(body, keep_blank_values=True)
        if "ssl_check" in fields:
            return None
        if "payload" not in fields:
            _SlashCommand.model_validate({key: values[-1] for key, values in fields.items()})
            return None
        payload = json.loads(fields["payload"][-1])
        if not isinstance(payload, dict):
            return "the payload is not an object"
        if payload.get("type") in _KNOWN_TYPES:
            _PAYLOAD.validate_python(payload)
        else:
            _OtherPayload.model_validate(payload)
        return None
    except json.JSONDecodeError:
        return "the body is not valid JSON"
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        return f"{where}: {first['msg']}"


def slack_request_guard(signing_secret: str | None, path: str) -> Callable[..., Awaitable[Any]]:
    """An aiohttp middleware for Slack's request path (other paths pass untouched)."""
    verifier = SignatureVerifier(signing_secret) if signing_secret else None

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != path or request.method != "POST":
            return await handler(request)
        raw = await request.read()
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            # Slack only sends UTF-8: whatever this is, it is not a Slack request.
            log.warning("Refused a Slack request whose body is not UTF-8")
            return web.json_response({"error": "malformed request"}, status=400)
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if (
            verifier is None
            or not timestamp.isdigit()
            or not verifier.is_valid(body, timestamp, signature)
        ):
            log.warning("Refused a Slack request with a missing, stale or wrong signature")
            return web.json_response({"error": "invalid signature"}, status=401)
        problem = malformation(body, request.content_type)
        if problem is not None:
            log.warning("Refused a malformed Slack request: %s", problem)
            return web.json_response({"error": "malformed request"}, status=400)
        return await handler(request)

    return guard
