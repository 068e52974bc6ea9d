"""Framework integrations: authenticate ``Authorization: Bearer k8s-aws-v1.…`` requests in your service.

* [`k8s_aws_auth.integrations.starlette`][k8s_aws_auth.integrations.starlette] —
  ``IAMAuthBackend``, a Starlette ``AuthenticationBackend``
  (``pip install 'k8s-aws-auth[starlette]'``).
* [`k8s_aws_auth.integrations.fastapi`][k8s_aws_auth.integrations.fastapi] —
  ``IAMBearer``, a FastAPI dependency returning the
  [`Identity`][k8s_aws_auth.Identity] (``pip install 'k8s-aws-auth[fastapi]'``).
* [`k8s_aws_auth.integrations.kubernetes`][k8s_aws_auth.integrations.kubernetes] —
  a ``Configuration`` of the official ``kubernetes`` client whose bearer token
  refreshes itself (``pip install kubernetes``).

Each module imports its framework when it is imported itself; a missing one
raises [`MissingDependencyError`][k8s_aws_auth.integrations.MissingDependencyError]
with the ``pip`` command that installs it. The framework-free parts (bearer
parsing, the answer to each verification outcome) live in ``_http.py``.
"""

from __future__ import annotations

from ._http import MissingDependencyError

__all__ = ["MissingDependencyError"]
