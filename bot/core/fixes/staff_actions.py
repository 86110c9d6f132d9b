"""What people do from Slack, as services: each change runs in its own transaction.

The services know nothing of Slack: after each change they call `on_change`
(the composition root passes the delivery worker's `kick`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import alerts
from bot.core.fixes import substitution, switching
from bot.core.fixes.service import Service
from bot.core.search import close_matches, product_by_sku
from bot.db.models import Alert, Product
from bot.errors import UserError

__all__ = ["FixActions", "StaffActions"]

T = TypeVar("T")


@dataclass
class StaffActions(Service):
    """Acknowledge and snooze alerts; wake the snoozes that are due."""

    async def acknowledge(self, alert_id: int, user_id: str) -> None:
        await self._change(lambda session: alerts.acknowledge(session, alert_id, user_id))

    async def snooze(self, alert_id: int, user_id: str, choice: str) -> None:
        await self._change(lambda session: alerts.snooze(session, alert_id, user_id, choice))

    async def wake_snoozed(self) -> int:
        async with self.writes() as session, session.begin():
            woken = await alerts.wake_snoozed(session)
        if woken:
            self.on_change()
        return woken


@dataclass
class FixActions(Service):
    """Switch supplier, undo a switch, choose a substitute: each in one transaction."""

    channel: str

    async def _product_id(
        self, session: AsyncSession, alert_id: int | None, sku: str | None
    ) -> int:
        if alert_id is not None:
            alert = await session.get(Alert, alert_id)
            if alert is None or alert.product_id is None:
                raise UserError("That alert is not about a product any more.")
            return alert.product_id
        product = await product_by_sku(session, sku or "")
        if product is None:
            matches = await close_matches(session, sku or "")
            hint = (
                " Did you mean " + ", ".join(f"`{s}`" for s, _ in matches) + "?" if matches else ""
            )
            raise UserError(f"There is no product `{sku}` in the catalog.{hint}")
        return product.id

    async def _change_product(
        self,
        alert_id: int | None,
        sku: str | None,
        work: Callable[..., Awaitable[T]],
    ) -> T:
        """Run `work(session, product_id=...)` for the product of an alert or a SKU."""

        async def on_product(session: AsyncSession) -> T:
            return await work(session, product_id=await self._product_id(session, alert_id, sku))

        return await self._change(on_product)

    async def switch(
        self,
        user_id: str,
        *,
        alert_id: int | None = None,
        sku: str | None = None,
        offer_id: int | None = None,
        supplier_name: str | None = None,
    ) -> switching.SwitchResult:
        switch = partial(
            switching.switch_supplier,
            actor=user_id,
            channel=self.channel,
            offer_id=offer_id,
            supplier_name=supplier_name,
            alert_id=alert_id,
            reason="chosen in Slack",
        )
        return await self._change_product(alert_id, sku, switch)

    async def undo_switch(self, user_id: str, audit_id: int) -> switching.SwitchResult:
        undo = partial(
            switching.undo_switch, audit_id=audit_id, actor=user_id, channel=self.channel
        )
        return await self._change(undo)

    async def substitute_choices(
        self, query: str, *, alert_id: int | None = None, sku: str | None = None
    ) -> list[substitution.SubstituteChoice]:
        async with self.sessions() as session:
            product_id = await self._product_id(session, alert_id, sku)
            return await substitution.substitute_choices(
                session, exclude_product_id=product_id, query=query
            )

    async def product_title(
        self, *, alert_id: int | None = None, sku: str | None = None
    ) -> tuple[int, str, str]:
        """(product id, SKU, title) of the product an alert or a typed SKU is about."""
        async with self.sessions() as session:
            product_id = await self._product_id(session, alert_id, sku)
            product = await session.get(Product, product_id)
            assert product is not None
            return product.id, product.sku, product.title

    async def substitute(
        self,
        user_id: str,
        substitute_sku: str,
        *,
        alert_id: int | None = None,
        sku: str | None = None,
        note: str = "",
    ) -> substitution.SubstitutionResult:
        choose = partial(
            substitution.choose_substitute,
            substitute_sku=substitute_sku,
            actor=user_id,
            note=note,
            alert_id=alert_id,
        )
        return await self._change_product(alert_id, sku, choose)
