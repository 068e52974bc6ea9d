"""SHA-256, SHA-1 and HMAC-SHA256 without importing hashlib at start-up.

``import hashlib`` loads the OpenSSL binding (``_hashlib``) and costs the exec
plugin's one-shot process about 2.5 ms, a tenth of its whole run, to hash a few
hundred bytes. CPython also ships its own implementations as small builtin
modules (``_sha256`` on 3.10 and 3.11, ``_sha2`` from 3.12; ``_sha1``), with
hashlib's interface and results: this module uses them until something in the
process has imported hashlib anyway, then OpenSSL's, about three times faster
per hash, for long-running processes. An interpreter built without them
(``--without-builtin-hashlib-hashes``) gets hashlib. HMAC is RFC 2104, written
out from its definition so that ``hmac`` stays unimported too.
"""

from __future__ import annotations

import sys

# `typing` costs milliseconds on the plugin's start-up path; mypy treats this name as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from hashlib import _Hash

    HashFactory = Callable[[bytes], _Hash]

__all__ = ["hmac_sha256", "sha1", "sha256"]


def _builtin(module_names: tuple[str, ...], name: str) -> HashFactory | None:
    """The first of ``module_names`` that imports: its ``name`` (``None``: hashlib's only)."""
    for module_name in module_names:
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        factory: HashFactory = getattr(module, name)
        return factory
    return None


_BUILTIN_SHA256 = _builtin(("_sha2", "_sha256"), "sha256")
_BLOCK_SIZE = 64  # SHA-256's, which HMAC pads the key to
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def _hashlib_factory(name: str) -> HashFactory:
    import hashlib

    factory: HashFactory = getattr(hashlib, name)
    return factory


def sha256_factory() -> HashFactory:
    """The SHA-256 constructor to use now: OpenSSL's once hashlib is loaded, else the builtin."""
    if _BUILTIN_SHA256 is None or "hashlib" in sys.modules:
        return _hashlib_factory("sha256")
    return _BUILTIN_SHA256


def sha256(data: bytes = b"") -> _Hash:
    """A SHA-256 object over ``data``, as ``hashlib.sha256(data)``."""
    return sha256_factory()(data)


def sha1(data: bytes = b"") -> _Hash:
    """A SHA-1 object over ``data``, as ``hashlib.sha1(data)`` (cache file names, not security)."""
    builtin = None if "hashlib" in sys.modules else _builtin(("_sha1",), "sha1")
    return (builtin or _hashlib_factory("sha1"))(data)


def hmac_pads(key: bytes, factory: HashFactory | None = None) -> tuple[_Hash, _Hash]:
    """The inner and outer SHA-256 states of HMAC-SHA256 keyed with ``key`` (RFC 2104).

    A caller that signs many messages with one key copies these instead of
    hashing the padded key again each time.
    """
    new = factory or sha256_factory()
    if len(key) > _BLOCK_SIZE:
        key = new(key).digest()
    key = key.ljust(_BLOCK_SIZE, b"\0")
    return new(key.translate(_IPAD)), new(key.translate(_OPAD))


def hmac_sha256(key: bytes, message: bytes, factory: HashFactory | None = None) -> bytes:
    """HMAC-SHA256 of ``message`` under ``key``, as ``hmac.digest(key, message, "sha256")``."""
    inner, outer = hmac_pads(key, factory)
    inner.update(message)
    outer.update(inner.digest())
    return outer.digest()
