"""Fixed sentences Stockbot says in Slack, in one place so every surface says them alike."""

GENERIC_ERROR = (
    "Sorry, something went wrong on Stockbot's side and nothing was changed. "
    "Please try again; if it keeps happening, tell whoever set Stockbot up."
)
NOT_ALLOWED = (
    "Sorry, you are not allowed to do that in Stockbot, so nothing was changed. "
    "Ask whoever set Stockbot up to add you to `[access]` in its configuration."
)
STALE_BUTTON = "That button is out of date; use the latest alert message."
STALE_FORM = "That form is out of date, so nothing was changed: open it again from the alert."
SLOW_FORM = "Slack did not open the form ({error}); please try again."

SWITCH_USAGE = (
    "Usage: `/switch-supplier SKU SUPPLIER`, e.g. `/switch-supplier MUG-001 Nordic Goods`."
)
SUBSTITUTE_USAGE = "Usage: `/substitute SKU SUBSTITUTE_SKU`, e.g. `/substitute MUG-001 MUG-002`."
NOTIFY_USAGE = (
    "Usage: `/notify-customers SKU` opens a form to email every customer waiting for that "
    "product, with a preview. The *Email customers* button on an alert does the same."
)
BACKORDERS_USAGE = (
    "Type `/backorders` for every product, `/backorders SKU` for one product's orders, "
    "or `/backorders ORDER_ID` for one order's story."
)
PICK_A_SUBSTITUTE = "Pick a substitute."
EMPTY_MESSAGE = "Write the message the customers will get."
