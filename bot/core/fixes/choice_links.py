"""Customers' choice links: `[web] public_url` + `/choice/<token>`.

The token is the order's and the product's ids (and a link version) signed with
`STOCKBOT_LINK_SECRET` (itsdangerous, HMAC-SHA256): it cannot be guessed, and it
cannot be moved to another order or product. Whether a genuine link is still alive
(the order open, holding the product) is the database's to say, each time.
"""

from __future__ import annotations

import hashlib

from itsdangerous import BadData, URLSafeSerializer

from bot.config import Settings

CHOICE_PATH = "/choice/"
LINK_SALT = "stockbot-choice-link"
# Part of every signed token: a new version (another payload) leaves old links dead.
LINK_VERSION = 1
# Longer tokens are no tokens of ours: not even checked.
MAX_TOKEN = 200


class ChoiceLinks:
    """Signs and reads choice links; disabled (no links) without `[web] public_url`."""

    def __init__(self, public_url: str | None, secret: str | None) -> None:
        self.public_url = public_url.rstrip("/") if public_url else None
        self._serializer = (
            URLSafeSerializer(
                secret,
                salt=LINK_SALT,
                signer_kwargs={"digest_method": hashlib.sha256},
            )
            if secret
            else None
        )

    @classmethod
    def of(cls, settings: Settings) -> ChoiceLinks:
        secret = settings.link_secret.get_secret_value() if settings.link_secret else None
        return cls(settings.web.public_url, secret)

    @property
    def enabled(self) -> bool:
        return self.public_url is not None and self._serializer is not None

    def token(self, order_id: int, product_id: int) -> str:
        assert self._serializer is not None
        return str(self._serializer.dumps([LINK_VERSION, order_id, product_id]))

    def link(self, order_id: int, product_id: int) -> str | None:
        """The customer's link for one order and product; None when links are off."""
        if not self.enabled:
            return None
        return f"{self.public_url}{CHOICE_PATH}{self.token(order_id, product_id)}"

    def read(self, token: str) -> tuple[int, int] | None:
        """(order id, product id) of a genuine token; None for anything else."""
        if self._serializer is None or len(token) > MAX_TOKEN:
            return None
        try:
            payload = self._serializer.loads(token)
        except BadData:
            return None
        if (
            not isinstance(payload, list)
            or len(payload) != 3
            or payload[0] != LINK_VERSION
            or not all(type(part) is int for part in payload[1:])
        ):
            return None
        return payload[1], payload[2]
