"""Send requests to a running Bolt app exactly as Slack does, signed with a signing secret.

Three classes share one set of typed methods (slash_command, block_action, view_submission,
event, url_verification, interactive) and differ only in what those return:

* `SlackRequestSender`: sends synchronously, returns ``httpx.Response``.
* `AsyncSlackRequestSender`: returns an awaitable ``httpx.Response``; use it in async tests so
  an app running on the test's event loop keeps running while the request is in flight.
* `SlackRequestBuilder`: sends nothing, returns the `SignedRequest` (body + headers), e.g. to
  tweak it and pass it to ``sender.send(req)``, or to feed Bolt's
  ``AsyncBoltRequest(body=req.text, headers=req.headers)`` without HTTP.

Every method also takes ``retry_num``/``retry_reason`` (X-Slack-Retry-* headers),
``timestamp_offset`` (seconds; -600 makes a stale request) and ``bad_signature``.
Each request uses a short-lived httpx client, so senders hold no connections and need no
closing.

Example::

    sender = AsyncSlackRequestSender(bolt_url, signing_secret="s3cret", slack_api=slack_api)
    resp = await sender.slash_command("/stock", "check SKU-1")
    assert resp.status_code == 200  # acked
    await slack_api.wait_for_async(lambda c: c.method.startswith("response_url/"))
    assert slack_api.responses()[0]["text"] == "Checking SKU-1…"
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypedDict, TypeVar, Unpack
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from tests.loopback import TLS

if TYPE_CHECKING:
    from tests.fakes.slack_api import FakeSlackAPI

__all__ = [
    "AsyncSlackRequestSender",
    "SignedRequest",
    "Signing",
    "SlackRequestBuilder",
    "SlackRequestSender",
    "input_values",
]

DEFAULT_TEAM_ID = "T0TEST"
DEFAULT_TEAM_DOMAIN = "stockbot-test"
DEFAULT_APP_ID = "A0STOCKBOT"
DEFAULT_BOT_USER_ID = "U0BOT"
DEFAULT_RESPONSE_URL = "https://hooks.slack.com/commands/T0TEST/1/fake"
DEFAULT_MESSAGE_TS = "1700000000.000100"
# Deprecated verification token; Slack still sends it and Bolt ignores it.
VERIFICATION_TOKEN = "verification-token"

_R = TypeVar("_R")
_counter = itertools.count(1)


@dataclass(frozen=True)
class SignedRequest:
    """A request body plus the headers Slack would send with it."""

    path: str
    body: bytes
    headers: dict[str, str]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


class Signing(TypedDict, total=False):
    """How a request is signed and retried; every request method takes these."""

    retry_num: int | None
    retry_reason: str
    timestamp_offset: int
    bad_signature: bool


def _unique(prefix: str) -> str:
    # trigger_ids are single-use on Slack (and in FakeSlackAPI), so each request gets its own.
    return f"{prefix}{int(time.time())}.{next(_counter)}"


def input_values(values: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Expand ``{block_id: {action_id: "text"}}`` shorthands into Slack's view state format.

    A leaf that is already a dict (``{"type": "static_select", "selected_option": {...}}``)
    is kept as-is; a string becomes ``{"type": "plain_text_input", "value": s}``.
    """
    return {
        block_id: {
            action_id: (
                dict(v) if isinstance(v, Mapping) else {"type": "plain_text_input", "value": v}
            )
            for action_id, v in actions.items()
        }
        for block_id, actions in values.items()
    }


