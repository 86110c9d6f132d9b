"""The services Slack listeners call, built once per app from the runtime."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.customer_notices import CustomerNotifier
from bot.core.staff_actions import FixActions, StaffActions
from bot.runtime import Runtime
from bot.slack.access import AccessPolicy


@dataclass(frozen=True, slots=True)
class Services:
    staff: StaffActions
    fixes: FixActions
    notifier: CustomerNotifier
    access: AccessPolicy
    alert_channel: str

    @classmethod
    def build(cls, runtime: Runtime) -> Services:
        channel = runtime.settings.slack.alert_channel
        return cls(
            staff=StaffActions(runtime.sessions, runtime.deliverer),
            fixes=FixActions(runtime.sessions, runtime.deliverer, channel),
            notifier=CustomerNotifier(runtime.sessions, runtime.deliverer, runtime.settings),
            access=runtime.access,
            alert_channel=channel,
        )
