"""Block Kit builders: typed pure functions from read models to Slack messages and modals."""
