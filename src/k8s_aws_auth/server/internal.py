"""What the ``k8s-aws-auth serve`` and ``init`` commands use of the server package (not public API).

Besides its public names, the CLI needs the kubeconfig's file name, the atomic
file writer, the process entry point and a one-shot read of the live mapping
backends (``mapping explain``); this is the one module it imports
besides ``k8s_aws_auth.server``. Import it only after ``require_extra()``.
Names here may change in any release.

``read_mapping_once`` loads on first use: it pulls in the Kubernetes API
client code (``_kube``: its watch, credentials and transport modules), which
``serve`` needs only with a live backend and which would otherwise stay
resident (about 0.7 MiB) in every server. ``run_command`` and ``run_server``
load on first use too: ``init`` writes files and needs none of uvicorn, httpx
or the app, which are most of a server's start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from k8s_aws_auth._core.lazy import lazy_exports

from ._certs import KUBECONFIG_FILE, renew_certificate, write_if_changed

if TYPE_CHECKING:
    from ._kube_backends import read_mapping_once
    from ._main import run_command
    from ._serve import run_server

__all__ = [
    "KUBECONFIG_FILE",
    "read_mapping_once",
    "renew_certificate",
    "run_command",
    "run_server",
    "write_if_changed",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    globals(),
    {
        "read_mapping_once": "k8s_aws_auth.server._kube_backends",
        "run_command": "k8s_aws_auth.server._main",
        "run_server": "k8s_aws_auth.server._serve",
    },
    __all__,
)
