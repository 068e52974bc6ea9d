"""Tests of ``k8s_aws_auth.cli``: every command as a real process, kubectl included."""
