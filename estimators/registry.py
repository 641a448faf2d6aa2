"""A name -> entry registry whose unknown-name error lists the known names."""
from __future__ import annotations

import inspect
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries found by their ``name`` attribute; used for estimators, problems and suites."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, entry: T) -> T:
        """Add ``entry`` under ``entry.name`` (usable as a class decorator)."""
        name = entry.name
        if name in self._entries and self._entries[name] is not entry:
            raise ValueError(f"{self.kind} name {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def lookup(self, name: str) -> T:
        """The entry called ``name``, or ``ValueError`` listing the known names."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise ValueError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}") from None

    def describe(self, name: str) -> str:
        """First docstring line of an entry: what it is."""
        return (self.lookup(name).__doc__ or "").strip().splitlines()[0]


def check_keywords(kind: str, name: str, function: Callable[..., Any], given: dict[str, Any]) -> None:
    """``ValueError`` naming the keywords ``function`` does not accept, and those it does."""
    accepted = [p for p in inspect.signature(function).parameters if p != "self"]
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for {kind} {name!r}; "
                         f"allowed: {', '.join(accepted) or 'none'}")
