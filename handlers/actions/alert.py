"""Acknowledge and snooze: the alert message updates itself and notes who did it."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck

from bot.slack.services import Services
from bot.slack.values import AlertRef, SnoozeChoice


async def acknowledge(ack: AsyncAck, clicked: AlertRef, user_id: str, services: Services) -> None:
    await ack()
    await services.staff.acknowledge(clicked.alert_id, user_id)


async def snooze(ack: AsyncAck, clicked: SnoozeChoice, user_id: str, services: Services) -> None:
    await ack()
    await services.staff.snooze(clicked.alert_id, user_id, clicked.length)
