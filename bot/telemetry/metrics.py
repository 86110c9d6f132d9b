"""The counters Stockbot keeps, in Prometheus' own types (prometheus-client).

Counters and histograms are updated where things happen; the figures that the
database already knows (open alerts, outbox depth, supplier health) are read when
`/metrics` is scraped (`bot.views.health`), so replicas never disagree about them.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

POLLS = Counter(
    "stockbot_polls", "Supplier polls, by outcome.", ["supplier", "outcome"], registry=REGISTRY
)
POLL_SECONDS = Histogram(
    "stockbot_poll_duration_seconds",
    "How long one poll of a supplier took, fetch to commit.",
    ["supplier"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
    registry=REGISTRY,
)
ROWS_READ = Counter(
    "stockbot_poll_rows_read", "Feed rows read, by supplier.", ["supplier"], registry=REGISTRY
)
ROWS_SET_ASIDE = Counter(
    "stockbot_poll_rows_set_aside",
    "Feed rows set aside as malformed, by supplier.",
    ["supplier"],
    registry=REGISTRY,
)
SLACK_CALLS = Counter(
    "stockbot_slack_calls",
    "Slack Web API calls, by method and HTTP status.",
    ["method", "status"],
    registry=REGISTRY,
)
EMAILS = Counter(
    "stockbot_customer_emails", "Customer emails, by outcome.", ["outcome"], registry=REGISTRY
)
WEBHOOKS = Counter(
    "stockbot_webhook_deliveries",
    "Store webhook deliveries, by store kind and outcome.",
    ["store", "outcome"],
    registry=REGISTRY,
)

# Read from the database at scrape time.
ALERTS_OPEN = Gauge("stockbot_alerts_open", "Open alerts, by kind.", ["kind"], registry=REGISTRY)
OUTBOX_DEPTH = Gauge(
    "stockbot_outbox_depth",
    "Alert messages and thread notes waiting to reach Slack.",
    registry=REGISTRY,
)
OUTBOX_OLDEST_SECONDS = Gauge(
    "stockbot_outbox_oldest_age_seconds",
    "Age of the oldest item waiting to reach Slack (0 when none waits).",
    registry=REGISTRY,
)
SUPPLIER_FAILURES = Gauge(
    "stockbot_supplier_consecutive_failures",
    "Failed polls in a row, by supplier.",
    ["supplier"],
    registry=REGISTRY,
)
SUPPLIER_LEASE_HELD = Gauge(
    "stockbot_supplier_lease_held",
    "1 while this process holds the supplier's poll lease (is polling it), 0 otherwise.",
    ["supplier"],
    registry=REGISTRY,
)
