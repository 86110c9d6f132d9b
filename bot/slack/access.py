"""Who may act from Slack: listed users, and members of listed user groups."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError

from bot.config import AccessSection
from bot.errors import UserError

if TYPE_CHECKING:  # the Slack client loads aiohttp: only when Slack is configured
    from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

OPEN_ACCESS_WARNING = (
    "No [access] table in the configuration: every member of the workspace may act "
    "(switch suppliers, email customers…). Add [access] allowed_users / allowed_usergroups."
)
GROUP_CACHE_SECONDS = 300.0
GROUP_LOOKUP_SECONDS = 1.5


class NotAllowed(UserError):
    """The person may look but not act; nothing was changed."""


class AccessPolicy:
    def __init__(self, access: AccessSection | None, client: AsyncWebClient | None) -> None:
        self.access = access
        self.client = client
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}

    @property
    def open_to_all(self) -> bool:
        return self.access is None

    async def may_act(self, user_id: str) -> bool:
        if self.access is None:
            return True
        if user_id in self.access.allowed_users:
            return True
        try:
            # The check runs before the ack, which Slack wants within 3 s: a slow
            # answer about user groups denies rather than makes the person wait.
            async with asyncio.timeout(GROUP_LOOKUP_SECONDS):
                for group in self.access.allowed_usergroups:
                    if user_id in await self._members(group):
                        return True
        except TimeoutError:
            log.warning(
                "reading user groups took over %ss; %s denied", GROUP_LOOKUP_SECONDS, user_id
            )
        return False

    async def _members(self, group: str) -> frozenset[str]:
        cached = self._groups.get(group)
        if cached and time.monotonic() - cached[0] < GROUP_CACHE_SECONDS:
            return cached[1]
        if self.client is None:
            return frozenset()
        try:
            response = await self.client.usergroups_users_list(usergroup=group)
        except SlackApiError as exc:
            # Deny rather than guess; say why in the log for whoever runs the bot.
            log.warning("cannot read user group %s: %s", group, exc.response.get("error"))
            return cached[1] if cached else frozenset()
        members = frozenset(response.get("users") or ())
        self._groups[group] = (time.monotonic(), members)
        return members
