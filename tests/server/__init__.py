"""Tests of ``k8s_aws_auth.server``: the TokenReview app, its config and the real ``serve`` process."""
