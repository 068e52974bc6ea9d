"""Tests of ``k8s_aws_auth.testing``: FakeSTS and the toolkit around it."""
