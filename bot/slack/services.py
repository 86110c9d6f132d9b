"""The services Slack listeners call; the composition root (bot/app.py) hands them over."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.fixes.choices import CustomerChoices
from bot.core.fixes.customer_notices import CustomerNotifier
from bot.core.fixes.staff_actions import FixActions, StaffActions
from bot.slack.access import AccessPolicy
from bot.slack.review import HomeTabs
from bot.views.lookup import StockLookup
from bot.views.review import ReviewBoard


@dataclass(frozen=True, slots=True)
class Services:
    staff: StaffActions
    fixes: FixActions
    notifier: CustomerNotifier
    choices: CustomerChoices
    lookup: StockLookup
    board: ReviewBoard  # /suppliers
    home: HomeTabs  # the App Home dashboard
    access: AccessPolicy
    alert_channel: str
    # ISO 4217 code the catalog's prices are in ([catalog] currency).
    currency: str
