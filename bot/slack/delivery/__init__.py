"""What Stockbot sends to Slack on its own, in the background: alert messages (the
outbox, its order and Retry-After holds) and the charts in their threads."""
