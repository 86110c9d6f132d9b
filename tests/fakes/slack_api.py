"""A local fake of the Slack Web API for tests.

`FakeSlackAPI` runs an aiohttp server on 127.0.0.1 (random free port) in a background thread
with its own event loop, so the same instance serves sync tests, async tests and the bot's own
event loop without sharing a loop with any of them.  Point slack-sdk at it with
``AsyncWebClient(token=..., base_url=api.url)``.

It answers like Slack does: HTTP 200 with ``{"ok": false, "error": ...}`` for API errors,
HTTP 429 + ``Retry-After`` for rate limits, and ``invalid_blocks`` for Block Kit that Slack would
refuse.  Everything it receives is recorded for assertions.

Example::

    @pytest.fixture
    def slack_api() -> Iterator[FakeSlackAPI]:
        with FakeSlackAPI(token="xoxb-test", channels={"alerts": "C0ALERTS"}) as api:
            yield api


    async def test_alert(slack_api: FakeSlackAPI) -> None:
        client = AsyncWebClient(token="xoxb-test", base_url=slack_api.url)
        await client.chat_postMessage(channel="#alerts", text="low stock", blocks=[...])
        call = await slack_api.wait_for_async("chat.postMessage")
        assert slack_api.warnings == []
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import itertools
import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

from aiohttp import web
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

from tests.fakes.threaded_app import ThreadedApp

__all__ = [
    "BOT_ID",
    "BOT_USER_ID",
    "TEAM_ID",
    "BlockKitValidator",
    "FakeSlackAPI",
    "RecordedCall",
    "SlackWarning",
]

TEAM_ID = "T0TEST"
TEAM_NAME = "Stockbot Test"
TEAM_DOMAIN = "stockbot-test"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
APP_ID = "A0STOCKBOT"

# Slack's documented limits (see /work/shared/reference/slack.md).
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 40_000
RESPONSE_URL_MAX_USES = 5

_FIRST_TS_MICROS = 1_700_000_000_000_100
_TS_STEP_MICROS = 100
_CHANNEL_ID_RE = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_USER_ID_RE = re.compile(r"^[UW][A-Z0-9]{2,}$")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Form/JSON fields that slack-sdk sends as JSON-encoded strings in form bodies.
_JSON_FIELDS = ("blocks", "attachments", "view", "metadata")

Match = str | Callable[["RecordedCall"], bool]


@dataclass(frozen=True)
class RecordedCall:
    """One request the fake received.

    ``method`` is the Web API method ("chat.postMessage") or ``"response_url/<id>"``.
    ``params`` merges query, form and JSON body, with ``blocks``/``attachments``/``view``/
    ``metadata`` already JSON-decoded.  ``headers`` keys are lower-cased.  ``status`` is the HTTP
    status answered (0 when the connection was dropped) and ``response`` the JSON body sent.
    """

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response.get("ok"))


@dataclass(frozen=True)
class SlackWarning:
    """Something Slack accepts but a well-behaved bot should not do (e.g. no text fallback)."""

    code: str
    method: str
    detail: str = ""


@dataclass
class _Fault:
    method: str
    status: int
    retry_after: int | None
    remaining: int
    error: str


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class _ResponseUrl:
    channel: str | None
    message_ts: str | None
    user: str | None
    uses: int = 0
    payloads: list[dict[str, Any]] = field(default_factory=list)


class _ApiError(Exception):
    """Raised by method handlers; becomes ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, status: int = 200, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.extra = extra


# --------------------------------------------------------------------------------------------
# Block Kit validation
# --------------------------------------------------------------------------------------------

_INTERACTIVE_ELEMENTS = frozenset(
    {
        "button",
        "checkboxes",
        "datepicker",
        "datetimepicker",
        "timepicker",
        "email_text_input",
        "url_text_input",
        "number_input",
        "plain_text_input",
        "rich_text_input",
        "file_input",
        "overflow",
        "radio_buttons",
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_external_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
        "workflow_button",
    }
)
_OPTION_ELEMENTS = frozenset(
    {"static_select", "multi_static_select", "overflow", "radio_buttons", "checkboxes"}
)
_MAX_OPTIONS = {"overflow": 5, "radio_buttons": 10, "checkboxes": 10}
_TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})


