"""What people do from Slack, as services: each opens its own transaction."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core import alerts, substitution, switching
from bot.core.search import close_matches
from bot.db.models import Alert, Product
from bot.errors import UserError
from bot.slack.outbox import Deliverer
from bot.views import lookup

__all__ = ["FixActions", "StaffActions"]


@dataclass
class StaffActions:
    sessions: async_sessionmaker[AsyncSession]
    deliverer: Deliverer

    async def acknowledge(self, alert_id: int, user_id: str) -> None:
        async with self.sessions() as session, session.begin():
            await alerts.acknowledge(session, alert_id, user_id)
        self.deliverer.kick()

    async def snooze(self, alert_id: int, user_id: str, choice: str) -> None:
        async with self.sessions() as session, session.begin():
            await alerts.snooze(session, alert_id, user_id, choice)
        self.deliverer.kick()

    async def stock(self, query: str) -> lookup.Answer:
        async with self.sessions() as session:
            return await lookup.lookup(session, query)

    async def wake_snoozed(self) -> int:
        async with self.sessions() as session, session.begin():
            woken = await alerts.wake_snoozed(session)
        if woken:
            self.deliverer.kick()
        return woken


@dataclass
class FixActions:
    """Switch supplier, undo a switch, choose a substitute: each in one transaction."""

    sessions: async_sessionmaker[AsyncSession]
    deliverer: Deliverer
    channel: str

    async def _product_id(
        self, session: AsyncSession, alert_id: int | None, sku: str | None
    ) -> int:
        if alert_id is not None:
            alert = await session.get(Alert, alert_id)
            if alert is None or alert.product_id is None:
                raise UserError("That alert is not about a product any more.")
            return alert.product_id
        product = await substitution.product_by_sku(session, sku or "")
        if product is None:
            matches = await close_matches(session, sku or "")
            hint = (
                " Did you mean " + ", ".join(f"`{s}`" for s, _ in matches) + "?" if matches else ""
            )
            raise UserError(f"There is no product `{sku}` in the catalog.{hint}")
        return product.id

    async def switch(
        self,
        user_id: str,
        *,
        alert_id: int | None = None,
        sku: str | None = None,
        offer_id: int | None = None,
        supplier_name: str | None = None,
    ) -> switching.SwitchResult:
        async with self.sessions() as session, session.begin():
            product_id = await self._product_id(session, alert_id, sku)
            result = await switching.switch_supplier(
                session,
                product_id=product_id,
                actor=user_id,
                channel=self.channel,
                offer_id=offer_id,
                supplier_name=supplier_name,
                alert_id=alert_id,
                reason="chosen in Slack",
            )
        self.deliverer.kick()
        return result

    async def undo_switch(self, user_id: str, audit_id: int) -> switching.SwitchResult:
        async with self.sessions() as session, session.begin():
            result = await switching.undo_switch(
                session, audit_id=audit_id, actor=user_id, channel=self.channel
            )
        self.deliverer.kick()
        return result

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
        async with self.sessions() as session, session.begin():
            product_id = await self._product_id(session, alert_id, sku)
            result = await substitution.choose_substitute(
                session,
                product_id=product_id,
                substitute_sku=substitute_sku,
                actor=user_id,
                note=note,
                alert_id=alert_id,
            )
        self.deliverer.kick()
        return result
