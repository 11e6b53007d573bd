"""A small name → object registry that rejects duplicates and lists valid names on a miss."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import fields
from typing import Any, Generic, TypeVar

from p2pbench.errors import BadInputError, InvalidTypeError

T = TypeVar("T")
C = TypeVar("C")


def config_from_options(cls: type[C], options: Mapping[str, Any], kind: str) -> C:
    """Build the frozen config dataclass `cls`; an unknown option is an error listing the valid.

    (A misspelled keyword must never be ignored silently.)
    """
    valid = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(options) - valid)
    if unknown:
        raise InvalidTypeError(
            f"unknown {kind} option(s) {unknown}; valid options: {', '.join(sorted(valid))}"
        )
    return cls(**options)


class UnknownNameError(BadInputError, KeyError):
    """Raised when a name is not registered; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError quotes its argument; show the message as written
        return str(self.args[0])


class Registry(Generic[T]):
    """Maps names to entries of one kind (generators, discriminators, protocols, ...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of `add`."""

        def decorate(entry: T) -> T:
            return self.add(name, entry)

        return decorate

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; valid names: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
