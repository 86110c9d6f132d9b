"""The counters Stockbot keeps, in Prometheus' own types (prometheus-client).

Counters and histograms are updated where things happen; the figures that the
database already knows (open alerts, outbox depth, supplier health) are read when
`/metrics` is scraped (`bot.views.health`), so replicas never disagree about them.
"""

from __future__ import annotations

from functools import partial

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)
# Every metric is Stockbot's own registry's (not the process-wide default one).
counter = partial(Counter, registry=REGISTRY)
gauge = partial(Gauge, registry=REGISTRY)
histogram = partial(Histogram, registry=REGISTRY)

POLLS = counter("stockbot_polls", "Supplier polls, by outcome.", ["supplier", "outcome"])
POLL_SECONDS = histogram(
    "stockbot_poll_duration_seconds",
    "How long one poll of a supplier took, fetch to commit.",
    ["supplier"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
ROWS_READ = counter("stockbot_poll_rows_read", "Feed rows read, by supplier.", ["supplier"])
ROWS_SET_ASIDE = counter(
    "stockbot_poll_rows_set_aside",
    "Feed rows set aside as malformed, by supplier.",
    ["supplier"],
)
SLACK_CALLS = counter(
    "stockbot_slack_calls",
    "Slack Web API calls, by method and HTTP status.",
    ["method", "status"],
)
EMAILS = counter("stockbot_customer_emails", "Customer emails, by outcome.", ["outcome"])
WEBHOOKS = counter(
    "stockbot_webhook_deliveries",
    "Store webhook deliveries, by store kind and outcome.",
    ["store", "outcome"],
)

# Read from the database at scrape time.
ALERTS_OPEN = gauge("stockbot_alerts_open", "Open alerts, by kind.", ["kind"])
OUTBOX_DEPTH = gauge(
    "stockbot_outbox_depth",
    "Alert messages and thread notes waiting to reach Slack.",
)
OUTBOX_OLDEST_SECONDS = gauge(
    "stockbot_outbox_oldest_age_seconds",
    "Age of the oldest item waiting to reach Slack (0 when none waits).",
)
SUPPLIER_FAILURES = gauge(
    "stockbot_supplier_consecutive_failures",
    "Failed polls in a row, by supplier.",
    ["supplier"],
)
SUPPLIER_LEASE_HELD = gauge(
    "stockbot_supplier_lease_held",
    "1 while this process holds the supplier's poll lease (is polling it), 0 otherwise.",
    ["supplier"],
)
