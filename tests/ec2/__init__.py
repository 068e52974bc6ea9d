"""Tests of ``k8s_aws_auth._ec2``: DescribeInstances lookups against a loopback EC2 stand-in."""