class BlockKitValidator:
    """Checks raw Block Kit dicts the way Slack's server does, as far as we know it.

    slack-sdk's ``Block.parse(...).validate_json()`` catches some limits; this adds what it
    misses (block counts, button/option text, id lengths and uniqueness, nested elements,
    text-object shapes).  Errors mimic Slack: ``"<reason> [json-pointer:/blocks/0/text/text]"``.

    ``action_id_scope``: Slack documents action_ids as unique per block, and bolt-python's
    maintainers ask for unique ids per message since listeners match on action_id alone.  The
    default ("message") enforces the stricter rule; pass "block" for Slack's documented one.
    """

    def __init__(self, action_id_scope: Literal["message", "block"] = "message") -> None:
        self.action_id_scope = action_id_scope

    # -- public entry points --------------------------------------------------------------

    def validate_blocks(
        self, blocks: Any, *, max_blocks: int = MAX_MESSAGE_BLOCKS, pointer: str = "/blocks"
    ) -> list[str]:
        errors: list[str] = []
        if not isinstance(blocks, list):
            return [f"must be an array [json-pointer:{pointer}]"]
        if len(blocks) > max_blocks:
            errors.append(f"no more than {max_blocks} items allowed [json-pointer:{pointer}]")
        block_ids: set[str] = set()
        message_action_ids: set[str] = set()
        for i, block in enumerate(blocks):
            ptr = f"{pointer}/{i}"
            action_ids = message_action_ids if self.action_id_scope == "message" else set()
            errors += self._block(block, ptr, block_ids, action_ids)
        return errors

    def validate_view(self, view: Any) -> list[str]:
        if not isinstance(view, dict):
            return ["must be an object [json-pointer:/view]"]
        errors: list[str] = []
        vtype = view.get("type")
        if vtype not in ("modal", "home"):
            errors.append("must be one of modal, home [json-pointer:/view/type]")
        if vtype == "modal":
            if "title" not in view:
                errors.append("missing required field: title [json-pointer:/view]")
            else:
                errors += self._text(view["title"], "/view/title", 24, plain_only=True)
        for key in ("submit", "close"):
            if key in view:
                errors += self._text(view[key], f"/view/{key}", 24, plain_only=True)
        for key, limit in (("private_metadata", 3000), ("callback_id", 255), ("external_id", 255)):
            errors += self._str(view.get(key), f"/view/{key}", limit)
        blocks = view.get("blocks")
        if blocks is None:
            errors.append("missing required field: blocks [json-pointer:/view]")
        else:
            errors += self.validate_blocks(
                blocks, max_blocks=MAX_VIEW_BLOCKS, pointer="/view/blocks"
            )
            has_input = isinstance(blocks, list) and any(
                isinstance(b, dict) and b.get("type") == "input" for b in blocks
            )
            if vtype == "modal" and has_input and "submit" not in view:
                errors.append(
                    "submit is required when input blocks are present [json-pointer:/view]"
                )
        return errors

    # -- blocks ---------------------------------------------------------------------------

    def _block(self, block: Any, ptr: str, block_ids: set[str], action_ids: set[str]) -> list[str]:
        if not isinstance(block, dict):
            return [f"must be an object [json-pointer:{ptr}]"]
        btype = block.get("type")
        if not isinstance(btype, str):
            return [f"missing required field: type [json-pointer:{ptr}]"]
        sdk_error: str | None = None
        try:
            parsed = Block.parse(block)
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            parsed, sdk_error = None, f"invalid {btype} block: {e}"
        if parsed is None and sdk_error is None:
            # Block.parse returns None for types it does not know; Slack refuses them.
            return [f"unsupported block type: {btype} [json-pointer:{ptr}/type]"]
        errors = self._block_fields(block, btype, ptr, block_ids, action_ids)
        if not errors and parsed is not None:
            # slack-sdk knows rules we don't re-implement (e.g. rich_text shapes); only ask it
            # when our own checks pass, so one problem is reported once, with a precise pointer.
            try:
                parsed.validate_json()
            except SlackObjectFormationError as e:
                sdk_error = str(e)
        if sdk_error is not None and not errors:
            errors.append(f"{sdk_error} [json-pointer:{ptr}]")
        return errors

    def _block_fields(
        self, block: dict[str, Any], btype: str, ptr: str, block_ids: set[str], action_ids: set[str]
    ) -> list[str]:
        errors = self._unique_id(block, "block_id", ptr, block_ids)

        if btype == "section":
            if "text" not in block and "fields" not in block:
                errors.append(f"must provide text or fields [json-pointer:{ptr}]")
            if "text" in block:
                errors += self._text(block["text"], f"{ptr}/text", 3000)
            if "fields" in block:
                fields = block["fields"]
                if not isinstance(fields, list):
                    errors.append(f"must be an array [json-pointer:{ptr}/fields]")
                else:
                    if len(fields) > 10:
                        errors.append(f"no more than 10 items allowed [json-pointer:{ptr}/fields]")
                    for j, f in enumerate(fields):
                        errors += self._text(f, f"{ptr}/fields/{j}", 2000)
            if "accessory" in block:
                errors += self._element(block["accessory"], f"{ptr}/accessory", action_ids)
        elif btype == "header":
            errors += self._text(block.get("text"), f"{ptr}/text", 150, plain_only=True)
        elif btype == "actions":
            errors += self._elements(block, ptr, 25, action_ids, self._element)
        elif btype == "context":
            errors += self._elements(block, ptr, 10, action_ids, self._context_element)
        elif btype == "input":
            errors += self._text(block.get("label"), f"{ptr}/label", 2000, plain_only=True)
            if "hint" in block:
                errors += self._text(block["hint"], f"{ptr}/hint", 2000, plain_only=True)
            errors += self._element(block.get("element"), f"{ptr}/element", action_ids)
        elif btype == "image":
            if "image_url" not in block and "slack_file" not in block:
                errors.append(f"must provide image_url or slack_file [json-pointer:{ptr}]")
            errors += self._str(block.get("image_url"), f"{ptr}/image_url", 3000)
            errors += self._str(block.get("alt_text"), f"{ptr}/alt_text", 2000, required=True)
            if "title" in block:
                errors += self._text(block["title"], f"{ptr}/title", 2000, plain_only=True)
        return errors

    def _elements(
        self,
        block: dict[str, Any],
        ptr: str,
        limit: int,
        action_ids: set[str],
        check: Callable[[Any, str, set[str]], list[str]],
    ) -> list[str]:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            return [f"must provide a non-empty array [json-pointer:{ptr}/elements]"]
        errors: list[str] = []
        if len(elements) > limit:
            errors.append(f"no more than {limit} items allowed [json-pointer:{ptr}/elements]")
        for j, el in enumerate(elements):
            errors += check(el, f"{ptr}/elements/{j}", action_ids)
        return errors

    def _unique_id(self, obj: dict[str, Any], key: str, ptr: str, seen: set[str]) -> list[str]:
        """A block_id or action_id: optional, at most 255 characters, unique in its scope."""
        value = obj.get(key)
        if value is None:
            return []
        errors = self._str(value, f"{ptr}/{key}", 255)
        if value in seen:
            errors.append(f"duplicate {key}: {value} [json-pointer:{ptr}/{key}]")
        seen.add(value)
        return errors

    def _context_element(self, el: Any, ptr: str, action_ids: set[str]) -> list[str]:
        if isinstance(el, dict) and el.get("type") == "image":
            return self._str(el.get("alt_text"), f"{ptr}/alt_text", 2000, required=True)
        return self._text(el, ptr, 3000)

    # -- elements -------------------------------------------------------------------------

    def _element(self, el: Any, ptr: str, action_ids: set[str]) -> list[str]:
        if not isinstance(el, dict):
            return [f"must be an object [json-pointer:{ptr}]"]
        etype = el.get("type")
        if etype == "image" and ptr.endswith("/accessory"):
            return self._str(el.get("alt_text"), f"{ptr}/alt_text", 2000, required=True)
        if etype not in _INTERACTIVE_ELEMENTS:
            return [f"unsupported element type: {etype} [json-pointer:{ptr}/type]"]
        errors = self._unique_id(el, "action_id", ptr, action_ids)
        if "placeholder" in el:
            errors += self._text(el["placeholder"], f"{ptr}/placeholder", 150, plain_only=True)
        if "confirm" in el:
            errors += self._confirm(el["confirm"], f"{ptr}/confirm")
        if etype in ("button", "workflow_button"):
            errors += self._text(el.get("text"), f"{ptr}/text", 75, plain_only=True)
            errors += self._str(el.get("value"), f"{ptr}/value", 2000)
            errors += self._str(el.get("url"), f"{ptr}/url", 3000)
            style = el.get("style")
            if style is not None and style not in ("primary", "danger"):
                errors.append(f"must be one of primary, danger [json-pointer:{ptr}/style]")
        if etype in _OPTION_ELEMENTS:
            errors += self._options(el, etype, ptr)
        return errors

    def _options(self, el: dict[str, Any], etype: str, ptr: str) -> list[str]:
        errors: list[str] = []
        plain_only = etype not in ("radio_buttons", "checkboxes")
        groups = el.get("option_groups")
        option_lists: list[tuple[str, Any]] = []
        if groups is not None and etype in ("static_select", "multi_static_select"):
            if not isinstance(groups, list):
                return [f"must be an array [json-pointer:{ptr}/option_groups]"]
            if len(groups) > 100:
                errors.append(f"no more than 100 items allowed [json-pointer:{ptr}/option_groups]")
            for g, group in enumerate(groups):
                gptr = f"{ptr}/option_groups/{g}"
                label = group.get("label") if isinstance(group, dict) else None
                errors += self._text(label, f"{gptr}/label", 75, plain_only=True)
                opts = group.get("options") if isinstance(group, dict) else None
                option_lists.append((f"{gptr}/options", opts))
        else:
            option_lists.append((f"{ptr}/options", el.get("options")))
        limit = _MAX_OPTIONS.get(etype, 100)
        for optr, options in option_lists:
            if not isinstance(options, list) or not options:
                errors.append(f"must provide a non-empty array [json-pointer:{optr}]")
                continue
            if len(options) > limit:
                errors.append(f"no more than {limit} items allowed [json-pointer:{optr}]")
            for k, opt in enumerate(options):
                errors += self._option(opt, f"{optr}/{k}", plain_only)
        for key in ("initial_option",):
            if key in el:
                errors += self._option(el[key], f"{ptr}/{key}", plain_only)
        return errors

    def _option(self, opt: Any, ptr: str, plain_only: bool) -> list[str]:
        if not isinstance(opt, dict):
            return [f"must be an object [json-pointer:{ptr}]"]
        errors = self._text(opt.get("text"), f"{ptr}/text", 75, plain_only=plain_only)
        errors += self._str(opt.get("value"), f"{ptr}/value", 150, required=True)
        if "description" in opt:
            errors += self._text(opt["description"], f"{ptr}/description", 75)
        errors += self._str(opt.get("url"), f"{ptr}/url", 3000)
        return errors

    def _confirm(self, confirm: Any, ptr: str) -> list[str]:
        if not isinstance(confirm, dict):
            return [f"must be an object [json-pointer:{ptr}]"]
        errors = self._text(confirm.get("title"), f"{ptr}/title", 100, plain_only=True)
        errors += self._text(confirm.get("text"), f"{ptr}/text", 300)
        errors += self._text(confirm.get("confirm"), f"{ptr}/confirm", 30, plain_only=True)
        errors += self._text(confirm.get("deny"), f"{ptr}/deny", 30, plain_only=True)
        return errors

    # -- primitives -----------------------------------------------------------------------

    @staticmethod
    def _text(obj: Any, ptr: str, limit: int, *, plain_only: bool = False) -> list[str]:
        # Slack requires composition text objects; a bare string is refused even where
        # slack-sdk's parser would coerce it.
        if not isinstance(obj, dict):
            return [f"must provide an object [json-pointer:{ptr}]"]
        allowed = {"plain_text"} if plain_only else _TEXT_TYPES
        if obj.get("type") not in allowed:
            kinds = ", ".join(sorted(allowed))
            return [f"must be one of {kinds} [json-pointer:{ptr}/type]"]
        text = obj.get("text")
        if not isinstance(text, str):
            return [f"must be a string [json-pointer:{ptr}/text]"]
        if not text:
            return [f"must be more than 0 characters [json-pointer:{ptr}/text]"]
        if len(text) > limit:
            return [f"must be less than {limit + 1} characters [json-pointer:{ptr}/text]"]
        return []

    @staticmethod
    def _str(value: Any, ptr: str, limit: int, *, required: bool = False) -> list[str]:
        if value is None:
            return [f"missing required field [json-pointer:{ptr}]"] if required else []
        if not isinstance(value, str):
            return [f"must be a string [json-pointer:{ptr}]"]
        if len(value) > limit:
            return [f"must be less than {limit + 1} characters [json-pointer:{ptr}]"]
        return []


