"""Tests of ``k8s_aws_auth._core``: the sans-I/O core, stepped without a transport or a clock."""
