"""Tests of ``k8s_aws_auth._kube``: the Kubernetes API client against a loopback HTTPS stand-in."""
