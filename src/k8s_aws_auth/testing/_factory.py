"""``TokenFactory``: the tokens a test of a service needs, each signed at an emulator's clock."""

from __future__ import annotations

from datetime import timedelta

from k8s_aws_auth._core.token import decode_token, encode_token

from ._fake_sts import FakeSTS
from ._values import Principal

__all__ = ["TokenFactory"]

#: Far enough past the verifier's default 5-minute skew to be refused as not yet valid.
_FUTURE = timedelta(minutes=10)
#: Past the 15-minute lifetime of a presigned URL.
_PAST = timedelta(minutes=16)


class TokenFactory:
    """Good and bad ``k8s-aws-v1.`` tokens for ``cluster_id``, signed as ``principal`` at ``sts``'s clock.

    Every token but [`tampered()`][k8s_aws_auth.testing.TokenFactory.tampered] is
    a real signature by registered credentials, so the verifier's refusals are
    the ones production would give: [`expired()`][k8s_aws_auth.testing.TokenFactory.expired]
    and [`not_yet_valid()`][k8s_aws_auth.testing.TokenFactory.not_yet_valid] fail the
    local time checks (``reason`` ``expired``, ``not-yet-valid``);
    [`wrong_cluster()`][k8s_aws_auth.testing.TokenFactory.wrong_cluster] and
    [`tampered()`][k8s_aws_auth.testing.TokenFactory.tampered] pass them and are
    refused by STS (``sts-denied``, ``SignatureDoesNotMatch``).

    Args:
        sts: the emulator (its clock signs; principals register with it).
        principal: who signs (default: a new IAM user
            ``arn:aws:iam::111122223333:user/token-factory``).
        cluster_id: the cluster the good tokens are for.
        region: the STS region the tokens are signed for.

    Example::

        tokens = TokenFactory(fake, cluster_id="my-cluster")
        verifier.verify(tokens.valid())
        with pytest.raises(ExpiredTokenError):
            verifier.verify(tokens.expired())
    """

    def __init__(
        self,
        sts: FakeSTS,
        *,
        cluster_id: str,
        principal: Principal | None = None,
        region: str | None = "us-west-2",
    ) -> None:
        self.sts = sts
        self.cluster_id = cluster_id
        self.region = region
        self.principal = principal or sts.create_principal(
            "arn:aws:iam::111122223333:user/token-factory"
        )

    def valid(self, principal: Principal | None = None) -> str:
        """A token the verifier accepts (signed now, for the cluster)."""
        return self.sts.make_token(
            principal or self.principal, cluster_id=self.cluster_id, region=self.region
        )

    def expired(self) -> str:
        """Signed 16 minutes ago: past the presigned URL's 15-minute life."""
        return self.sts.make_token(
            self.principal,
            cluster_id=self.cluster_id,
            region=self.region,
            now=self.sts.clock() - _PAST,
        )

    def not_yet_valid(self) -> str:
        """Signed 10 minutes ahead: beyond the verifier's default 5-minute skew."""
        return self.sts.make_token(
            self.principal,
            cluster_id=self.cluster_id,
            region=self.region,
            now=self.sts.clock() + _FUTURE,
        )

    def wrong_cluster(self, cluster_id: str = "another-cluster") -> str:
        """A good signature for another cluster: STS refuses it for this one."""
        return self.sts.make_token(self.principal, cluster_id=cluster_id, region=self.region)

    def tampered(self) -> str:
        """A valid token with one character of its signature changed (well-formed, refused by STS)."""
        url = decode_token(self.valid())
        head, _, signature = url.rpartition("X-Amz-Signature=")
        flipped = ("1" if signature[0] != "1" else "2") + signature[1:]
        return encode_token(f"{head}X-Amz-Signature={flipped}")

    def assumed_role(
        self,
        role_arn: str = "arn:aws:iam::111122223333:role/token-factory-role",
        session_name: str = "token-factory-session",
    ) -> str:
        """A token signed by a session of ``role_arn`` (its canonical ARN is the role's)."""
        account, _, role_path = role_arn.split(":", 4)[4].partition(":role/")
        role_name = role_path.rsplit("/", 1)[-1]
        session = self.sts.create_principal(
            f"arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}"
        )
        return self.valid(session)
