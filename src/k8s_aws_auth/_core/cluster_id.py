"""Cluster-id normalisation, kept free of attrs: the exec plugin signs with it at start-up."""

from __future__ import annotations

from k8s_aws_auth.errors import ConfigurationError

from .sigv4 import normalize_header_value

__all__ = ["MAX_CLUSTER_ID_LENGTH", "normalize_cluster_id"]

MAX_CLUSTER_ID_LENGTH = 255


def normalize_cluster_id(cluster_id: str) -> str:
    """Validate a cluster id and return it as SigV4 signs it (trimmed, inner runs collapsed).

    1–255 printable characters after normalisation; non-ASCII is allowed (sent as
    UTF-8); control characters, CR and LF are refused with [`ConfigurationError`][k8s_aws_auth.errors.ConfigurationError].
    """
    if not isinstance(cluster_id, str):
        raise ConfigurationError("cluster id must be a string", reason="cluster-id")
    # Printable ASCII has no Cc/Cs characters: skip the per-character lookup (and
    # the unicodedata import) for it.
    if not (cluster_id.isascii() and cluster_id.isprintable()):
        import unicodedata

        if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in cluster_id):
            raise ConfigurationError(
                "cluster id must not contain control characters", reason="cluster-id"
            )
    normalized = normalize_header_value(cluster_id)
    if not normalized:
        raise ConfigurationError("cluster id must not be empty", reason="cluster-id")
    if len(normalized) > MAX_CLUSTER_ID_LENGTH:
        raise ConfigurationError(
            f"cluster id must be at most {MAX_CLUSTER_ID_LENGTH} characters", reason="cluster-id"
        )
    if not normalized.isprintable():
        raise ConfigurationError("cluster id must be printable", reason="cluster-id")
    return normalized
