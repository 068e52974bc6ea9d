"""The sans-I/O core: pure functions and frozen values (h11's model).

Token envelope and validation, SigV4, partitions and endpoints, the STS request
rebuilt from validated parts and its answer parsed, ARNs, ExecCredential and the
TokenReview user, and the verification flow as a generator. Nothing here reads
the clock, the environment or files, or imports httpx: time comes in as ``now``,
the environment as ``environ``, and the flows yield neutral requests that the
drivers (``k8s_aws_auth._runtime``) carry out. May import only the standard
library, ``attrs`` and ``k8s_aws_auth.errors`` (the import contract in
``pyproject.toml`` enforces it).

Internal to k8s_aws_auth: the library's own packages import these modules
directly (``from k8s_aws_auth._core.sigv4 import sign_post``); users import the
public names from ``k8s_aws_auth``. Import-free on purpose: the exec plugin's
start-up path runs this file.
"""
