"""Adapter classes by their `kind`, as the config names them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar, Protocol, TypeVar


class _Kinded(Protocol):
    kind: ClassVar[str]


T = TypeVar("T", bound=_Kinded)


class KindRegistry(dict[str, type[T]]):
    """`kind` -> adapter class; `lookup` explains an unknown kind."""

    def __init__(self, noun: str, classes: Iterable[type[T]]) -> None:
        super().__init__((cls.kind, cls) for cls in classes)
        self.noun = noun  # "supplier", "store"

    def lookup(self, kind: str) -> type[T]:
        try:
            return self[kind]
        except KeyError:
            known = ", ".join(sorted(self)) or "none"
            raise KeyError(f"unknown {self.noun} kind {kind!r} (known kinds: {known})") from None
