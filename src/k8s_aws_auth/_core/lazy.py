"""Module-level ``__getattr__``/``__dir__`` that import a package's public names on first use.

Import-free on purpose: the package ``__init__`` of the ``k8s-aws-auth token``
start-up path uses it, where even ``typing`` costs milliseconds.
"""

from __future__ import annotations

# Not `from typing import TYPE_CHECKING`: see the module docstring.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping


def lazy_exports(
    package: str,
    namespace: dict[str, object],
    where: Mapping[str, str],
    public: Iterable[str],
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` (whose globals are ``namespace``).

    ``where`` maps each lazily loaded name to the module that defines it
    (relative to ``package``, or absolute: a seam module such as
    ``credentials.internal`` names its package's modules in full); a loaded
    name is stored in ``namespace`` so
    the next lookup does not come back here. ``__dir__`` lists the globals and
    the ``public`` names (the package's ``__all__``).
    """
    listed = frozenset(public)

    def __getattr__(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        # __import__ rather than importlib.import_module: importing the importlib
        # package costs the exec plugin's start-up more than the lookup itself. A
        # non-empty from-list makes it return the module itself; `__name__` (always
        # there) keeps it from importing submodules of a package.
        level = len(module) - len(module.lstrip("."))
        context = {"__package__": package, "__name__": package}
        imported = __import__(module[level:], context, None, ("__name__",), level)
        value = getattr(imported, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | listed)

    return __getattr__, __dir__