# --------------------------------------------------------------------------------------------
# The fake server
# --------------------------------------------------------------------------------------------


class FakeSlackAPI(ThreadedApp):
    """Fake Slack Web API + response_url receiver on 127.0.0.1.

    Args:
        token: the only bot token accepted (``Authorization: Bearer <token>`` or ``token=``).
        app_token: the only app-level token ``apps.connections.open`` accepts; it hands out
            the URLs of the Socket Mode server given to `use_socket_mode`.
        channels: name -> channel ID map used to resolve ``#name``/``name`` and served by
            ``conversations.list``/``conversations.info``.
        users: user ID -> partial ``users.info`` user object (``name``, ``real_name``, ...).
        usergroups: usergroup ID -> member user IDs for ``usergroups.users.list``.
        strict_ids: when False (default), unknown but well-formed IDs (``C…``/``G…``/``D…``,
            ``U…``/``W…``) are accepted and auto-registered; when True they are
            ``channel_not_found``/``user_not_found``.  Unknown *names* are always refused.
        action_id_scope: see `BlockKitValidator`.
        channel_rate_limit: if set, chat.postMessage is limited to this many messages per
            second per channel (token bucket, ``channel_burst`` deep), answering 429 like Slack.
    """

    def __init__(
        self,
        token: str = "xoxb-test-token",
        *,
        app_token: str = "xapp-test-token",
        channels: Mapping[str, str] | None = None,
        users: Mapping[str, Mapping[str, Any]] | None = None,
        usergroups: Mapping[str, Iterable[str]] | None = None,
        strict_ids: bool = False,
        action_id_scope: Literal["message", "block"] = "message",
        channel_rate_limit: float | None = None,
        channel_burst: int = 1,
    ) -> None:
        super().__init__()
        self.token = token
        self.app_token = app_token
        self._socket_urls: Callable[[], str] | None = None
        self.strict_ids = strict_ids
        self.validator = BlockKitValidator(action_id_scope)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._channel_names: dict[str, str] = {}  # name -> id
        self._channel_info: dict[str, dict[str, Any]] = {}  # id -> conversation object
        for name, cid in (channels if channels is not None else {"general": "C0GENERAL"}).items():
            self.add_channel(name, cid)
        self._users: dict[str, dict[str, Any]] = {}
        for uid, info in (users or {}).items():
            self.add_user(uid, **info)
        self._usergroups: dict[str, list[str]] = {k: list(v) for k, v in (usergroups or {}).items()}
        self._rate_limit = channel_rate_limit
        self._burst = max(1, channel_burst)
        self._buckets: dict[str, _Bucket] = {}

        self._calls: list[RecordedCall] = []
        self._warnings: list[SlackWarning] = []
        self._messages: dict[str, dict[str, dict[str, Any]]] = {}  # channel -> ts -> message
        self._ephemerals: list[dict[str, Any]] = []
        self._views: dict[str, dict[str, Any]] = {}
        self._used_triggers: set[str] = set()
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._all_responses: list[dict[str, Any]] = []
        self._faults: list[_Fault] = []
        self._unreachable: Literal["drop", "503"] | None = None
        # Methods whose calls wait until `release()`; calls answered late (seconds).
        self._held_methods: set[str] = set()
        self._held_calls: list[asyncio.Event] = []
        self._delays: dict[str, list[float]] = {}
        self._late_answers: list[str] = []  # methods of the late answers sent so far
        self._ts_counter = itertools.count()
        self._id_counter = itertools.count(1)

        self._handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.list": self._conversations_list,
            "conversations.info": self._conversations_info,
            "conversations.open": self._conversations_open,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
        }
        self._files: dict[str, dict[str, Any]] = {}  # file id -> upload (see Files below)
        self._handlers.update(self._file_handlers())

    # -- lifecycle --------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/response_url/{rid}", self._handle_response_url)
        self._file_routes(app)
        return app

    @property
    def port(self) -> int:
        if self._port is None or self._thread is None:
            raise RuntimeError("FakeSlackAPI is not running; use start() or `with`")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """Web API base URL for slack-sdk's ``base_url`` (ends with ``/api/``)."""
        return f"{self.base_url}/api/"

    # -- configuration ----------------------------------------------------------------------

    def add_channel(self, name: str, channel_id: str, **info: Any) -> None:
        """Register a channel (``name`` without '#'); extra ``info`` merges into its object."""
        with self._lock:
            name = name.lstrip("#")
            self._channel_names[name] = channel_id
            self._channel_info[channel_id] = {
                "id": channel_id,
                "name": name,
                "is_channel": not channel_id.startswith("D"),
                "is_im": channel_id.startswith("D"),
                "is_private": channel_id.startswith("G"),
                "is_archived": False,
                "is_member": True,
                "created": 1_700_000_000,
                "context_team_id": TEAM_ID,
                **info,
            }

    def add_user(self, user_id: str, **info: Any) -> None:
        """Register a user for ``users.info``; ``info`` overrides the generated fields."""
        with self._lock:
            self._users[user_id] = self._make_user(user_id, info)

    def set_usergroup(self, usergroup_id: str, members: Iterable[str]) -> None:
        with self._lock:
            self._usergroups[usergroup_id] = list(members)

    def use_socket_mode(self, issue_url: Callable[[], str] | None) -> None:
        """Answer ``apps.connections.open`` with URLs from ``issue_url`` (a
        `FakeSocketModeServer`'s); None: answer ``internal_error``, as if Slack's side failed."""
        with self._lock:
            self._socket_urls = issue_url

    def set_channel_rate_limit(self, per_second: float | None, *, burst: int = 1) -> None:
        """Enforce ~``per_second`` chat.postMessage calls per channel (None disables it)."""
        with self._lock:
            self._rate_limit = per_second
            self._burst = max(1, burst)
            self._buckets.clear()

    def fail_next(
        self,
        method: str = "*",
        *,
        status: int = 429,
        retry_after: int | None = 1,
        times: int = 1,
        error: str | None = None,
    ) -> None:
        """Make the next ``times`` calls to ``method`` ("*" = any Web API method) fail.

        status 429 answers ``{"ok": false, "error": "ratelimited"}`` with ``Retry-After``;
        5xx answers ``{"ok": false, "error": "internal_error"|"service_unavailable"|...}``;
        status 200 with ``error="not_in_channel"`` (say) injects a plain Slack API error.
        ``method="response_url"`` targets posts to response URLs instead.
        """
        if error is None:
            if status == 200:
                raise ValueError("status=200 needs an error code, e.g. error='not_in_channel'")
            error = {429: "ratelimited", 500: "internal_error", 503: "service_unavailable"}.get(
                status, "request_failed"
            )
        with self._lock:
            self._faults.append(
                _Fault(method, status, retry_after if status == 429 else None, times, error)
            )

    def set_unreachable(
        self, unreachable: bool = True, *, mode: Literal["drop", "503"] = "drop"
    ) -> None:
        """Simulate Slack being down, for every Web API method except ``auth.test``.

        auth.test keeps working so Bolt's lazy token check at the first request succeeds and
        the code under test actually reaches the failing call.  ``mode="drop"`` closes the TCP
        connection without an answer (clients see ServerDisconnectedError/RemoteDisconnected
        and slack-sdk's default ConnectionErrorRetryHandler retries once); ``mode="503"``
        answers HTTP 503 ``service_unavailable``.  response_url posts are affected too.
        """
        with self._lock:
            self._unreachable = mode if unreachable else None

    def clear_faults(self) -> None:
        """Forget every fault `fail_next` set (a long rate limit ends now)."""
        with self._lock:
            self._faults.clear()

    def block(self, method: str) -> None:
        """Calls to ``method`` wait, unanswered and not yet carried out, until `release()`.

        Use it to kill the bot while a call is in flight: ``wait_for_blocked`` tells when one
        is waiting. On release each waiting call is carried out (as Slack would, having
        received it) and answered, to a client that may no longer be there.
        """
        with self._lock:
            self._held_methods.add(method)

    def wait_for_blocked(self, count: int = 1, timeout: float = 10.0) -> None:
        """Wait (blocking; call from a thread without a loop) until ``count`` calls wait."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if len(self._held_calls) >= count:
                    return
            if time.monotonic() >= deadline:
                raise AssertionError(f"no {count} blocked call(s) within {timeout}s")
            time.sleep(0.01)

    def release(self) -> None:
        """Carry out and answer the blocked calls; later calls are no longer blocked."""
        with self._lock:
            self._held_methods.clear()
            events, self._held_calls = self._held_calls, []
        loop = self._loop
        if loop is not None:
            for event in events:
                loop.call_soon_threadsafe(event.set)

    def answer_late(self, method: str, seconds: float, *, times: int = 1) -> None:
        """The next ``times`` calls to ``method`` are carried out at once but answered only
        after ``seconds`` (a client with a shorter timeout never hears back)."""
        with self._lock:
            self._delays.setdefault(method, []).extend([seconds] * times)

    def late_answers(self, method: str) -> int:
        """How many of ``method``'s late answers (`answer_late`) have been sent so far."""
        with self._lock:
            return self._late_answers.count(method)

    def add_message(
        self,
        channel: str,
        text: str = "",
        *,
        user: str = "U123",
        thread_ts: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
        bot: bool = False,
    ) -> str:
        """Seed a message (e.g. a human's message the bot will reply to); returns its ts."""
        with self._lock:
            cid = self._resolve_channel(channel)
            msg: dict[str, Any] = {"type": "message", "text": text, "user": user, "team": TEAM_ID}
            if blocks is not None:
                msg["blocks"] = blocks
            if bot:
                msg.update(user=BOT_USER_ID, bot_id=BOT_ID, app_id=APP_ID)
            return self._store_message(cid, msg, thread_ts)["ts"]

    def response_url(
        self,
        rid: str | None = None,
        *,
        channel: str | None = None,
        message_ts: str | None = None,
        user: str | None = None,
    ) -> str:
        """Build a response_url served by this fake.

        With ``channel`` (+ ``message_ts``) posts take effect like on Slack: ``replace_original``
        updates that message, ``delete_original`` deletes it, ``response_type="in_channel"``
        posts a new message, anything else is stored as an ephemeral for ``user``.
        Without them posts are only recorded.  Retrieve payloads with ``responses(rid)``.
        """
        with self._lock:
            rid = rid or f"r{next(self._id_counter)}"
            cid = self._resolve_channel(channel) if channel else None
            self._response_urls.setdefault(rid, _ResponseUrl(cid, message_ts, user))
        return f"{self.base_url}/response_url/{rid}"

    def reset(self) -> None:
        """Forget calls, warnings, messages, views, faults and response URLs (keeps config)."""
        with self._lock:
            self._calls.clear()
            self._warnings.clear()
            self._messages.clear()
            self._ephemerals.clear()
            self._views.clear()
            self._used_triggers.clear()
            self._response_urls.clear()
            self._all_responses.clear()
            self._faults.clear()
            self._files.clear()
            self._buckets.clear()
            self._unreachable = None

    # -- inspection -------------------------------------------------------------------------

    @property
    def calls(self) -> list[RecordedCall]:
        with self._lock:
            return list(self._calls)

    @property
    def warnings(self) -> list[SlackWarning]:
        with self._lock:
            return list(self._warnings)

    def calls_to(self, method: str, *, ok: bool | None = None) -> list[RecordedCall]:
        """Recorded calls to ``method``; ``ok=True``/``False`` filters on success."""
        with self._lock:
            return [c for c in self._calls if c.method == method and (ok is None or c.ok == ok)]

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Current top-level messages in ``channel`` (oldest first), each with a ``replies``
        list of its thread replies.  Copies: mutating them does not affect the fake."""
        with self._lock:
            stored = self._messages.get(self._lookup_channel(channel), {})
            out = []
            for msg in stored.values():
                if msg.get("thread_ts", msg["ts"]) != msg["ts"]:
                    continue
                item = copy.deepcopy(msg)
                item["replies"] = [
                    copy.deepcopy(r)
                    for r in stored.values()
                    if r.get("thread_ts") == msg["ts"] and r["ts"] != msg["ts"]
                ]
                out.append(item)
            return out

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The current version of one message, or None if it does not exist (anymore)."""
        with self._lock:
            msg = self._messages.get(self._lookup_channel(channel), {}).get(ts)
            return copy.deepcopy(msg) if msg is not None else None

    def thread_replies(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """Replies in the thread under ``ts`` (parent excluded), oldest first."""
        with self._lock:
            stored = self._messages.get(self._lookup_channel(channel), {})
            return [
                copy.deepcopy(m)
                for m in stored.values()
                if m.get("thread_ts") == ts and m["ts"] != ts
            ]

    def ephemerals(
        self, channel: str | None = None, user: str | None = None
    ) -> list[dict[str, Any]]:
        """Ephemeral messages (chat.postEphemeral and ephemeral response_url posts)."""
        with self._lock:
            cid = self._lookup_channel(channel) if channel else None
            return [
                copy.deepcopy(e)
                for e in self._ephemerals
                if (cid is None or e["channel"] == cid) and (user is None or e["user"] == user)
            ]

    @property
    def views(self) -> list[dict[str, Any]]:
        """Views opened/pushed/published so far, in their current state, oldest first."""
        with self._lock:
            return copy.deepcopy(list(self._views.values()))

    def view(self, view_id: str) -> dict[str, Any] | None:
        with self._lock:
            v = self._views.get(view_id)
            return copy.deepcopy(v) if v is not None else None

    def responses(self, rid: str | None = None) -> list[dict[str, Any]]:
        """JSON payloads accepted at response URL ``rid`` (all response URLs if None), in
        arrival order."""
        with self._lock:
            if rid is None:
                return copy.deepcopy(self._all_responses)
            entry = self._response_urls.get(rid)
            return copy.deepcopy(entry.payloads) if entry else []

    def wait_for(self, match: Match, timeout: float = 5.0, *, count: int = 1) -> RecordedCall:
        """Block until ``count`` recorded calls match; return the ``count``-th one.

        ``match`` is a method name or a predicate on `RecordedCall`.  Raises AssertionError on
        timeout.  Don't call it on a thread running an event loop (the bot would be starved):
        use `wait_for_async` there.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass  # no loop on this thread: blocking is fine
        else:
            raise RuntimeError(
                "wait_for() would block the event loop; use `await wait_for_async()`"
            )
        pred = self._predicate(match)
        with self._changed:
            found = self._changed.wait_for(lambda: self._find(pred, count), timeout)
            if not found:
                raise AssertionError(self._timeout_message(match, count, timeout))
            return found

    async def wait_for_async(
        self,
        match: Match,
        timeout: float = 5.0,  # noqa: ASYNC109 - mirrors wait_for; a deadline, not a cancel scope
        *,
        count: int = 1,
    ) -> RecordedCall:
        """`wait_for` for async tests: polls without blocking the running loop."""
        pred = self._predicate(match)
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = self._find(pred, count)
            if found:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_message(match, count, timeout))
            await asyncio.sleep(0.005)

    @staticmethod
    def _predicate(match: Match) -> Callable[[RecordedCall], bool]:
        if isinstance(match, str):
            return lambda c: c.method == match
        return match

    def _find(self, pred: Callable[[RecordedCall], bool], count: int) -> RecordedCall | None:
        hits = [c for c in self._calls if pred(c)]
        return hits[count - 1] if len(hits) >= count else None

    def _timeout_message(self, match: Match, count: int, timeout: float) -> str:
        seen = [f"{c.method}({c.status})" for c in self.calls]
        return f"no {count}x call matching {match!r} within {timeout}s; recorded: {seen}"

    # -- HTTP layer ---------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params = await _read_params(request)
        headers = {k.lower(): v for k, v in request.headers.items()}
        released: asyncio.Event | None = None
        with self._lock:
            if method in self._held_methods:
                released = asyncio.Event()
                self._held_calls.append(released)
        if released is not None:
            await released.wait()
        with self._lock:
            status, body, extra_headers = self._dispatch(method, params, headers)
            self._record(RecordedCall(method, params, headers, status, body or {}))
            delays = self._delays.get(method)
            delay = delays.pop(0) if delays else 0.0
        if delay:
            await asyncio.sleep(delay)
            with self._lock:
                self._late_answers.append(method)
        if status == 0:
            return _drop(request)
        return web.json_response(body, status=status, headers=extra_headers)

    def _dispatch(
        self, method: str, params: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        if self._unreachable and method != "auth.test":
            if self._unreachable == "drop":
                return 0, None, {}
            return 503, {"ok": False, "error": "service_unavailable"}, {}
        fault = self._take_fault(method)
        if fault is not None:
            return fault
        handler = self._handlers.get(method)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        try:
            self._check_auth(method, params, headers)
            return 200, {"ok": True, **handler(params)}, {}
        except _ApiError as e:
            extra_headers: dict[str, str] = {}
            if "retry_after" in e.extra:
                extra_headers["Retry-After"] = str(e.extra.pop("retry_after"))
            return e.status, {"ok": False, "error": e.error, **e.extra}, extra_headers

    def _take_fault(self, method: str) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        for fault in self._faults:
            wildcard = fault.method == "*" and not method.startswith("response_url")
            if fault.remaining > 0 and (fault.method == method or wildcard):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                hdrs = (
                    {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                )
                return fault.status, {"ok": False, "error": fault.error}, hdrs
        return None

    def _check_auth(self, method: str, params: dict[str, Any], headers: dict[str, str]) -> None:
        auth = headers.get("authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else params.get("token")
        if not token:
            raise _ApiError("not_authed")
        # Slack tells a token of the wrong kind from an unknown one.
        wants_app_token = method == "apps.connections.open"
        if str(token).startswith("xapp-") != wants_app_token:
            raise _ApiError("not_allowed_token_type")
        if wants_app_token:
            if token != self.app_token:
                raise _ApiError("invalid_auth")
            return
        if token != self.token:
            raise _ApiError("invalid_auth")

    def _check_rate_limit(self, channel: str) -> None:
        if self._rate_limit is None:
            return
        now = time.monotonic()
        bucket = self._buckets.setdefault(channel, _Bucket(float(self._burst), now))
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate_limit)
        bucket.updated = now
        if bucket.tokens < 1:
            wait = math.ceil((1 - bucket.tokens) / self._rate_limit)
            raise _ApiError("ratelimited", status=429, retry_after=max(1, wait))
        bucket.tokens -= 1

    def _record(self, call: RecordedCall) -> None:
        self._calls.append(call)
        self._changed.notify_all()

    def _warn(self, code: str, method: str, detail: str = "") -> None:
        self._warnings.append(SlackWarning(code, method, detail))

    async def _handle_response_url(self, request: web.Request) -> web.StreamResponse:
        rid = request.match_info["rid"]
        try:
            payload = await request.json()
        except ValueError:
            payload = None
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            status, body = self._apply_response(rid, payload)
            params = payload if isinstance(payload, dict) else {}
            self._record(RecordedCall(f"response_url/{rid}", params, headers, status, body or {}))
        if status == 0:
            return _drop(request)
        return web.json_response(body, status=status)

    def _apply_response(self, rid: str, payload: Any) -> tuple[int, dict[str, Any] | None]:
        if self._unreachable:
            if self._unreachable == "drop":
                return 0, None
            return 503, {"ok": False, "error": "service_unavailable"}
        fault = self._take_fault("response_url")
        if fault is not None:
            return fault[0], fault[1]
        if not isinstance(payload, dict):
            return 400, {"ok": False, "error": "invalid_payload"}
        entry = self._response_urls.setdefault(rid, _ResponseUrl(None, None, None))
        if entry.uses >= RESPONSE_URL_MAX_USES:
            # Slack documents the 5-use limit but not the error string; this one is ours.
            return 404, {"ok": False, "error": "used_url"}
        if "blocks" in payload:
            errors = self.validator.validate_blocks(payload["blocks"])
            if errors:
                return 400, _invalid_blocks(errors)
        entry.uses += 1
        entry.payloads.append(copy.deepcopy(payload))
        self._all_responses.append(copy.deepcopy(payload))
        if entry.channel is not None:
            self._response_side_effects(entry, payload)
        return 200, {"ok": True}

    def _response_side_effects(self, entry: _ResponseUrl, payload: dict[str, Any]) -> None:
        assert entry.channel is not None
        stored = self._messages.get(entry.channel, {})
        if payload.get("delete_original") and entry.message_ts:
            stored.pop(entry.message_ts, None)
        elif payload.get("replace_original") and entry.message_ts in stored:
            msg = stored[entry.message_ts]
            for key in ("text", "blocks", "attachments"):
                if key in payload:
                    msg[key] = payload[key]
        elif payload.get("response_type") == "in_channel":
            msg = self._bot_message(payload)
            self._store_message(entry.channel, msg, payload.get("thread_ts"))
        else:
            eph = self._bot_message(payload)
            eph.update(channel=entry.channel, user=entry.user, ts=self._next_ts())
            self._ephemerals.append(eph)

    # -- helpers ------------------------------------------------------------------------------

    def _next_ts(self) -> str:
        micros = _FIRST_TS_MICROS + next(self._ts_counter) * _TS_STEP_MICROS
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _resolve_channel(self, channel: Any, *, allow_names: bool = True) -> str:
        if not isinstance(channel, str) or not channel:
            raise _ApiError("channel_not_found")
        if channel in self._channel_info:
            return channel
        name = channel.lstrip("#")
        if allow_names and name in self._channel_names:
            return self._channel_names[name]
        if _USER_ID_RE.match(channel) and (channel in self._users or not self.strict_ids):
            # Posting to a user ID lands in the DM with that user, like Slack.
            dm = "D" + channel[1:]
            if dm not in self._channel_info:
                self.add_channel(f"dm-{channel.lower()}", dm, user=channel)
            return dm
        if _CHANNEL_ID_RE.match(channel) and not self.strict_ids:
            self.add_channel(channel.lower(), channel)
            return channel
        raise _ApiError("channel_not_found")

    def _lookup_channel(self, channel: str) -> str:
        """Side-effect-free resolution for inspection helpers: unknown names map to themselves."""
        name = channel.lstrip("#")
        if channel in self._channel_info:
            return channel
        if name in self._channel_names:
            return self._channel_names[name]
        if _USER_ID_RE.match(channel):
            return "D" + channel[1:]
        return name

    def _make_user(self, user_id: str, info: Mapping[str, Any]) -> dict[str, Any]:
        name = str(info.get("name", user_id.lower()))
        real_name = str(info.get("real_name", name.title()))
        user: dict[str, Any] = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "real_name": real_name,
            "deleted": False,
            "is_bot": user_id == BOT_USER_ID,
            "is_admin": False,
            "tz": "UTC",
            "tz_offset": 0,
            "profile": {
                "display_name": name,
                "real_name": real_name,
                "email": f"{name}@example.com",
            },
        }
        user.update({k: v for k, v in info.items() if k not in ("name", "real_name")})
        return user

    def _bot_message(self, params: Mapping[str, Any]) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "type": "message",
            "text": params.get("text") or "",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
        }
        for key in ("blocks", "attachments", "metadata"):
            if params.get(key) is not None:
                msg[key] = copy.deepcopy(params[key])
        if "blocks" in msg:
            _fill_block_ids(msg["blocks"])
        return msg

    def _store_message(self, cid: str, msg: dict[str, Any], thread_ts: Any) -> dict[str, Any]:
        stored = self._messages.setdefault(cid, {})
        msg["ts"] = self._next_ts()
        if isinstance(thread_ts, str) and thread_ts:
            parent = stored.get(thread_ts)
            if parent is None:
                self._warn("unknown_thread_ts", "chat.postMessage", f"{cid}/{thread_ts}")
            else:
                # Replying to a reply threads under the root, like Slack.
                thread_ts = parent.get("thread_ts", thread_ts)
                root = stored.get(thread_ts, parent)
                root["thread_ts"] = thread_ts
                root["reply_count"] = root.get("reply_count", 0) + 1
                users = root.setdefault("reply_users", [])
                if msg.get("user") not in users:
                    users.append(msg.get("user"))
                root["latest_reply"] = msg["ts"]
            msg["thread_ts"] = thread_ts
        stored[msg["ts"]] = msg
        return msg

    def _check_content(self, method: str, params: dict[str, Any]) -> None:
        """Shared validation for anything that carries message content."""
        has_blocks = params.get("blocks") not in (None, [])
        has_attachments = params.get("attachments") not in (None, [])
        text = params.get("text")
        if not text and not has_blocks and not has_attachments:
            raise _ApiError("no_text")
        if isinstance(text, str) and len(text) > MAX_MESSAGE_TEXT:
            raise _ApiError("msg_too_long")
        if "blocks" in params:
            if isinstance(params["blocks"], str):
                raise _ApiError("invalid_blocks_format")
            errors = self.validator.validate_blocks(params["blocks"])
            if errors:
                raise _ApiError("invalid_blocks", **_invalid_blocks(errors, with_ok=False))
        if "attachments" in params:
            attachments = params["attachments"]
            if not isinstance(attachments, list) or not all(
                isinstance(a, dict) for a in attachments
            ):
                raise _ApiError("invalid_attachments")
            errors = []
            for i, att in enumerate(attachments):
                if "blocks" in att:
                    errors += self.validator.validate_blocks(
                        att["blocks"], pointer=f"/attachments/{i}/blocks"
                    )
            if errors:
                raise _ApiError("invalid_blocks", **_invalid_blocks(errors, with_ok=False))
        if (has_blocks or has_attachments) and not text:
            # Slack accepts this, but notifications and screen readers get no text.
            self._warn("missing_text_fallback", method, str(params.get("channel", "")))

    def _find_message(self, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        # chat.update/delete need the channel ID Slack returned, not a #name.
        cid = self._resolve_channel(params.get("channel"), allow_names=False)
        ts = params.get("ts")
        msg = self._messages.get(cid, {}).get(ts) if isinstance(ts, str) else None
        if msg is None:
            raise _ApiError("message_not_found")
        return cid, msg

    def _conversation(self, channel: Any) -> dict[str, Any]:
        return copy.deepcopy(self._channel_info[self._resolve_channel(channel)])

    # -- Web API methods ----------------------------------------------------------------------

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_NAME,
            "user": "stockbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if self._socket_urls is None:
            raise _ApiError("internal_error")
        return {"url": self._socket_urls()}

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._resolve_channel(params.get("channel"))
        self._check_rate_limit(cid)
        self._check_content("chat.postMessage", params)
        msg = self._bot_message(params)
        self._store_message(cid, msg, params.get("thread_ts"))
        return {"channel": cid, "ts": msg["ts"], "message": copy.deepcopy(msg)}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        cid, msg = self._find_message(params)
        if msg.get("user") != BOT_USER_ID:
            raise _ApiError("cant_update_message")
        self._check_content("chat.update", params)
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in params:
                msg[key] = copy.deepcopy(params[key])
        if "blocks" in params:
            _fill_block_ids(msg["blocks"])
        msg["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return {
            "channel": cid,
            "ts": msg["ts"],
            "text": msg.get("text", ""),
            "message": copy.deepcopy(msg),
        }

    def _chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        cid, msg = self._find_message(params)
        if msg.get("user") != BOT_USER_ID:
            raise _ApiError("cant_delete_message")
        del self._messages[cid][msg["ts"]]
        return {"channel": cid, "ts": msg["ts"]}

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._resolve_channel(params.get("channel"))
        user = params.get("user")
        if not isinstance(user, str) or not user:
            raise _ApiError("user_not_found")
        self._check_content("chat.postEphemeral", params)
        eph = self._bot_message(params)
        eph.update(channel=cid, user=user, ts=self._next_ts())
        if params.get("thread_ts"):
            eph["thread_ts"] = params["thread_ts"]
        self._ephemerals.append(eph)
        return {"message_ts": eph["ts"]}

    def _chat_get_permalink(self, params: dict[str, Any]) -> dict[str, Any]:
        cid, msg = self._find_message(
            {"channel": params.get("channel"), "ts": params.get("message_ts")}
        )
        path = f"archives/{cid}/p{msg['ts'].replace('.', '')}"
        return {"channel": cid, "permalink": f"https://{TEAM_DOMAIN}.slack.com/{path}"}

    def _conversations_list(self, params: dict[str, Any]) -> dict[str, Any]:
        channels = [copy.deepcopy(c) for c in self._channel_info.values() if not c["is_im"]]
        return {"channels": channels, "response_metadata": {"next_cursor": ""}}

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"channel": self._conversation(params.get("channel"))}

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        users = str(params.get("users") or "").split(",")
        if len(users) != 1 or not users[0]:
            raise _ApiError("not_implemented" if len(users) > 1 else "users_list_not_supplied")
        return {"channel": {"id": self._resolve_channel(users[0])}}

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        # Newest first. ``oldest`` is not applied: this fake's ts are not wall-clock times.
        cid = self._resolve_channel(params.get("channel"))
        top = [
            _as_listed(m, params)
            for m in self._messages.get(cid, {}).values()
            if m.get("thread_ts", m["ts"]) == m["ts"]
        ]
        return {"messages": top[::-1], "has_more": False, "response_metadata": {"next_cursor": ""}}

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._resolve_channel(params.get("channel"))
        stored = self._messages.get(cid, {})
        ts = params.get("ts")
        if ts not in stored:
            raise _ApiError("thread_not_found")
        thread = [
            _as_listed(m, params)
            for m in stored.values()
            if m["ts"] == ts or m.get("thread_ts") == ts
        ]
        return {"messages": thread, "has_more": False, "response_metadata": {"next_cursor": ""}}

    def _store_view(
        self, params: dict[str, Any], *, existing: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        view = params.get("view")
        if isinstance(view, str):
            raise _ApiError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] view is not valid JSON"]},
            )
        errors = self.validator.validate_view(view)
        if errors:
            raise _ApiError(
                "invalid_arguments",
                response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
            )
        assert isinstance(view, dict)
        stored = copy.deepcopy(view)
        _fill_block_ids(stored.get("blocks", []))
        view_id = existing["id"] if existing else f"V{next(self._id_counter):08d}"
        stored.update(
            id=view_id,
            team_id=TEAM_ID,
            app_id=APP_ID,
            bot_id=BOT_ID,
            hash=f"{int(time.time())}.{next(self._id_counter):08d}",
            state={"values": {}},
            private_metadata=view.get("private_metadata", ""),
            callback_id=view.get("callback_id", ""),
            external_id=view.get("external_id", ""),
        )
        self._views[view_id] = stored
        return {"view": copy.deepcopy(stored)}

    def _use_trigger(self, params: dict[str, Any]) -> None:
        trigger = params.get("trigger_id") or params.get("interactivity_pointer")
        if not isinstance(trigger, str) or not trigger:
            raise _ApiError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] missing required field: trigger_id"]},
            )
        if trigger in self._used_triggers:
            raise _ApiError("exchanged_trigger_id")
        self._used_triggers.add(trigger)

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        self._use_trigger(params)
        return self._store_view(params)

    def _views_push(self, params: dict[str, Any]) -> dict[str, Any]:
        self._use_trigger(params)
        return self._store_view(params)

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view_id, external_id = params.get("view_id"), params.get("external_id")
        existing = None
        if view_id:
            existing = self._views.get(view_id)
        elif external_id:
            existing = next(
                (v for v in self._views.values() if v.get("external_id") == external_id), None
            )
        if existing is None:
            raise _ApiError("not_found")
        if params.get("hash") and params["hash"] != existing["hash"]:
            raise _ApiError("hash_conflict")
        return self._store_view(params, existing=existing)

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = params.get("user_id")
        if not isinstance(user_id, str) or not user_id:
            raise _ApiError("invalid_arguments")
        _check_home_view(params.get("view"))
        home = next(
            (
                v
                for v in self._views.values()
                if v.get("type") == "home" and v.get("user_id") == user_id
            ),
            None,
        )
        result = self._store_view(params, existing=home)
        self._views[result["view"]["id"]]["user_id"] = user_id
        result["view"]["user_id"] = user_id
        return result

    # ---- App Home (review11): the Home tab a user sees --------------------------------------

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        """The Home tab last published for `user_id`, as Slack shows it; None if never."""
        with self._lock:
            found = [
                v
                for v in self._views.values()
                if v.get("type") == "home" and v.get("user_id") == user_id
            ]
            return copy.deepcopy(found[-1]) if found else None

    # ---- end of App Home (review11) ---------------------------------------------------------

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = params.get("user")
        if not isinstance(user_id, str) or user_id not in self._users:
            if not isinstance(user_id, str) or self.strict_ids or not _USER_ID_RE.match(user_id):
                raise _ApiError("user_not_found")
            self._users[user_id] = self._make_user(user_id, {})
        return {"user": copy.deepcopy(self._users[user_id])}

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        group = params.get("usergroup")
        if group not in self._usergroups:
            raise _ApiError("no_such_subteam")
        return {"users": list(self._usergroups[group])}

    # ========================================================================================
    # Files (files_upload_v2): files.getUploadURLExternal, the upload URL, and
    # files.completeUploadExternal. Everything about files stays inside this block.
    # ========================================================================================

    def _file_handlers(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        return {
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
        }

    def _file_routes(self, app: web.Application) -> None:
        # Slack's upload URLs are on files.slack.com; this fake serves them itself.
        app.router.add_post("/upload/v1/{file_id}", self._handle_file_upload)

    def files_in_thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """Files shared in the thread under ``ts`` (each with its uploaded ``content``)."""
        with self._lock:
            shared = [f["id"] for r in self.thread_replies(channel, ts) for f in r.get("files", [])]
            return [copy.deepcopy(self._files[file_id]) for file_id in shared]

    def _files_get_upload_url_external(self, params: dict[str, Any]) -> dict[str, Any]:
        filename = params.get("filename")
        try:
            length = int(params.get("length", ""))
        except ValueError:
            length = 0
        if not isinstance(filename, str) or not filename or length <= 0:
            raise _ApiError("invalid_arguments")
        file_id = f"F{next(self._id_counter):08d}"
        alt_txt = params.get("alt_txt")
        self._files[file_id] = {
            "id": file_id,
            "name": filename,
            "title": filename,
            "length": length,
            "alt_txt": alt_txt,
            "content": None,
            "shared_in": [],
        }
        return {"upload_url": f"{self.base_url}/upload/v1/{file_id}", "file_id": file_id}

    async def _handle_file_upload(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["file_id"]
        body = await request.read()
        with self._lock:
            entry = self._files.get(file_id)
            problem = ""
            if entry is None:
                problem = "unknown upload URL"
            elif len(body) != entry["length"]:
                problem = f"{len(body)} bytes sent, {entry['length']} announced"
            elif entry["name"].lower().endswith(".png") and not body.startswith(PNG_SIGNATURE):
                problem = "not a PNG"
            status = 400 if problem else 200
            if not problem and entry is not None:
                entry["content"] = body
            else:
                self._warn("bad_upload", "upload_url", f"{file_id}: {problem}")
            self._record(RecordedCall("upload_url", {"file_id": file_id}, {}, status, {}))
        return web.Response(status=status, text=problem or f"OK - {len(body)}")

    def _files_complete_upload_external(self, params: dict[str, Any]) -> dict[str, Any]:
        files = params.get("files")
        if isinstance(files, str):
            try:
                files = json.loads(files)
            except ValueError:
                raise _ApiError("invalid_arguments") from None
        if not isinstance(files, list) or not files:
            raise _ApiError("invalid_arguments")
        entries = []
        for item in files:
            entry = self._files.get(item.get("id")) if isinstance(item, dict) else None
            if entry is None or entry["content"] is None:
                raise _ApiError("file_not_found")
            entries.append((entry, item))
        comment = params.get("initial_comment") or ""
        if len(comment) > MAX_MESSAGE_TEXT:
            raise _ApiError("msg_too_long")
        cid = None
        if params.get("channel_id"):
            cid = self._resolve_channel(params.get("channel_id"), allow_names=False)
            thread_ts = params.get("thread_ts") or None
            if thread_ts is not None and thread_ts not in self._messages.get(cid, {}):
                raise _ApiError("invalid_thread_ts")
        shared = []
        for entry, item in entries:
            if item.get("title"):
                entry["title"] = str(item["title"])
            shared.append(self._file_object(entry))
        if cid is not None:
            msg = self._bot_message({"text": comment})
            msg.update({"upload": True, "files": shared})
            self._store_message(cid, msg, params.get("thread_ts") or None)
            for entry, _ in entries:
                entry["shared_in"].append({"channel": cid, "ts": msg["ts"]})
        return {"files": [{"id": f["id"], "title": f["title"]} for f in shared]}

    @staticmethod
    def _file_object(entry: dict[str, Any]) -> dict[str, Any]:
        png = entry["name"].lower().endswith(".png")
        return {
            "id": entry["id"],
            "name": entry["name"],
            "title": entry["title"],
            "mimetype": "image/png" if png else "application/octet-stream",
            "filetype": "png" if png else "binary",
            "size": len(entry["content"] or b""),
            "user": BOT_USER_ID,
        }

    # ========================================================================================
    # end of files
    # ========================================================================================


# --------------------------------------------------------------------------------------------
# module helpers
# --------------------------------------------------------------------------------------------


# ---- App Home (review11): views.publish takes only a Home tab ----------------------------


def _check_home_view(view: Any) -> None:
    """Slack's views.publish publishes Home tabs only: a modal is refused (the blocks,
    at most 100, are checked by the validator like any view's)."""
    if isinstance(view, dict) and view.get("type") != "home":
        raise _ApiError(
            "invalid_arguments",
            response_metadata={"messages": ["[ERROR] must be home [json-pointer:/view/type]"]},
        )


# ---- end of App Home (review11) -------------------------------------------------------------


async def _read_params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        raw = await request.read()
        if request.content_type == "application/json":
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            if isinstance(body, dict):
                params.update(body)
        else:
            # Form-encoded (slack-sdk's default for methods without blocks/views).
            params.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    for key in _JSON_FIELDS:
        # Form bodies carry these as JSON strings; a string that isn't JSON stays a string
        # so the handler can answer invalid_blocks_format / invalid_arguments.
        if isinstance(params.get(key), str):
            with contextlib.suppress(ValueError):
                params[key] = json.loads(params[key])
    return params


def _as_listed(message: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """A stored message as history lists it: metadata only when asked for, like Slack."""
    listed = copy.deepcopy(message)
    if str(params.get("include_all_metadata", "")).lower() not in ("true", "1"):
        listed.pop("metadata", None)
    return listed


def _drop(request: web.Request) -> web.StreamResponse:
    # Abort the socket so the client sees a disconnect instead of an HTTP answer.
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=500)


def _invalid_blocks(errors: list[str], *, with_ok: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "errors": errors,
        "response_metadata": {"messages": [f"[ERROR] {e}" for e in errors]},
    }
    return {"ok": False, "error": "invalid_blocks", **body} if with_ok else body


def _fill_block_ids(blocks: Any) -> None:
    # Slack assigns a block_id to every block that lacks one; interaction payloads carry it.
    if not isinstance(blocks, list):
        return
    for i, block in enumerate(blocks):
        if isinstance(block, dict) and "block_id" not in block:
            digest = hashlib.sha1(f"{i}:{json.dumps(block, sort_keys=True)}".encode()).hexdigest()
            block["block_id"] = digest[:5]
