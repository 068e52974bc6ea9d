"""``/metrics`` of ``serve --workers N``: every worker's numbers, whichever worker answers.

Each worker keeps its own metrics (its own cache, connections, reviews). Once a
second, and when it stops, it writes a snapshot of them into a directory its
supervisor made (0700, removed at exit), as ``worker-<pid>.json`` (atomically).
The worker that answers a scrape adds its live values to the other workers'
snapshots:

* counters and histograms are summed over every worker that ever ran: when a
  worker ends, the supervisor renames its last snapshot ``retired-<pid>.json``,
  so a restart never makes a total go down (a killed worker's last second of
  counts is lost);
* gauges are summed over the running workers (open connections, connection
  limit, cache entries), except timestamps (``…_timestamp_seconds``), which take
  the largest value; ``…_created`` samples take the earliest.

Another worker's part of a scrape is therefore up to a second old.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

__all__ = ["SNAPSHOT_INTERVAL", "merged_render", "retire_snapshot", "write_snapshot"]

#: Seconds between two snapshots of a worker.
SNAPSHOT_INTERVAL = 1.0
_LIVE, _RETIRED = "worker-", "retired-"

#: One family: name, type, documentation, samples as (name, labels, value).
Family = tuple[str, str, str, list[tuple[str, dict[str, str], float]]]


def _families(registry: CollectorRegistry) -> list[Family]:
    return [
        (
            metric.name,
            metric.type,
            metric.documentation,
            [(s.name, dict(s.labels), float(s.value)) for s in metric.samples],
        )
        for metric in registry.collect()
    ]


def write_snapshot(registry: CollectorRegistry, directory: Path) -> None:
    """Write this process's metrics as ``directory/worker-<pid>.json`` (atomically)."""
    path = directory / f"{_LIVE}{os.getpid()}.json"
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(_families(registry)))
    os.replace(temporary, path)


def retire_snapshot(directory: Path, pid: int) -> None:
    """Keep the last counts of worker ``pid``, which has ended (supervisor side)."""
    with contextlib.suppress(FileNotFoundError):
        os.replace(directory / f"{_LIVE}{pid}.json", directory / f"{_RETIRED}{pid}.json")


def _read(path: Path) -> list[Family]:
    try:
        loaded: list[Any] = json.loads(path.read_text())
    except (OSError, ValueError):  # gone (retired meanwhile) or being replaced: skip
        return []
    return [(n, t, d, [(s[0], s[1], s[2]) for s in samples]) for n, t, d, samples in loaded]


def _merge(
    own: list[Family], live: list[list[Family]], retired: list[list[Family]]
) -> list[Family]:
    order: dict[str, tuple[str, str]] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}

    def add(families: list[Family], running: bool) -> None:
        for name, kind, documentation, samples in families:
            order.setdefault(name, (kind, documentation))
            merged = values.setdefault(name, {})
            if kind in ("gauge", "unknown", "info", "stateset") and not running:
                continue  # an ended worker has no connections open
            for sample, labels, value in samples:
                key = (sample, tuple(sorted(labels.items())))
                if key not in merged:
                    merged[key] = value
                elif sample.endswith("_created"):
                    merged[key] = min(merged[key], value)
                elif sample.endswith("_timestamp_seconds"):
                    merged[key] = max(merged[key], value)
                else:
                    merged[key] += value

    add(own, running=True)
    for families in live:
        add(families, running=True)
    for families in retired:
        add(families, running=False)
    return [
        (
            name,
            kind,
            documentation,
            [(s, dict(labels), v) for (s, labels), v in values[name].items()],
        )
        for name, (kind, documentation) in order.items()
    ]


class _Merged(Collector):
    def __init__(self, families: list[Family]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        for name, kind, documentation, samples in self._families:
            metric = Metric(name, documentation, kind)
            for sample, labels, value in samples:
                metric.add_sample(sample, labels, value)
            yield metric


def merged_render(registry: CollectorRegistry, directory: Path) -> Callable[[], tuple[bytes, str]]:
    """A ``/metrics`` renderer: ``registry`` live plus the other workers' snapshots."""
    from prometheus_client import CONTENT_TYPE_LATEST

    own_name = f"{_LIVE}{os.getpid()}.json"

    def render() -> tuple[bytes, str]:
        live: list[list[Family]] = []
        retired: list[list[Family]] = []
        for path in sorted(directory.glob("*.json")):
            if path.name == own_name:
                continue
            (retired if path.name.startswith(_RETIRED) else live).append(_read(path))
        merged = CollectorRegistry()
        merged.register(_Merged(_merge(_families(registry), live, retired)))
        return generate_latest(merged), CONTENT_TYPE_LATEST

    return render