class _SenderBase(Generic[_R]):
    """Builds Slack-shaped payloads; subclasses decide how `_send` delivers them."""

    def __init__(
        self,
        base_url: str,
        signing_secret: str,
        *,
        path: str = "/slack/events",
        team_id: str = DEFAULT_TEAM_ID,
        team_domain: str = DEFAULT_TEAM_DOMAIN,
        api_app_id: str = DEFAULT_APP_ID,
        timeout: float = 10.0,
        slack_api: FakeSlackAPI | None = None,
    ) -> None:
        """``base_url`` is the app's root (``http://127.0.0.1:PORT``); requests go to
        ``base_url + path`` (Bolt's default request path is ``/slack/events``).

        With ``slack_api``, requests that don't name a ``response_url`` get a fresh one on
        that fake, bound to the request's channel/message/user, so Bolt's ``respond()`` works
        (``replace_original`` edits the stored message); read them with
        ``slack_api.responses()``.  Without it the default points at an unreachable
        hooks.slack.com placeholder.
        """
        self.base_url = base_url.rstrip("/")
        self.signing_secret = signing_secret
        self.path = path
        self.team_id = team_id
        self.team_domain = team_domain
        self.api_app_id = api_app_id
        self.timeout = timeout
        self.slack_api = slack_api

    # -- signing ----------------------------------------------------------------------------

    def sign(
        self,
        body: bytes,
        content_type: str,
        *,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        timestamp_offset: int = 0,
        bad_signature: bool = False,
        path: str | None = None,
    ) -> SignedRequest:
        """Sign ``body`` like Slack: ``v0=HMAC-SHA256(secret, "v0:{ts}:{body}")``.

        ``timestamp_offset`` shifts the timestamp (e.g. -600 for a stale, replayed request);
        ``bad_signature`` signs with the wrong secret.
        """
        timestamp = str(int(time.time()) + timestamp_offset)
        if bad_signature:
            digest = hmac.new(b"not-the-secret", f"v0:{timestamp}:".encode() + body, hashlib.sha256)
            signature = f"v0={digest.hexdigest()}"
        else:
            verifier = SignatureVerifier(self.signing_secret)
            signature = verifier.generate_signature(timestamp=timestamp, body=body) or ""
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason
        return SignedRequest(path or self.path, body, headers)

    def _form(self, fields: Mapping[str, Any], signing: Signing) -> SignedRequest:
        body = urlencode({k: v for k, v in fields.items() if v is not None}).encode()
        return self.sign(body, "application/x-www-form-urlencoded", **signing)

    def _payload(self, payload: Mapping[str, Any], signing: Signing) -> SignedRequest:
        # Interactivity requests are a form with one field holding the JSON payload.
        return self._form({"payload": json.dumps(payload, separators=(",", ":"))}, signing)

    def _json(self, data: Mapping[str, Any], signing: Signing) -> SignedRequest:
        body = json.dumps(data, separators=(",", ":")).encode()
        return self.sign(body, "application/json", **signing)

    def _user(self, user_id: str, user_name: str | None) -> dict[str, Any]:
        name = user_name or user_id.lower()
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}

    def _response_url(self, channel_id: str, message_ts: str | None, user_id: str) -> str:
        if self.slack_api is None:
            return DEFAULT_RESPONSE_URL
        return self.slack_api.response_url(channel=channel_id, message_ts=message_ts, user=user_id)

    def _team(self) -> dict[str, Any]:
        return {"id": self.team_id, "domain": self.team_domain}

    # -- requests -----------------------------------------------------------------------------

    def slash_command(
        self,
        command: str,
        text: str = "",
        *,
        user_id: str = "U123",
        channel_id: str = "C123",
        user_name: str | None = None,
        channel_name: str = "general",
        team_id: str | None = None,
        response_url: str | None = None,
        trigger_id: str | None = None,
        **signing: Unpack[Signing],
    ) -> _R:
        fields = {
            "token": VERIFICATION_TOKEN,
            "team_id": team_id or self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_name or user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url or self._response_url(channel_id, None, user_id),
            "trigger_id": trigger_id or _unique("trig"),
        }
        return self._send(self._form(fields, signing))

    def block_action(
        self,
        action_id: str,
        value: str | None = None,
        *,
        user_id: str = "U123",
        user_name: str | None = None,
        channel_id: str = "C123",
        message_ts: str | None = None,
        message: Mapping[str, Any] | None = None,
        block_id: str | None = None,
        selected_option_value: str | None = None,
        response_url: str | None = None,
        trigger_id: str | None = None,
        **signing: Unpack[Signing],
    ) -> _R:
        """A ``block_actions`` payload for a click on ``action_id`` in ``message``.

        If ``message`` (e.g. ``slack_api.message(channel, ts)``) contains the element, its
        ``block_id``, ``type``, ``text``, ``value`` and option texts are taken from it, so
        a test only has to name the action.  ``selected_option_value`` makes it a
        select/overflow choice (``static_select`` unless the message says otherwise).
        """
        msg = dict(message) if message is not None else None
        ts = message_ts or (msg or {}).get("ts") or DEFAULT_MESSAGE_TS
        if msg is None:
            msg = {"type": "message", "ts": ts, "text": "", "user": DEFAULT_BOT_USER_ID}
        found_block_id, element = _find_element(msg.get("blocks") or [], action_id)
        default_type = "button" if selected_option_value is None else "static_select"
        action: dict[str, Any] = {
            "action_id": action_id,
            "block_id": block_id or found_block_id or "block",
            "type": (element or {}).get("type", default_type),
            "action_ts": f"{time.time():.6f}",
        }
        if selected_option_value is not None:
            option = _find_option(element or {}, selected_option_value) or {
                "text": {"type": "plain_text", "text": selected_option_value},
                "value": selected_option_value,
            }
            action["selected_option"] = option
        else:
            action["text"] = (element or {}).get("text", {"type": "plain_text", "text": action_id})
            resolved = value if value is not None else (element or {}).get("value")
            if resolved is not None:
                action["value"] = resolved
        payload = {
            "type": "block_actions",
            "user": self._user(user_id, user_name),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "container": {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel_id,
                "is_ephemeral": False,
            },
            "trigger_id": trigger_id or _unique("trig"),
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel_id, "name": "general"},
            "message": msg,
            "state": {"values": {}},
            "response_url": response_url or self._response_url(channel_id, ts, user_id),
            "actions": [action],
        }
        return self._send(self._payload(payload, signing))

    def view_submission(
        self,
        callback_id: str,
        values: Mapping[str, Mapping[str, Any]] | None = None,
        private_metadata: str = "",
        user_id: str = "U123",
        *,
        view: Mapping[str, Any] | None = None,
        user_name: str | None = None,
        trigger_id: str | None = None,
        response_urls: list[dict[str, Any]] | None = None,
        **signing: Unpack[Signing],
    ) -> _R:
        """A ``view_submission`` payload.

        ``values`` is ``{block_id: {action_id: state}}`` where a state may be a plain string
        (see `input_values`).  ``view`` (e.g. ``slack_api.view(view_id)``) supplies id,
        blocks, title and hash of the modal being submitted.
        """
        base = dict(view) if view is not None else {}
        view_id = base.get("id") or _unique("V")
        submitted = {
            "id": view_id,
            "team_id": self.team_id,
            "type": "modal",
            "blocks": [],
            "title": {"type": "plain_text", "text": "Stockbot"},
            "close": None,
            "submit": {"type": "plain_text", "text": "Submit"},
            "clear_on_close": False,
            "notify_on_close": False,
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": self.api_app_id,
            "external_id": "",
            "app_installed_team_id": self.team_id,
            "bot_id": "B0BOT",
            "hash": _unique("h"),
            **base,
            "callback_id": callback_id,
            "private_metadata": private_metadata or base.get("private_metadata", ""),
            "state": {"values": input_values(values or {})},
        }
        payload = {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user(user_id, user_name),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "trigger_id": trigger_id or _unique("trig"),
            "view": submitted,
            "response_urls": response_urls or [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self._send(self._payload(payload, signing))

    def event(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        event_time: int | None = None,
        **signing: Unpack[Signing],
    ) -> _R:
        """An Events API ``event_callback`` envelope around ``event`` (sent as JSON)."""
        now = int(time.time())
        envelope = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "api_app_id": self.api_app_id,
            "event": {"event_ts": f"{now}.000100", **event},
            "type": "event_callback",
            "event_id": event_id or _unique("Ev"),
            "event_time": event_time or now,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": DEFAULT_BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": _unique("ctx"),
        }
        return self._send(self._json(envelope, signing))

    def url_verification(
        self,
        challenge: str = "challenge",
        **signing: Unpack[Signing],
    ) -> _R:
        body = {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
        return self._send(self._json(body, signing))

    def interactive(
        self,
        payload: Mapping[str, Any],
        **signing: Unpack[Signing],
    ) -> _R:
        """Any other interactivity payload (shortcut, block_suggestion, view_closed ...)."""
        return self._send(self._payload(payload, signing))

    def send(self, request: SignedRequest) -> _R:
        """Deliver a request built by `SlackRequestBuilder` (or tweaked by hand)."""
        return self._send(request)

    def _send(self, request: SignedRequest) -> _R:
        raise NotImplementedError


class SlackRequestBuilder(_SenderBase[SignedRequest]):
    """Same methods, but they return the `SignedRequest` instead of sending it."""

    def _send(self, request: SignedRequest) -> SignedRequest:
        return request


class SlackRequestSender(_SenderBase[httpx.Response]):
    """Sync sender: every method returns an ``httpx.Response``.

    Don't use it from an async test whose event loop also runs the app: the blocking call
    would starve the app.  Use `AsyncSlackRequestSender` there.
    """

    def _send(self, request: SignedRequest) -> httpx.Response:
        with httpx.Client(timeout=self.timeout, verify=TLS) as client:
            return client.post(
                self.base_url + request.path, content=request.body, headers=request.headers
            )


class AsyncSlackRequestSender(_SenderBase[Awaitable[httpx.Response]]):
    """Async sender: every method returns an awaitable ``httpx.Response``."""

    async def _post(self, request: SignedRequest) -> httpx.Response:
        async with httpx.AsyncClient(timeout=self.timeout, verify=TLS) as client:
            return await client.post(
                self.base_url + request.path, content=request.body, headers=request.headers
            )

    def _send(self, request: SignedRequest) -> Awaitable[httpx.Response]:
        return self._post(request)


def _find_element(blocks: list[Any], action_id: str) -> tuple[str | None, dict[str, Any] | None]:
    for block in blocks:
        if not isinstance(block, dict):
            continue
        candidates = list(block.get("elements") or [])
        if isinstance(block.get("accessory"), dict):
            candidates.append(block["accessory"])
        for el in candidates:
            if isinstance(el, dict) and el.get("action_id") == action_id:
                return block.get("block_id"), el
    return None, None


def _find_option(element: Mapping[str, Any], value: str) -> dict[str, Any] | None:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += group.get("options") or []
    return next((dict(o) for o in options if o.get("value") == value), None)
