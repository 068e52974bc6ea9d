"""What k8s_aws_auth's own packages use of the mapping package (not public API).

The EC2 lookups (``k8s_aws_auth._ec2``) check instance ids and the private DNS
names EC2 answers by the same rules the ``{{EC2PrivateDNSName}}`` template
applies; this is the one module they import besides ``k8s_aws_auth.mapping``.
Names here may change in any release.
"""

from __future__ import annotations

from ._templates import EC2_DNS_NAME, INSTANCE_ID

__all__ = ["EC2_DNS_NAME", "INSTANCE_ID"]
