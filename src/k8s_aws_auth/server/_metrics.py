"""Prometheus metrics of the webhook, in a registry of its own (no global state).

Metric names shared with aws-iam-authenticator keep its ``aws_iam_authenticator_``
namespace so existing dashboards and alerts keep working; ours use
``k8s_aws_auth_``. Counters owned by other components (the verifier's cache and
single-flight, the mapping reloader) are read at scrape time through callables
returning a mapping of counter name → value, so those components need not know
about Prometheus.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from k8s_aws_auth import VerifierStats

from ._app import AuthenticationResult

__all__ = ["ServerMetrics"]

_log = logging.getLogger("k8s_aws_auth.server")

UPSTREAM = "aws_iam_authenticator"
OURS = "k8s_aws_auth"
#: upstream's ``result`` label value for an unmapped identity (its spelling, kept so
#: existing dashboards and alerts match); our own families say ``unknown_user``.
_UPSTREAM_RESULTS = {"unknown_user": "uknown_user"}
#: upstream's buckets of ``dynamic_e2e_latency_seconds``.
_DYNAMIC_BUCKETS = (1.0, 3.0, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0)

#: Reads a source's counters at scrape time: counter name → value.
StatsReader = Callable[[], Mapping[str, float]]


class _StatsCollector(Collector):
    def __init__(self) -> None:
        self.sources: list[tuple[str, str, str, StatsReader]] = []
        self.verifier: Callable[[], VerifierStats] | None = None
        self.ec2: StatsReader | None = None
        self.configmap_watch_failures: Callable[[], float] | None = None

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        if self.verifier is not None:
            yield from _verifier_families(self.verifier())
        # upstream exports the EC2 counter whether or not lookups are in use
        if self.ec2 is None:
            yield _describe_instances_calls(0)
        else:
            yield from _ec2_families(self.ec2())
        watch_failures = CounterMetricFamily(
            f"{UPSTREAM}_configmap_watch_failures",
            "aws-auth ConfigMap list and watch failures (EKSConfigMap on the Kubernetes API)",
        )
        read_failures = self.configmap_watch_failures
        watch_failures.add_metric([], float(read_failures()) if read_failures is not None else 0.0)
        yield watch_failures
        for prefix, documentation, kind, read in self.sources:
            try:
                values = dict(read())
            except Exception:  # a broken reader must not break the scrape
                _log.exception("metrics source %s failed", prefix)
                continue
            for key, value in sorted(values.items()):
                name = f"{OURS}_{prefix}_{key}"
                family: CounterMetricFamily | GaugeMetricFamily
                if kind == "counter":
                    family = CounterMetricFamily(name, f"{documentation}: {key}")
                else:
                    family = GaugeMetricFamily(name, f"{documentation}: {key}")
                family.add_metric([], float(value))
                yield family


def _verifier_families(
    stats: VerifierStats,
) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
    counters = {
        "verifications": (stats.verifications, "calls to verify"),
        "local_rejections": (stats.local_rejections, "tokens refused by local checks"),
        "cache_hits": (stats.cache_hits, "verifications answered from the cache"),
        "cache_misses": (stats.cache_misses, "cache lookups that found nothing fresh"),
        "singleflight_joins": (
            stats.singleflight_joins,
            "verifications that joined an STS call already in flight",
        ),
        "sts_requests": (stats.sts_requests, "HTTP requests sent to STS, retries included"),
    }
    for key, (value, documentation) in counters.items():
        family = CounterMetricFamily(f"{OURS}_verifier_{key}", documentation)
        family.add_metric([], float(value))
        yield family
    entries = GaugeMetricFamily(f"{OURS}_verifier_cache_entries", "identities in the cache")
    entries.add_metric([], float(stats.cache_entries))
    yield entries
    calls = CounterMetricFamily(
        f"{OURS}_verifier_sts_calls", "STS exchanges by outcome", labels=["outcome"]
    )
    for outcome, count in sorted(stats.sts_calls.items()):
        calls.add_metric([outcome], float(count))
    yield calls


def _describe_instances_calls(value: float) -> CounterMetricFamily:
    calls = CounterMetricFamily(
        f"{UPSTREAM}_ec2_describe_instances_calls", "EC2 DescribeInstances calls made"
    )
    calls.add_metric([], float(value))
    return calls


def _ec2_families(stats: Mapping[str, float]) -> Iterator[CounterMetricFamily]:
    yield _describe_instances_calls(stats.get("describe_instances_calls", 0))
    for key, documentation in (
        ("cache_hits", "instance DNS name lookups answered from the cache"),
        ("cache_misses", "instance DNS name lookups that had to ask EC2"),
    ):
        family = CounterMetricFamily(f"{OURS}_ec2_{key}", documentation)
        family.add_metric([], float(stats.get(key, 0)))
        yield family


class ServerMetrics:
    """The webhook's metrics; pass [`record()`][k8s_aws_auth.server.ServerMetrics.record] as ``TokenReviewApp(on_result=...)``.

    * ``aws_iam_authenticator_authenticate_latency_seconds{result}`` — review latency
      (``result`` as upstream spells it, ``uknown_user`` included);
    * ``aws_iam_authenticator_configmap_watch_failures_total`` — list and watch
      failures of the live EKSConfigMap backend (0 without one);
    * ``…_dynamicfile_failures_total``, ``…_dynamic_e2e_latency_seconds{type}``,
      ``…_dynamic_file_enabled``, ``…_dynamic_file_only`` — upstream's families of
      the dynamic backend-mode file, not built here: exported, and 0;
    * ``aws_iam_authenticator_sts_responses_total{ResponseCode,StsRegion}`` — STS answers;
    * ``aws_iam_authenticator_sts_throttling_total{StsRegion}`` and
      ``aws_iam_authenticator_sts_connection_failures_total{StsRegion}``;
    * ``k8s_aws_auth_token_reviews_total{result,code}`` — answers by HTTP status;
    * ``k8s_aws_auth_verifier_*`` — the verifier's counters (cache hits and
      misses, single-flight joins, STS calls by outcome), read at scrape time;
    * ``aws_iam_authenticator_ec2_describe_instances_calls_total`` (always) and
      ``k8s_aws_auth_ec2_cache_hits_total``/``…_misses_total`` — ``{{EC2PrivateDNSName}}``
      lookups (when enabled);
    * ``k8s_aws_auth_<source>_<counter>`` — counters of other registered sources
      (mapping reloads and failures).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.latency = Histogram(
            "authenticate_latency_seconds",
            "Latency of TokenReview answers by result",
            ["result"],
            namespace=UPSTREAM,
            registry=self.registry,
        )
        self.sts_responses = Counter(
            "sts_responses_total",
            "STS answers by HTTP status and signing region",
            ["ResponseCode", "StsRegion"],
            namespace=UPSTREAM,
            registry=self.registry,
        )
        self.sts_throttling = Counter(
            "sts_throttling_total",
            "STS throttling answers by region",
            ["StsRegion"],
            namespace=UPSTREAM,
            registry=self.registry,
        )
        self.sts_connection_failures = Counter(
            "sts_connection_failures_total",
            "STS calls that got no answer (network, timeout) by region",
            ["StsRegion"],
            namespace=UPSTREAM,
            registry=self.registry,
        )
        # upstream's dynamic-file families: registered with its names so dashboards
        # find them; the dynamic backend-mode file that moves them is not built
        # (they stay at 0). configmap_watch_failures_total is read at scrape time
        # from the live EKSConfigMap backend (0 without one): see watch_configmap().
        self.dynamicfile_failures = Counter(
            "dynamicfile_failures_total",
            "Failures to watch the dynamic file",
            namespace=UPSTREAM,
            registry=self.registry,
        )
        self.dynamic_e2e_latency = Histogram(
            "dynamic_e2e_latency_seconds",
            "Seconds from a dynamic file's LastUpdatedDateTime to its reload, by type",
            ["type"],
            namespace=UPSTREAM,
            buckets=_DYNAMIC_BUCKETS,
            registry=self.registry,
        )
        self.dynamic_file_enabled = Gauge(
            "dynamic_file_enabled",
            "1 when a backend-mode file enabled DynamicFile beside other modes",
            namespace=UPSTREAM,
            registry=self.registry,
        )
        self.dynamic_file_only = Gauge(
            "dynamic_file_only",
            "1 when a backend-mode file made DynamicFile the only mode",
            namespace=UPSTREAM,
            registry=self.registry,
        )
        self.reviews = Counter(
            "token_reviews_total",
            "TokenReview answers by result and HTTP status",
            ["result", "code"],
            namespace=OURS,
            registry=self.registry,
        )
        self._stats = _StatsCollector()
        self.registry.register(self._stats)
        # process_* (memory, CPU, file descriptors), as upstream's default registry has
        ProcessCollector(registry=self.registry)
        # The labelled children of each (result, status): labels() takes a lock and
        # checks its arguments on every call; a review needs only the two children.
        self._review_children: dict[tuple[str, int], tuple[Histogram, Counter]] = {}

    def record(self, outcome: AuthenticationResult) -> None:
        """Count one ``/authenticate`` answer."""
        key = (outcome.result, outcome.status_code)
        children = self._review_children.get(key)
        if children is None:
            upstream_result = _UPSTREAM_RESULTS.get(outcome.result, outcome.result)
            children = (
                self.latency.labels(upstream_result),
                self.reviews.labels(outcome.result, str(outcome.status_code)),
            )
            self._review_children[key] = children
        children[0].observe(outcome.seconds)
        children[1].inc()

    def record_sts(self, status: int | None, region: str, *, throttled: bool = False) -> None:
        """Count one STS exchange: ``status`` ``None`` means no answer arrived."""
        if status is None:
            self.sts_connection_failures.labels(region).inc()
            return
        self.sts_responses.labels(str(status), region).inc()
        if throttled:
            self.sts_throttling.labels(region).inc()

    def watch_verifier(self, verifier: object) -> None:
        """Expose a verifier's counters as ``k8s_aws_auth_verifier_*``.

        ``verifier`` is the verifier itself (a ``TokenVerifier`` or
        ``AsyncTokenVerifier``: its ``stats`` are read at each scrape), or a
        zero-argument callable returning [`VerifierStats`][k8s_aws_auth.VerifierStats]
        (``lambda: verifier.stats``, the older form).
        """
        if callable(verifier):
            self._stats.verifier = verifier
        elif hasattr(type(verifier), "stats"):
            self._stats.verifier = lambda: verifier.stats  # type: ignore[attr-defined]
        else:
            from k8s_aws_auth.errors import ConfigurationError

            raise ConfigurationError(
                "watch_verifier takes a verifier or a callable returning its stats",
                reason="metrics",
            )

    def watch_ec2(self, read: StatsReader) -> None:
        """Expose EC2 lookup counters (``describe_instances_calls``, ``cache_hits``, ``cache_misses``)."""
        self._stats.ec2 = read

    def watch_configmap(self, read_failures: Callable[[], float]) -> None:
        """Read upstream's ``configmap_watch_failures_total`` from a live EKSConfigMap backend."""
        self._stats.configmap_watch_failures = read_failures

    def add_source(
        self, prefix: str, read: StatsReader, *, documentation: str, kind: str = "counter"
    ) -> None:
        """Expose the counters ``read()`` returns as ``k8s_aws_auth_<prefix>_<name>``."""
        self._stats.sources.append((prefix, documentation, kind, read))

    def render(self) -> tuple[bytes, str]:
        """The text exposition of every metric, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
