"""What Slack sends back to us, parsed into small typed models in this one place:
button and menu values, modal metadata, command arguments and modal inputs.

Button values keep the wire format of messages already posted in Slack: the fields
joined by ":" ("12", "12:34", "12:4h"). Modal metadata is compact JSON. A value that
does not parse (an old message, a hand-made request, an impossible ID) raises
`OutOfDate`, a `UserError` the person sees as one plain sentence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from bot.core.alerts import SNOOZE_CHOICES
from bot.db.models import NoticeKind
from bot.errors import UserError
from bot.slack.ids import ActionId, BlockId
from bot.slack.texts import STALE_BUTTON, STALE_FORM, SUBSTITUTE_USAGE, SWITCH_USAGE

# IDs are positive and fit in 63 bits; the ID columns are INTEGER, which PostgreSQL keeps
# in 32 bits, so a larger number is no ID of ours and must not reach the database.
MAX_ID = 2**31 - 1
METADATA_LIMIT = 3000  # Slack's limit on a modal's private_metadata
_DIGITS = re.compile(r"[0-9]{1,10}")


class OutOfDate(UserError):
    """A button or form that no longer matches anything Stockbot knows; nothing changed."""


def _plain_digits(raw: object) -> object:
    # int() would also take " 7", "+7", "7_0" or other scripts' digits; a bool is no ID.
    if isinstance(raw, bool) or (isinstance(raw, str) and not _DIGITS.fullmatch(raw)):
        raise ValueError("not an ID")
    return raw


def _snooze_length(raw: str) -> str:
    if raw not in SNOOZE_CHOICES:
        raise ValueError("not a snooze length")
    return raw


Id = Annotated[int, BeforeValidator(_plain_digits), Field(ge=1, le=MAX_ID)]
SnoozeLength = Annotated[str, AfterValidator(_snooze_length)]


class ButtonValue(BaseModel):
    """A button's or menu option's value: its fields, in order, joined by ":"."""

    model_config = ConfigDict(frozen=True)

    @classmethod
    def parse(cls, raw: str) -> Self:
        names = list(cls.model_fields)
        parts = raw.split(":")
        if len(parts) != len(names):
            raise OutOfDate(STALE_BUTTON)
        try:
            return cls.model_validate(dict(zip(names, parts, strict=True)))
        except ValidationError:
            raise OutOfDate(STALE_BUTTON) from None

    def encode(self) -> str:
        return ":".join(str(getattr(self, name)) for name in type(self).model_fields)


class AlertRef(ButtonValue):
    """Acknowledge, substitute, email customers: "alert_id"."""

    alert_id: Id


class OfferChoice(ButtonValue):
    """Switch to this supplier's offer: "alert_id:offer_id"."""

    alert_id: Id
    offer_id: Id


class SnoozeChoice(ButtonValue):
    """Snooze for this long: "alert_id:4h"."""

    alert_id: Id
    length: SnoozeLength


class MenuItem(StrEnum):
    """What an option of a product alert's overflow menu does."""

    SNOOZE_1H = "snooze_1h"
    SNOOZE_4H = "snooze_4h"
    SNOOZE_24H = "snooze_24h"
    SUBSTITUTE = "substitute"
    NOTIFY = "notify"

    @property
    def snooze_length(self) -> str | None:
        """The snooze length ("4h") of a snooze item; None for the others."""
        return self.value.removeprefix("snooze_") if self.value.startswith("snooze_") else None


class MenuChoice(ButtonValue):
    """An option of the overflow menu: "substitute:12", "snooze_4h:12"."""

    item: MenuItem
    alert_id: Id


class CancelRef(ButtonValue):
    """Cancel in its store the order whose customer chose to: "alert_id:choice_id"."""

    alert_id: Id
    choice_id: Id


class SwitchRef(ButtonValue):
    """Undo this switch: "audit_id"."""

    audit_id: Id


class Form(BaseModel):
    """A modal's private_metadata: what it is about, and the channel to answer in
    (a submission has no response_url)."""

    model_config = ConfigDict(frozen=True)

    channel_id: str | None = None

    @classmethod
    def parse(cls, raw: str) -> Self:
        try:
            return cls.model_validate_json(raw or "{}")
        except ValidationError:
            raise OutOfDate(STALE_FORM) from None

    def encode(self) -> str:
        text = self.model_dump_json()
        assert len(text) <= METADATA_LIMIT, "modal metadata over Slack's limit"
        return text


class SubstituteForm(Form):
    alert_id: Id | None
    product_id: Id
    sku: str


class NotifyForm(Form):
    alert_id: Id | None
    product_id: Id
    # Which email: the notice, a date update or back in stock (older modals: the notice).
    kind: NoticeKind = NoticeKind.NOTICE


class CommandArgs(BaseModel):
    """A slash command's two arguments; with `rest`, the second is all after the first word."""

    model_config = ConfigDict(frozen=True)

    usage: ClassVar[str]
    rest: ClassVar[bool] = False

    @classmethod
    def parse(cls, text: str) -> Self:
        first, _, second = " ".join(text.split()).partition(" ")
        if not first or not second or (" " in second and not cls.rest):
            raise UserError(cls.usage)
        return cls.model_validate(dict(zip(cls.model_fields, (first, second), strict=True)))


class SwitchArgs(CommandArgs):
    """`/switch-supplier SKU SUPPLIER` (the supplier's name may have spaces)."""

    usage = SWITCH_USAGE
    rest = True
    sku: str
    supplier: str


class SubstituteArgs(CommandArgs):
    """`/substitute SKU SUBSTITUTE_SKU`."""

    usage = SUBSTITUTE_USAGE
    sku: str
    substitute_sku: str


def clicked_value(action: Mapping[str, Any]) -> str:
    """The raw value of a clicked button, or of the option chosen in a menu."""
    chosen = action.get("selected_option") or {}
    return str(action.get("value") or chosen.get("value") or "")


def form_input(view: Mapping[str, Any], block: BlockId, action: ActionId) -> str:
    """What was typed or chosen in one input of a submitted modal ("" when left empty)."""
    inputs = ((view.get("state") or {}).get("values") or {}).get(block) or {}
    element = inputs.get(action) or {}
    chosen = element.get("selected_option") or {}
    return str(element.get("value") or chosen.get("value") or "").strip()
