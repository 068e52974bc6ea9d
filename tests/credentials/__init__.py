"""Tests of ``k8s_aws_auth.credentials``: providers, the chain and the resolvers."""
