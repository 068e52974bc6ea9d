"""pytest plugin: fixtures for k8s_aws_auth users."""
