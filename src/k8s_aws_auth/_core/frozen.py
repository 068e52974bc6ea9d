"""A minimal frozen value base for the exec plugin's start-up path.

kubectl starts ``k8s-aws-auth token`` for every command and importing attrs
costs about 20 ms, so the few value types that path touches (``Partition``,
``ExecInfo``, ``SigningKeys``) derive from this instead of ``attrs.frozen``:
immutable after ``__init__``, compared, hashed and shown by their slots.
"""

from __future__ import annotations

# `typing` costs milliseconds on the plugin's start-up path; mypy treats this name as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

__all__ = ["Frozen"]


class Frozen:
    """Immutable slotted value: subclasses name their fields in ``__slots__`` and set them
    with `_init()`; ``repr_hidden`` lists fields left out of ``repr`` (secrets)."""

    __slots__: tuple[str, ...] = ()
    repr_hidden: frozenset[str] = frozenset()

    def _init(self, **fields: object) -> None:
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot set {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frozen) or type(other) is not type(self):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._fields()))

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name in self.__slots__
            if name not in self.repr_hidden
        )
        return f"{type(self).__name__}({shown})"
