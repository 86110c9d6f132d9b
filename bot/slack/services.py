"""The services Slack listeners call, handed over from the runtime that built them."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.fixes.customer_notices import CustomerNotifier
from bot.core.fixes.staff_actions import FixActions, StaffActions
from bot.runtime import Runtime
from bot.slack.access import AccessPolicy
from bot.views.lookup import StockLookup


@dataclass(frozen=True, slots=True)
class Services:
    staff: StaffActions
    fixes: FixActions
    notifier: CustomerNotifier
    lookup: StockLookup
    access: AccessPolicy
    alert_channel: str

    @classmethod
    def build(cls, runtime: Runtime) -> Services:
        return cls(
            staff=runtime.staff,
            fixes=runtime.fixes,
            notifier=runtime.notifier,
            lookup=runtime.lookup,
            access=runtime.access,
            alert_channel=runtime.settings.slack.alert_channel,
        )
