"""The outbox in Slack's bad moments: rate limits, and alerts Slack never saw."""

from __future__ import annotations

from tests import probes
from tests.helpers import ALERT_CHANNEL_ID, CATALOG_HEADER, Stack

PRODUCTS = 6
CATALOG = [CATALOG_HEADER] + [f"P-{i},Product {i},Acme,A-{i},1,5,1.00" for i in range(PRODUCTS)]


def feed(stack: Stack, **stock: int) -> None:
    """Every product well stocked, but for the ones named (P_0=0)."""
    levels = {f"A-{i}": 50 for i in range(PRODUCTS)}
    levels |= {f"A-{name.split('_')[1]}": qty for name, qty in stock.items()}
    stack.write_feed("Acme", dict(levels))


def rate_limited(stack: Stack, method: str) -> int:
    return sum(1 for call in stack.slack.calls_to(method) if call.status == 429)


async def test_retry_after_holds_the_method_and_channel_for_every_alert(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    stack.write_feed("Acme", {f"A-{i}": 0 for i in range(PRODUCTS)})
    await stack.poll("Acme")
    assert len(stack.alert_messages()) == PRODUCTS
    # Slack rate-limits chat.update for a long while, asking for 30 s each time.
    stack.slack.fail_next("chat.update", status=429, retry_after=30, times=10_000)

    # Six acknowledgements, each waking the delivery worker.
    for alert_id in [alert.id for alert in await probes.alerts(stack)]:
        await stack.runtime.staff.acknowledge(alert_id, "U0ALICE")
        await stack.deliver()

    # One call learnt the Retry-After; the others waited for it instead of asking again.
    assert rate_limited(stack, "chat.update") == 1
    stack.slack.clear_faults()
    await probes.arrange_holds_passed(stack)  # the 30 seconds
    await stack.deliver()
    assert len(stack.slack.calls_to("chat.update", ok=True)) == PRODUCTS
    assert all("Acknowledged" in str(m["blocks"]) for m in stack.alert_messages())


async def test_alert_opened_and_resolved_while_slack_was_down_is_not_posted(
    stack: Stack,
) -> None:
    await stack.import_catalog(CATALOG)
    feed(stack, P_0=0)
    await stack.poll("Acme")
    [seen] = stack.alert_messages()

    stack.slack.set_unreachable(True, mode="503")
    feed(stack, P_0=0, P_1=0)  # P-1 runs out while Slack is down...
    await stack.poll("Acme")
    feed(stack)  # ...and is back, P-0 too
    await stack.poll("Acme")
    stack.slack.set_unreachable(False)
    await probes.arrange_backoff_passed(stack)
    await stack.deliver()

    # P-0's message, seen before, now says resolved; P-1's alert is never posted.
    [message] = stack.alert_messages()
    assert message["ts"] == seen["ts"]
    assert message["text"] == "✅ P-0 back in stock at Acme (50)"
    assert stack.slack.message(ALERT_CHANNEL_ID, seen["ts"]) is not None
    assert [a.id for a in await probes.alerts(stack) if a.needs_sync] == []
