"""Tests of ``k8s_aws_auth._runtime``: the drivers, the log guard, single-flight and the cache."""
