"""Loading mapping files with validation, atomic swap, last-good retention and mtime polling.

A reload reads and validates the *whole* file first and swaps the new
[`MappingSet`][k8s_aws_auth.mapping.MappingSet] in with one reference assignment; readers never see a
half-built set. A broken file (YAML error, invalid ARN, unknown field) leaves
the last good set in place and is reported three ways: the returned
[`LoadResult`][k8s_aws_auth.mapping.LoadResult], a log line, and the ``metric`` hook. A missing file also
keeps the last good set unless ``clear_on_missing`` is set. Change detection
polls ``stat`` (mtime, size, inode), which works on every platform and on
Kubernetes ConfigMap volumes (their ``..data`` symlink swap changes the inode).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

import anyio
import attrs

from ._errors import MappingFileError, Problem
from ._formats import parse_mapping_path
from ._model import MappingSet

__all__ = ["LoadResult", "MappingLoader"]

_LOG = logging.getLogger("k8s_aws_auth.mapping")
_EKS_FILES = ("mapRoles", "mapUsers", "mapAccounts")

Signature = tuple[tuple[str, int, int, int], ...]
_NEVER: Signature = (("", -1, -1, -1),)  # no attempt yet: differs from every real signature


@attrs.frozen(kw_only=True)
class LoadResult:
    """What one (re)load did.

    ``outcome`` is ``loaded`` (new set swapped in), ``error`` (file broken,
    previous set kept), ``missing`` (file absent, previous set kept),
    ``cleared`` (file absent and ``clear_on_missing``) or ``unchanged``.
    ``mapping_set`` is the set in force afterwards.
    """

    path: str
    outcome: str
    mapping_set: MappingSet | None
    problems: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True unless the file was broken or missing."""
        return self.outcome in ("loaded", "unchanged", "cleared")

    @property
    def kept_last_good(self) -> bool:
        """True when a failed load left an earlier good mapping set in force."""
        return not self.ok and self.mapping_set is not None

    def raise_for_error(self) -> MappingSet:
        """Return the mapping set in force, or raise [`MappingFileError`][k8s_aws_auth.mapping.MappingFileError] if the load failed."""
        if not self.ok:
            raise MappingFileError(
                self.path, self.problems or (Problem("", self.error or "failed"),)
            )
        if self.mapping_set is None:
            raise MappingFileError(self.path, (Problem("", "no mapping loaded"),))
        return self.mapping_set


