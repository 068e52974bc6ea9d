"""The errors of the Kubernetes API access: one class, a ``reason`` code per failure.

A ``KubeAPIError`` never carries the bearer token: messages come from our own
text or from the server's Status ``message`` scrubbed of every secret shape and
of the exact credentials in use, and the foreign exception it is raised from
is a detached, scrubbed copy (see ``k8s_aws_auth._redact.detached``).
"""

from __future__ import annotations

from k8s_aws_auth.errors import K8sAwsAuthError

__all__ = ["KubeAPIError", "api_error", "status_of"]


class KubeAPIError(K8sAwsAuthError):
    """The Kubernetes API could not be reached, refused a request or answered garbage.

    Attributes:
        status_code: The HTTP status of the answer (``None`` when there was none:
            a connection error, a timeout, a broken stream).
        kube_reason: The ``reason`` of the server's Status object (``Conflict``,
            ``NotFound``, ``Expired``...), when it sent one.

    ``reason`` codes: ``kube-unavailable`` (connection, TLS, timeout),
    ``kube-unauthorized`` (401), ``kube-forbidden`` (403), ``kube-not-found``
    (404), ``kube-conflict`` (409, also after the retries of an edit ran out),
    ``kube-expired`` (410), ``kube-invalid`` (422), ``kube-bad-response``
    (anything else, and answers that are not Kubernetes objects).
    """

    reason = "kube-error"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        status_code: int | None = None,
        kube_reason: str | None = None,
    ) -> None:
        super().__init__(message, reason=reason)
        self.status_code = status_code
        self.kube_reason = kube_reason


_REASONS = {
    401: "kube-unauthorized",
    403: "kube-forbidden",
    404: "kube-not-found",
    409: "kube-conflict",
    410: "kube-expired",
    422: "kube-invalid",
}


def status_of(exc: BaseException) -> tuple[int | None, str | None, str | None]:
    """``(code, Status reason, Status message)`` of an HTTP error from lightkube or httpx."""
    import httpx

    if not isinstance(exc, httpx.HTTPStatusError):
        return None, None, None
    status = getattr(exc, "status", None)  # lightkube's ApiError carries the Status object
    code = getattr(status, "code", None)
    response = exc.response
    if not isinstance(code, int):
        code = None if response is None else response.status_code
    reason, message = getattr(status, "reason", None), getattr(status, "message", None)
    return (
        code,
        reason if isinstance(reason, str) else None,
        message if isinstance(message, str) else None,
    )


def api_error(exc: BaseException, what: str, secrets: tuple[str, ...] = ()) -> KubeAPIError:
    """The ``KubeAPIError`` for a failed request about ``what`` (``configmaps kube-system/aws-auth``).

    Raise it ``from detached(exc, secrets)`` (``k8s_aws_auth._redact``): the
    original holds the request, and so the ``Authorization`` header.
    """
    import httpx

    from k8s_aws_auth._core.redact import scrub

    code, kube_reason, message = status_of(exc)
    if code is not None:
        said = f": {scrub(message, secrets)[:300]}" if message else ""
        return KubeAPIError(
            f"the Kubernetes API answered {code} for {what}{said}",
            reason=_REASONS.get(code, "kube-bad-response"),
            status_code=code,
            kube_reason=kube_reason,
        )
    if isinstance(exc, httpx.TransportError):
        return KubeAPIError(
            f"the Kubernetes API could not be reached for {what}: "
            f"{scrub(str(exc), secrets)[:300] or type(exc).__name__}",
            reason="kube-unavailable",
        )
    return KubeAPIError(
        f"the Kubernetes API sent an unusable answer for {what} ({type(exc).__name__})",
        reason="kube-bad-response",
    )
