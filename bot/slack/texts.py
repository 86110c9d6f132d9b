"""Fixed sentences Stockbot says in Slack, in one place so every surface says them alike."""

GENERIC_ERROR = (
    "Sorry, something went wrong on Stockbot's side and nothing was changed. "
    "Please try again; if it keeps happening, tell whoever set Stockbot up."
)
