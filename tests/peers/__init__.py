"""Across the library: tokens of the real peers (awscli, botocore, eks-token, aws-iam-authenticator)."""
