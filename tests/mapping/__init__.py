"""Tests of ``k8s_aws_auth.mapping``: formats, loading, the mapper, and its purity."""