class MappingLoader:
    """Holds the current [`MappingSet`][k8s_aws_auth.mapping.MappingSet] of one file and reloads it safely.

    Args:
        path: a mapping file of any supported format, or a directory where an
            aws-auth ConfigMap is mounted.
        format: ``auto`` (detect) or one of the format names.
        user_id_strict: override the file's userIDStrict setting.
        clear_on_missing: drop the mappings when the file disappears
            (upstream's DynamicFile behaviour); default keeps the last good set.
        metric: called with the outcome (``loaded``, ``error``, ``missing``,
            ``cleared``) of every load that was not ``unchanged``.
        logger: where load errors and warnings are logged.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        format: str = "auto",
        user_id_strict: bool | None = None,
        clear_on_missing: bool = False,
        metric: Callable[[str], None] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self._format = format
        self._user_id_strict = user_id_strict
        self._clear_on_missing = clear_on_missing
        self._metric = metric
        self._log = logger or _LOG
        self._current: MappingSet | None = None
        self._signature: Signature | None = _NEVER
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def current(self) -> MappingSet | None:
        """The mapping set in force (``None`` until a first successful load)."""
        return self._current

    def _stat_signature(self) -> Signature | None:
        paths = [self.path]
        if os.path.isdir(self.path):
            paths = [os.path.join(self.path, name) for name in _EKS_FILES]
        signature = []
        for candidate in paths:
            try:
                st = os.stat(candidate)
            except FileNotFoundError:
                continue
            signature.append((candidate, st.st_mtime_ns, st.st_size, st.st_ino))
        if not signature and not os.path.isdir(self.path):
            return None
        return tuple(signature)

    def load(self) -> LoadResult:
        """Read, validate and (if valid) swap in the file now, whether it changed or not."""
        with self._lock:
            return self._load_locked(self._stat_signature())

    def reload_if_changed(self) -> LoadResult:
        """Reload only if the file's mtime, size or inode changed since the last attempt."""
        with self._lock:
            signature = self._stat_signature()
            if signature == self._signature:
                return LoadResult(path=self.path, outcome="unchanged", mapping_set=self._current)
            return self._load_locked(signature)

    def _load_locked(self, signature: Signature | None) -> LoadResult:
        self._signature = signature
        try:
            new = parse_mapping_path(
                self.path, format=self._format, user_id_strict=self._user_id_strict
            )
        except FileNotFoundError:
            return self._missing()
        except MappingFileError as exc:
            return self._failed(exc.problems, str(exc))
        except (OSError, ValueError) as exc:
            # Unreadable file or a bad format argument: same treatment as a broken file.
            return self._failed((Problem("", str(exc)),), str(exc))
        self._current = new
        for warning in new.warnings:
            self._log.warning("mapping file %s: warning: %s", self.path, warning)
        self._log.info(
            "mapping file %s loaded (%s): %d roles, %d users, %d accounts",
            self.path,
            new.format,
            len(new.roles),
            len(new.users),
            len(new.accounts),
        )
        return self._report(
            LoadResult(path=self.path, outcome="loaded", mapping_set=new, warnings=new.warnings)
        )

    def _missing(self) -> LoadResult:
        if self._clear_on_missing:
            self._current = None
            self._log.warning("mapping file %s is gone: mappings cleared", self.path)
            return self._report(LoadResult(path=self.path, outcome="cleared", mapping_set=None))
        kept = "keeping the last good mapping" if self._current else "no mapping loaded"
        self._log.error("mapping file %s is missing: %s", self.path, kept)
        return self._report(
            LoadResult(
                path=self.path,
                outcome="missing",
                mapping_set=self._current,
                error=f"{self.path}: file not found",
            )
        )

    def _failed(self, problems: tuple[Problem, ...], message: str) -> LoadResult:
        kept = "keeping the last good mapping" if self._current else "no mapping loaded"
        for problem in problems:
            self._log.error("mapping file %s: %s (%s)", self.path, problem, kept)
        return self._report(
            LoadResult(
                path=self.path,
                outcome="error",
                mapping_set=self._current,
                problems=problems,
                error=message,
            )
        )

    def _report(self, result: LoadResult) -> LoadResult:
        if self._metric is not None:
            try:
                self._metric(result.outcome)
            except Exception:  # a broken metrics hook must not break reloading
                self._log.exception("mapping metric hook failed")
        return result

    # --- polling ---------------------------------------------------------------------------

    def start_polling(self, interval: float = 5.0) -> None:
        """Poll for changes every ``interval`` seconds in a daemon thread (idempotent)."""
        if interval <= 0:
            raise ValueError("interval must be positive")
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._poll_loop, args=(interval,), name=f"mapping-poll:{self.path}", daemon=True
        )
        self._thread.start()

    def stop_polling(self, timeout: float | None = 5.0) -> None:
        """Stop the polling thread and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _poll_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.reload_if_changed()
            except Exception:  # keep polling whatever happens; the error is logged
                self._log.exception("mapping file %s: reload failed", self.path)

    async def poll_forever(self, interval: float = 5.0) -> None:
        """Async alternative to [`start_polling()`][k8s_aws_auth.mapping.MappingLoader.start_polling]: poll until cancelled (asyncio or trio)."""
        while True:
            await anyio.sleep(interval)
            await anyio.to_thread.run_sync(self.reload_if_changed)
