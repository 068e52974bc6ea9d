"""What runs the core's flows in a process: the httpx drivers and their process-wide guards.

``drivers`` carries out the flows' neutral requests over ``httpx.Client`` and
``httpx.AsyncClient`` (the one place foreign exceptions become library errors),
``log_guard`` keeps secrets out of the log records of the libraries we drive,
``singleflight`` and ``cache`` coalesce and remember verifications, and
``private_file`` writes 0600 files atomically. May import ``k8s_aws_auth._core``,
``k8s_aws_auth.errors``, the standard library, attrs, httpx and anyio.

Internal to k8s_aws_auth: its packages import these modules directly.
"""
