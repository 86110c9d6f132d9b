"""Tests of the Slack test doubles themselves, driven through the real slack-sdk clients."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook import WebhookClient

from tests.fakes.slack_api import BOT_USER_ID, FakeSlackAPI, RecordedCall
from tests.fakes.slack_requests import (
    AsyncSlackRequestSender,
    SignedRequest,
    SlackRequestBuilder,
    SlackRequestSender,
)

TOKEN = "xoxb-test-token"
SECRET = "test-signing-secret"
ALERTS = "C0ALERTS"


def section(text: str = "Low stock: *SKU-1*") -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(action_id: str, text: str = "Restock", value: str = "SKU-1") -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text},
        "value": value,
    }


def modal(title: str = "Restock", **extra: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "restock",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Save"},
        "blocks": [
            {
                "type": "input",
                "block_id": "qty",
                "label": {"type": "plain_text", "text": "Quantity"},
                "element": {"type": "plain_text_input", "action_id": "value"},
            }
        ],
        **extra,
    }


@pytest.fixture
def api() -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI(TOKEN, channels={"alerts": ALERTS, "general": "C0GENERAL"}) as fake:
        yield fake


@pytest.fixture
def client(api: FakeSlackAPI) -> WebClient:
    return WebClient(token=TOKEN, base_url=api.url)


@pytest.fixture
def aclient(api: FakeSlackAPI) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=api.url)


# -- messages -------------------------------------------------------------------------------


def test_post_valid_blocks_is_recorded_and_stored(api: FakeSlackAPI, client: WebClient) -> None:
    blocks = [section(), {"type": "actions", "elements": [button("restock")]}]
    resp = client.chat_postMessage(channel="#alerts", text="Low stock: SKU-1", blocks=blocks)

    assert resp["channel"] == ALERTS
    assert resp["ts"] == "1700000000.000100"
    (call,) = api.calls_to("chat.postMessage")
    assert call.ok
    assert call.params["blocks"][1]["elements"][0]["action_id"] == "restock"
    assert call.headers["authorization"] == f"Bearer {TOKEN}"
    (msg,) = api.messages("alerts")
    assert msg["text"] == "Low stock: SKU-1"
    assert msg["user"] == BOT_USER_ID
    assert all(b["block_id"] for b in msg["blocks"])  # Slack fills missing block_ids
    assert api.warnings == []


async def test_async_client_threads_and_ts_ordering(
    api: FakeSlackAPI, aclient: AsyncWebClient
) -> None:
    parent = await aclient.chat_postMessage(channel=ALERTS, text="SKU-1 is out of stock")
    reply = await aclient.chat_postMessage(
        channel=ALERTS, text="Supplier says: 3 days", thread_ts=parent["ts"]
    )
    nested = await aclient.chat_postMessage(channel=ALERTS, text="ok", thread_ts=reply["ts"])

    assert float(parent["ts"]) < float(reply["ts"]) < float(nested["ts"])
    (top,) = api.messages(ALERTS)
    assert top["reply_count"] == 2
    assert [r["text"] for r in top["replies"]] == ["Supplier says: 3 days", "ok"]
    assert [r["ts"] for r in api.thread_replies(ALERTS, parent["ts"])] == [
        reply["ts"],
        nested["ts"],
    ]
    assert api.message(ALERTS, reply["ts"])["thread_ts"] == parent["ts"]  # type: ignore[index]


def test_unknown_channel_name_and_missing_text(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="#nope", text="hi")
    assert err.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as err, pytest.warns(UserWarning, match="text"):
        client.chat_postMessage(channel="#alerts")
    assert err.value.response["error"] == "no_text"


def test_strict_ids_rejects_unknown_channel_ids() -> None:
    with FakeSlackAPI(TOKEN, channels={"alerts": ALERTS}, strict_ids=True) as strict:
        c = WebClient(token=TOKEN, base_url=strict.url)
        assert c.chat_postMessage(channel=ALERTS, text="ok")["ok"]
        with pytest.raises(SlackApiError, match="channel_not_found"):
            c.chat_postMessage(channel="C0UNKNOWN", text="hi")


def test_blocks_without_text_fallback_warns(api: FakeSlackAPI, client: WebClient) -> None:
    with pytest.warns(UserWarning, match="`text` argument is missing"):  # slack-sdk's own
        client.chat_postMessage(channel=ALERTS, blocks=[section()])
    assert [w.code for w in api.warnings] == ["missing_text_fallback"]


BLOCKS_TOO_MANY = [section(f"row {i}") for i in range(51)]
INVALID_BLOCKS = {
    "unknown type": [{"type": "fancy_table"}],
    "header > 150": [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}],
    "51 blocks": BLOCKS_TOO_MANY,
    "button text > 75": [{"type": "actions", "elements": [button("a", text="x" * 76)]}],
    "duplicate action_id": [
        {"type": "actions", "elements": [button("restock")]},
        {"type": "actions", "elements": [button("restock")]},
    ],
    "section text > 3000": [section("x" * 3001)],
    "11 section fields": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
    "bare string text": [{"type": "section", "text": "plain string"}],
    "overflow option > 75": [
        {
            **section(),
            "accessory": {
                "type": "overflow",
                "action_id": "more",
                "options": [{"text": {"type": "plain_text", "text": "o" * 76}, "value": "v"}],
            },
        }
    ],
    "confirm text > 300": [
        {
            "type": "actions",
            "elements": [
                {
                    **button("delete"),
                    "confirm": {
                        "title": {"type": "plain_text", "text": "Sure?"},
                        "text": {"type": "mrkdwn", "text": "x" * 301},
                        "confirm": {"type": "plain_text", "text": "Yes"},
                        "deny": {"type": "plain_text", "text": "No"},
                    },
                }
            ],
        }
    ],
    "26 actions elements": [{"type": "actions", "elements": [button(f"b{i}") for i in range(26)]}],
    "button value > 2000": [{"type": "actions", "elements": [button("a", value="v" * 2001)]}],
}


@pytest.mark.parametrize("blocks", INVALID_BLOCKS.values(), ids=INVALID_BLOCKS.keys())
async def test_invalid_blocks_are_rejected(
    api: FakeSlackAPI, aclient: AsyncWebClient, blocks: list[dict[str, Any]]
) -> None:
    with pytest.raises(SlackApiError) as err:
        await aclient.chat_postMessage(channel=ALERTS, text="fallback", blocks=blocks)

    assert err.value.response.status_code == 200
    assert err.value.response["error"] == "invalid_blocks"
    assert err.value.response["errors"]
    assert all("[json-pointer:/blocks" in e for e in err.value.response["errors"])
    assert api.messages(ALERTS) == []


def test_invalid_blocks_rejected_in_chat_update_and_form_encoding(
    api: FakeSlackAPI, client: WebClient
) -> None:
    ts = client.chat_postMessage(channel=ALERTS, text="x")["ts"]
    with pytest.raises(SlackApiError, match="invalid_blocks"):
        client.chat_update(channel=ALERTS, ts=ts, text="x", blocks=INVALID_BLOCKS["header > 150"])
    # Form-encoded bodies carry blocks as a JSON string; the fake decodes them too.
    form = {"channel": ALERTS, "user": "U1", "text": "t", "blocks": '[{"type": "bogus"}]'}
    with pytest.raises(SlackApiError) as err:
        client.api_call("chat.postEphemeral", params=form)
    assert err.value.response["error"] == "invalid_blocks"
    assert api.calls_to("chat.postEphemeral")[0].params["blocks"] == [{"type": "bogus"}]


def test_action_id_scope_block_allows_reuse_across_blocks() -> None:
    with FakeSlackAPI(TOKEN, action_id_scope="block") as lenient:
        c = WebClient(token=TOKEN, base_url=lenient.url)
        assert c.chat_postMessage(
            channel=ALERTS, text="t", blocks=INVALID_BLOCKS["duplicate action_id"]
        )["ok"]


# -- chat.update / ephemeral / auth / misc methods --------------------------------------------


def test_chat_update(api: FakeSlackAPI, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="#alerts", text="SKU-1: 2 left")
    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel=ALERTS, ts="1699999999.000001", text="nope")
    assert err.value.response["error"] == "message_not_found"

    client.chat_update(channel=posted["channel"], ts=posted["ts"], text="SKU-1: restocked")
    msg = api.message(ALERTS, posted["ts"])
    assert msg is not None
    assert msg["text"] == "SKU-1: restocked"
    assert "edited" in msg

    human_ts = api.add_message(ALERTS, "hello bot", user="U123")
    with pytest.raises(SlackApiError, match="cant_update_message"):
        client.chat_update(channel=ALERTS, ts=human_ts, text="hijack")


def test_post_ephemeral(api: FakeSlackAPI, client: WebClient) -> None:
    resp = client.chat_postEphemeral(channel="#alerts", user="U123", text="only you")
    assert resp["message_ts"]
    (eph,) = api.ephemerals(ALERTS, user="U123")
    assert eph["text"] == "only you"
    assert api.messages(ALERTS) == []


@pytest.mark.parametrize(("token", "error"), [(None, "not_authed"), ("xoxb-wrong", "invalid_auth")])
def test_auth_errors(api: FakeSlackAPI, token: str | None, error: str) -> None:
    with pytest.raises(SlackApiError) as err:
        WebClient(token=token, base_url=api.url).chat_postMessage(channel=ALERTS, text="x")
    assert err.value.response["error"] == error


def test_lookup_methods(client: WebClient) -> None:
    fake = FakeSlackAPI(
        TOKEN,
        channels={"alerts": ALERTS},
        users={"U1": {"name": "ana", "tz": "Europe/Lisbon"}},
        usergroups={"S0OPS": ["U1", "U2"]},
    )
    with fake:
        c = WebClient(token=TOKEN, base_url=fake.url)
        auth = c.auth_test()
        assert (auth["user_id"], auth["team_id"], auth["bot_id"]) == ("U0BOT", "T0TEST", "B0BOT")
        assert [ch["id"] for ch in c.conversations_list()["channels"]] == [ALERTS]
        assert c.conversations_info(channel="alerts")["channel"]["name"] == "alerts"
        user = c.users_info(user="U1")["user"]
        assert (user["name"], user["tz"]) == ("ana", "Europe/Lisbon")
        assert c.usergroups_users_list(usergroup="S0OPS")["users"] == ["U1", "U2"]
        with pytest.raises(SlackApiError, match="no_such_subteam"):
            c.usergroups_users_list(usergroup="S0NOPE")
        with pytest.raises(SlackApiError, match="unknown_method"):
            c.api_call("reactions.add", params={"channel": ALERTS, "name": "eyes"})


# -- views ----------------------------------------------------------------------------------


async def test_views_open_update_and_validation(api: FakeSlackAPI, aclient: AsyncWebClient) -> None:
    opened = await aclient.views_open(trigger_id="t1", view=modal(private_metadata="SKU-1"))
    view = opened["view"]
    assert view["id"].startswith("V")
    assert api.view(view["id"])["private_metadata"] == "SKU-1"  # type: ignore[index]

    with pytest.raises(SlackApiError, match="exchanged_trigger_id"):
        await aclient.views_open(trigger_id="t1", view=modal())
    with pytest.raises(SlackApiError) as err:
        await aclient.views_open(trigger_id="t2", view=modal(title="x" * 25))
    assert err.value.response["error"] == "invalid_arguments"
    assert "title" in err.value.response["response_metadata"]["messages"][0]

    updated = await aclient.views_update(view_id=view["id"], hash=view["hash"], view=modal("Done"))
    assert updated["view"]["title"]["text"] == "Done"
    with pytest.raises(SlackApiError, match="hash_conflict"):
        await aclient.views_update(view_id=view["id"], hash=view["hash"], view=modal())
    await aclient.views_push(trigger_id="t3", view=modal("Step 2"))
    assert [v["title"]["text"] for v in api.views] == ["Done", "Step 2"]


def test_modal_limits(client: WebClient) -> None:
    too_many = modal(blocks=[section(str(i)) for i in range(101)])
    for bad in (too_many, modal(private_metadata="x" * 3001), modal(callback_id="c" * 256)):
        with pytest.raises(SlackApiError, match="invalid_arguments"):
            client.views_open(trigger_id=f"t{time.monotonic_ns()}", view=bad)
    assert client.views_open(trigger_id="ok", view=modal(blocks=[section()] * 100))["ok"]


# -- rate limits and faults -------------------------------------------------------------------


def test_429_is_visible_to_client(api: FakeSlackAPI, client: WebClient) -> None:
    api.fail_next("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel=ALERTS, text="x")
    assert err.value.response.status_code == 429
    assert err.value.response["error"] == "ratelimited"
    assert err.value.response.headers["retry-after"] == "7"
    assert client.chat_postMessage(channel=ALERTS, text="x")["ok"]  # only the next call failed


def test_sync_rate_limit_retry_handler_retries(api: FakeSlackAPI) -> None:
    c = WebClient(token=TOKEN, base_url=api.url)
    c.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    api.fail_next("chat.postMessage", status=429, retry_after=0)

    assert c.chat_postMessage(channel=ALERTS, text="eventually")["ok"]
    assert [call.status for call in api.calls_to("chat.postMessage")] == [429, 200]
    assert len(api.messages(ALERTS)) == 1


async def test_async_rate_limit_retry_handler_retries(api: FakeSlackAPI) -> None:
    c = AsyncWebClient(token=TOKEN, base_url=api.url)
    c.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    api.fail_next("*", status=429, retry_after=0)  # slack-sdk still sleeps up to 1s of jitter

    assert (await c.chat_postMessage(channel=ALERTS, text="eventually"))["ok"]
    assert len(api.calls_to("chat.postMessage", ok=False)) == 1
    assert len(api.calls_to("chat.postMessage", ok=True)) == 1


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors(api: FakeSlackAPI, client: WebClient, status: int) -> None:
    api.fail_next("chat.update", status=status)  # other methods are unaffected
    ts = client.chat_postMessage(channel=ALERTS, text="x")["ts"]
    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel=ALERTS, ts=ts, text="y")
    assert err.value.response.status_code == status


def test_injected_api_error(api: FakeSlackAPI, client: WebClient) -> None:
    api.fail_next("chat.postMessage", status=200, error="not_in_channel")
    with pytest.raises(SlackApiError, match="not_in_channel"):
        client.chat_postMessage(channel=ALERTS, text="x")


async def test_unreachable_drops_connections_but_auth_test_works(api: FakeSlackAPI) -> None:
    # No retry handlers: the default one would retry the dropped connection after a backoff.
    aclient = AsyncWebClient(token=TOKEN, base_url=api.url, retry_handlers=[])
    api.set_unreachable(True)
    assert (await aclient.auth_test())["ok"]
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await aclient.chat_postMessage(channel=ALERTS, text="x")
    assert {c.status for c in api.calls_to("chat.postMessage")} == {0}

    api.set_unreachable(True, mode="503")
    with pytest.raises(SlackApiError) as err:
        await aclient.chat_postMessage(channel=ALERTS, text="x")
    assert err.value.response.status_code == 503

    api.set_unreachable(False)
    assert (await aclient.chat_postMessage(channel=ALERTS, text="x"))["ok"]


def test_channel_rate_limit(api: FakeSlackAPI, client: WebClient) -> None:
    api.set_channel_rate_limit(1.0, burst=2)
    client.chat_postMessage(channel=ALERTS, text="1")
    client.chat_postMessage(channel=ALERTS, text="2")
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel=ALERTS, text="3")
    assert err.value.response.status_code == 429
    assert int(err.value.response.headers["retry-after"]) >= 1
    assert client.chat_postMessage(channel="C0GENERAL", text="other channel")["ok"]


# -- waiting and thread safety -----------------------------------------------------------------


def test_wait_for_sync_from_background_thread(api: FakeSlackAPI, client: WebClient) -> None:
    def later() -> None:
        time.sleep(0.05)
        client.chat_postMessage(channel=ALERTS, text="from a worker")

    threading.Thread(target=later).start()
    call = api.wait_for(lambda c: c.method == "chat.postMessage" and c.ok, timeout=5)
    assert call.params["text"] == "from a worker"
    with pytest.raises(AssertionError, match=r"chat\.delete"):
        api.wait_for("chat.delete", timeout=0.05)


async def test_wait_for_async(api: FakeSlackAPI, aclient: AsyncWebClient) -> None:
    async def background() -> None:
        for i in range(3):
            await aclient.chat_postMessage(channel=ALERTS, text=f"n{i}")

    task = asyncio.create_task(background())
    call: RecordedCall = await api.wait_for_async("chat.postMessage", count=3)
    assert call.params["text"] == "n2"
    await task
    with pytest.raises(RuntimeError, match="wait_for_async"):
        api.wait_for("chat.postMessage")


def test_concurrent_posts_get_unique_increasing_ts(api: FakeSlackAPI) -> None:
    results: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        c = WebClient(token=TOKEN, base_url=api.url)
        for _ in range(10):
            ts = c.chat_postMessage(channel=ALERTS, text="x")["ts"]
            with lock:
                results.append(ts)

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 50
    assert [m["ts"] for m in api.messages(ALERTS)] == sorted(results, key=float)


# -- response_url ------------------------------------------------------------------------------


def test_response_url_records_and_applies(api: FakeSlackAPI, client: WebClient) -> None:
    posted = client.chat_postMessage(channel=ALERTS, text="Restock SKU-1?")
    url = api.response_url("r1", channel=ALERTS, message_ts=posted["ts"], user="U123")
    hook = WebhookClient(url)

    assert hook.send(text="Restocking…", replace_original=True).status_code == 200
    assert api.message(ALERTS, posted["ts"])["text"] == "Restocking…"  # type: ignore[index]
    hook.send(text="just for you")
    assert [e["text"] for e in api.ephemerals(ALERTS, user="U123")] == ["just for you"]
    assert [p["text"] for p in api.responses("r1")] == ["Restocking…", "just for you"]

    bad = hook.send(text="x", blocks=INVALID_BLOCKS["unknown type"])
    assert bad.status_code == 400
    for _ in range(3):
        assert hook.send(text="more").status_code == 200
    assert hook.send(text="sixth").status_code == 404  # Slack allows 5 uses
    hook.send(delete_original=True)
    assert api.message(ALERTS, posted["ts"]) is not None  # the rejected post changed nothing


# -- signed requests ---------------------------------------------------------------------------


def test_signatures_accepted_and_rejected_by_slack_sdk() -> None:
    builder = SlackRequestBuilder("http://127.0.0.1:1", SECRET)
    verifier = SignatureVerifier(SECRET)

    good = builder.slash_command("/stock", "check SKU-1")
    assert verifier.is_valid_request(good.body, good.headers)
    assert "command=%2Fstock" in good.text
    event = builder.event({"type": "app_mention", "text": "hi"})
    assert verifier.is_valid_request(event.body, event.headers)
    assert event.headers["Content-Type"] == "application/json"

    bad = builder.block_action("restock", "SKU-1", bad_signature=True)
    assert not verifier.is_valid_request(bad.body, bad.headers)
    stale = builder.view_submission("restock", {"qty": {"value": "5"}}, timestamp_offset=-600)
    assert not verifier.is_valid_request(stale.body, stale.headers)

    retried = builder.slash_command("/stock", retry_num=1)
    assert retried.headers["X-Slack-Retry-Num"] == "1"
    assert retried.headers["X-Slack-Retry-Reason"] == "http_timeout"


def test_block_action_uses_element_from_message(api: FakeSlackAPI, client: WebClient) -> None:
    blocks = [
        {**section(), "block_id": "sku-1", "accessory": button("restock", value="SKU-1:50")},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "static_select",
                    "action_id": "supplier",
                    "placeholder": {"type": "plain_text", "text": "Supplier"},
                    "options": [
                        {"text": {"type": "plain_text", "text": "Acme"}, "value": "acme"},
                    ],
                }
            ],
        },
    ]
    posted = client.chat_postMessage(channel=ALERTS, text="t", blocks=blocks)
    message = api.message(ALERTS, posted["ts"])
    builder = SlackRequestBuilder("http://127.0.0.1:1", SECRET)

    def payload(req: SignedRequest) -> dict[str, Any]:
        return json.loads(parse_qs(req.text)["payload"][0])

    click = payload(builder.block_action("restock", message=message, channel_id=ALERTS))
    (action,) = click["actions"]
    assert (action["block_id"], action["value"], action["type"]) == ("sku-1", "SKU-1:50", "button")
    assert click["container"]["message_ts"] == posted["ts"]

    pick = payload(builder.block_action("supplier", message=message, selected_option_value="acme"))
    assert pick["actions"][0]["type"] == "static_select"
    assert pick["actions"][0]["selected_option"]["text"]["text"] == "Acme"
    assert pick["actions"][0]["block_id"] == message["blocks"][1]["block_id"]  # type: ignore[index]


# -- end to end with a real Bolt app -------------------------------------------------------------


@pytest.fixture
async def bolt_url(api: FakeSlackAPI) -> AsyncIterator[str]:
    app = AsyncApp(
        client=AsyncWebClient(token=TOKEN, base_url=api.url),
        signing_secret=SECRET,
    )

    @app.command("/stock")
    async def stock(ack: Any, respond: Any, say: Any, command: dict[str, Any]) -> None:
        await ack()
        await respond(f"checking {command['text']}")
        await say(channel=ALERTS, text=f"{command['user_id']} asked about {command['text']}")

    @app.action("restock")
    async def restock(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.chat_update(
            channel=body["container"]["channel_id"],
            ts=body["container"]["message_ts"],
            text=f"restocking {body['actions'][0]['value']}",
        )

    @app.action("snooze")
    async def snooze(ack: Any, respond: Any) -> None:
        await ack()
        await respond(text="Snoozed for 1h", replace_original=True)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    runner = web.AppRunner(app.web_app(), access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        await runner.cleanup()


async def test_sender_drives_a_bolt_app(api: FakeSlackAPI, bolt_url: str) -> None:
    sender = AsyncSlackRequestSender(bolt_url, SECRET)

    resp = await sender.slash_command("/stock", "SKU-1", response_url=api.response_url("cmd"))
    assert resp.status_code == 200
    await api.wait_for_async("response_url/cmd")
    call = await api.wait_for_async("chat.postMessage")
    assert call.params["text"] == "U123 asked about SKU-1"
    assert api.responses("cmd")[0]["text"] == "checking SKU-1"

    msg = api.message(ALERTS, call.response["ts"])
    resp = await sender.block_action("restock", channel_id=ALERTS, message=msg, value="SKU-1:50")
    assert resp.status_code == 200
    await api.wait_for_async("chat.update")
    assert api.message(ALERTS, call.response["ts"])["text"] == "restocking SKU-1:50"  # type: ignore[index]

    # With slack_api= the sender mints response URLs bound to the clicked message.
    bound = AsyncSlackRequestSender(bolt_url, SECRET, slack_api=api)
    snooze = {"type": "actions", "elements": [button("snooze", text="Snooze")]}
    alert_ts = api.add_message(ALERTS, "SKU-2 low", bot=True, blocks=[snooze])
    alert = api.message(ALERTS, alert_ts)
    assert (await bound.block_action("snooze", channel_id=ALERTS, message=alert)).status_code == 200
    await api.wait_for_async(lambda c: c.method.startswith("response_url/"), count=2)
    assert api.message(ALERTS, alert_ts)["text"] == "Snoozed for 1h"  # type: ignore[index]
    assert api.responses()[-1]["replace_original"] is True

    assert (await sender.slash_command("/stock", "x", bad_signature=True)).status_code == 401
    assert (await sender.slash_command("/stock", "x", timestamp_offset=-600)).status_code == 401


def test_sync_sender_reaches_http_endpoint(api: FakeSlackAPI) -> None:
    # The fake's response_url endpoint stands in for an app: it is enough to show the sync
    # sender posts the signed body where it is told to.
    sender = SlackRequestSender(api.base_url, SECRET, path="/response_url/sync")
    resp = sender.event({"type": "app_mention", "text": "hi"})
    assert resp.status_code == 200
    assert api.responses("sync")[0]["event"]["type"] == "app_mention"


# ---- App Home (review11): views.publish ------------------------------------------------------


def test_views_publish_takes_a_home_tab_of_at_most_100_blocks(
    api: FakeSlackAPI, client: WebClient
) -> None:
    home = {"type": "home", "blocks": [section(str(i)) for i in range(100)]}
    first = client.views_publish(user_id="U0ALICE", view=home)["view"]
    again = client.views_publish(user_id="U0ALICE", view={"type": "home", "blocks": [section()]})
    assert again["view"]["id"] == first["id"]  # one Home tab per user, replaced
    assert api.home_view("U0ALICE")["blocks"][0]["text"]["text"] == "Low stock: *SKU-1*"  # type: ignore[index]
    assert api.home_view("U0BOB") is None
    for bad in (modal(), {"type": "home", "blocks": [section(str(i)) for i in range(101)]}):
        with pytest.raises(SlackApiError, match="invalid_arguments"):
            client.views_publish(user_id="U0ALICE", view=bad)
    assert len(api.calls_to("views.publish", ok=True)) == 2


# ---- end of App Home (review11) --------------------------------------------------------------

# -- files (files_upload_v2) ------------------------------------------------------------------

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


async def test_files_upload_v2_shares_a_png_in_a_thread(
    api: FakeSlackAPI, aclient: AsyncWebClient
) -> None:
    parent = await aclient.chat_postMessage(channel=ALERTS, text="SKU-1 is out of stock")

    done = await aclient.files_upload_v2(
        channel=ALERTS, thread_ts=parent["ts"], file=PNG_BYTES, filename="c.png", title="Stock"
    )

    [shared] = api.files_in_thread(ALERTS, parent["ts"])
    assert (shared["title"], shared["name"], shared["content"]) == ("Stock", "c.png", PNG_BYTES)
    assert done["file"]["id"] == shared["id"]
    [reply] = (await aclient.conversations_replies(channel=ALERTS, ts=parent["ts"]))["messages"][1:]
    assert reply["files"][0]["name"] == "c.png"
    assert [c.method for c in api.calls if c.method.startswith(("files.", "upload"))] == [
        "files.getUploadURLExternal",
        "upload_url",
        "files.completeUploadExternal",
    ]
    assert api.warnings == []


async def test_files_upload_v2_refusals(api: FakeSlackAPI, aclient: AsyncWebClient) -> None:
    parent = await aclient.chat_postMessage(channel=ALERTS, text="SKU-1 is out of stock")
    # Bytes that are not the PNG they claim to be never reach the channel.
    with pytest.raises(SlackRequestError, match="not a PNG"):
        await aclient.files_upload_v2(
            channel=ALERTS, thread_ts=parent["ts"], file=b"GIF89a....", filename="c.png"
        )
    assert [w.code for w in api.warnings] == ["bad_upload"]
    with pytest.raises(SlackApiError, match="invalid_thread_ts"):
        await aclient.files_upload_v2(
            channel=ALERTS, thread_ts="1.000001", file=PNG_BYTES, filename="c.png"
        )
    with pytest.raises(SlackApiError, match="file_not_found"):
        await aclient.files_completeUploadExternal(files=[{"id": "F0NOPE"}], channel_id=ALERTS)
    assert api.files_in_thread(ALERTS, parent["ts"]) == []
