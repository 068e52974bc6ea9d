"""The testing toolkit around FakeSTS: FixedClock, new_credentials, make_token,
registration rules and the pytest plugin's fixtures."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

import k8s_aws_auth.testing as testing
from k8s_aws_auth import Credentials, decode_token
from k8s_aws_auth.errors import ConfigurationError
from k8s_aws_auth.testing import FakeSTS, FixedClock, Principal, make_token, new_credentials
from tests.support.botocore_oracle import BotocoreTokenOracle

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
KEY_ID = re.compile(r"(AKIA|ASIA)[A-Z2-7]{16}")
SECRET = re.compile(r"[A-Za-z0-9+/]{40}")


# --- FixedClock --------------------------------------------------------------------------------


def test_fixed_clock_stands_still_and_moves_when_told() -> None:
    clock = FixedClock(T0)
    assert clock() == T0
    assert clock.now == T0
    assert clock.advance(minutes=16) == T0 + timedelta(minutes=16)
    assert clock.advance(timedelta(seconds=1), seconds=2) == T0 + timedelta(minutes=16, seconds=3)
    clock.set(T0 - timedelta(days=1))
    assert clock() == datetime(2026, 2, 28, 12, 0, tzinfo=timezone.utc)
    assert repr(clock) == "FixedClock(2026-02-28T12:00:00+00:00)"


def test_fixed_clock_converts_to_utc_and_refuses_naive_times() -> None:
    plus_two = timezone(timedelta(hours=2))
    clock = FixedClock(datetime(2026, 3, 1, 14, 0, tzinfo=plus_two))
    assert clock() == T0
    assert clock().tzinfo == timezone.utc
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        FixedClock(datetime(2026, 3, 1))
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        clock.set(datetime(2026, 3, 1))


def test_fixed_clock_defaults_to_the_current_second() -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    clock = FixedClock()
    after = datetime.now(timezone.utc)
    assert before <= clock() <= after
    assert clock().microsecond == 0
    assert clock().tzinfo == timezone.utc


# --- new_credentials ------------------------------------------------------------------------------


def test_new_credentials_look_like_real_keys() -> None:
    user = new_credentials()
    assert KEY_ID.fullmatch(user.access_key_id)
    assert user.access_key_id.startswith("AKIA")
    assert SECRET.fullmatch(user.secret_access_key)
    assert user.session_token is None
    temporary = new_credentials("temporary", expiration=T0)
    assert temporary.access_key_id.startswith("ASIA")
    assert KEY_ID.fullmatch(temporary.access_key_id)
    assert temporary.session_token is not None
    assert len(temporary.session_token) > 300
    assert temporary.expiration == T0


def test_new_credentials_are_deterministic_only_with_a_seed() -> None:
    assert new_credentials(seed=7) == new_credentials(seed=7)
    assert new_credentials(seed=7) != new_credentials(seed=8)
    assert new_credentials("temporary", seed="s") == new_credentials("temporary", seed="s")
    assert new_credentials() != new_credentials()


def test_new_credentials_refuses_unknown_kinds() -> None:
    with pytest.raises(ConfigurationError, match="'user' or 'temporary'"):
        new_credentials("root")


def test_new_credentials_hide_secrets_in_repr() -> None:
    credentials = new_credentials("temporary", seed=1)
    assert credentials.secret_access_key not in repr(credentials)
    assert credentials.session_token is not None
    assert credentials.session_token not in repr(credentials)


# --- make_token ------------------------------------------------------------------------------------


def test_make_token_is_byte_identical_to_botocore_at_the_fake_clock() -> None:
    fake = FakeSTS(clock=FixedClock(T0))
    bob = fake.create_principal("arn:aws:sts::111122223333:assumed-role/Deployer/bob", seed="bob")
    oracle = BotocoreTokenOracle()
    expected = oracle.token(
        access_key_id=bob.credentials.access_key_id,
        secret_access_key=bob.credentials.secret_access_key,
        session_token=bob.credentials.session_token,
        region="us-west-2",
        mode="regional",
        cluster_id="prod",
        moment=T0,
    )
    assert make_token(credentials=bob, cluster_id="prod", sts=fake) == expected
    assert fake.make_token(bob.credentials, cluster_id="prod") == expected
    global_token = oracle.token(
        access_key_id=bob.credentials.access_key_id,
        secret_access_key=bob.credentials.secret_access_key,
        session_token=bob.credentials.session_token,
        region=None,
        mode="regional",
        cluster_id="prod",
        moment=T0 - timedelta(minutes=3),
    )
    assert (
        make_token(
            credentials=bob.credentials,
            cluster_id="prod",
            region=None,
            now=T0 - timedelta(minutes=3),
        )
        == global_token
    )


def test_make_token_without_an_emulator_signs_at_the_real_time() -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    token = make_token(credentials=new_credentials(seed=1), cluster_id="c")
    after = datetime.now(timezone.utc)
    date = re.search(r"X-Amz-Date=([0-9TZ]+)", decode_token(token))
    assert date is not None
    signed = datetime.strptime(date.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    assert before <= signed <= after


def test_make_token_legacy_mode_uses_the_global_host() -> None:
    token = make_token(
        credentials=new_credentials(seed=1),
        cluster_id="c",
        now=T0,
        sts_regional_endpoints="legacy",
    )
    assert decode_token(token).startswith("https://sts.amazonaws.com/?")


# --- registration rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arn", "expected_user_id"),
    [
        ("arn:aws:iam::111122223333:root", "111122223333"),
        ("arn:aws:sts::111122223333:federated-user/carol", "111122223333:carol"),
    ],
)
def test_default_user_ids_follow_sts(arn: str, expected_user_id: str) -> None:
    assert FakeSTS().create_principal(arn).user_id == expected_user_id


def test_default_unique_ids_are_stable_iam_style_ids() -> None:
    fake = FakeSTS()
    user = fake.create_principal("arn:aws:iam::111122223333:user/path/alice")
    assert re.fullmatch(r"AIDA[A-Z2-7]{17}", user.user_id)
    assert FakeSTS().create_principal(user.arn).user_id == user.user_id
    session = fake.create_principal("arn:aws:sts::111122223333:assumed-role/Admin/s1")
    assert re.fullmatch(r"AROA[A-Z2-7]{17}:s1", session.user_id)
    other = fake.create_principal("arn:aws:sts::111122223333:assumed-role/Admin/s2")
    assert other.user_id.split(":")[0] == session.user_id.split(":")[0]  # same role, same id
    assert session.credentials.access_key_id.startswith("ASIA")
    assert user.credentials.access_key_id.startswith("AKIA")
    assert (user.account_id, user.arn) == (
        "111122223333",
        "arn:aws:iam::111122223333:user/path/alice",
    )


def test_register_refuses_what_is_not_a_caller_identity() -> None:
    fake = FakeSTS()
    credentials = new_credentials(seed=1)
    with pytest.raises(ConfigurationError, match="role ARN is never a caller identity"):
        fake.register(credentials, "arn:aws:iam::111122223333:role/Admin")
    with pytest.raises(ConfigurationError, match="not a caller identity ARN"):
        fake.register(credentials, "arn:aws:s3:::bucket")
    with pytest.raises(ConfigurationError, match="need a session token"):
        fake.register(credentials, "arn:aws:sts::111122223333:assumed-role/Admin/s")
    with pytest.raises(ConfigurationError, match="Credentials value"):
        fake.register(("AKIA", "secret"), "arn:aws:iam::111122223333:root")  # type: ignore[arg-type]


def test_register_role_and_web_identity_validate_their_arguments() -> None:
    fake = FakeSTS()
    with pytest.raises(ConfigurationError, match="expected an IAM role ARN"):
        fake.register_role("arn:aws:iam::111122223333:user/alice")
    with pytest.raises(ConfigurationError, match="max_duration"):
        fake.register_role("arn:aws:iam::111122223333:role/R", max_duration=43201)
    with pytest.raises(ConfigurationError, match="mfa_code"):
        fake.register_role("arn:aws:iam::111122223333:role/R", mfa_serial="arn:aws:iam::1:mfa/x")
    with pytest.raises(ConfigurationError, match="non-empty"):
        fake.register_web_identity("arn:aws:iam::111122223333:role/R", "")


def test_fault_injection_arguments_are_checked() -> None:
    fake = FakeSTS()
    with pytest.raises(ConfigurationError, match="count"):
        fake.fail_next(0)
    with pytest.raises(ConfigurationError, match="4xx or 5xx"):
        fake.fail_next(status=200)
    with pytest.raises(ConfigurationError, match="negative"):
        fake.delay_next(-1)


def test_principal_repr_hides_the_secret() -> None:
    principal = FakeSTS().create_principal("arn:aws:iam::111122223333:user/alice", seed=3)
    assert isinstance(principal, Principal)
    assert principal.credentials.secret_access_key not in repr(principal)
    assert principal.credentials.access_key_id in repr(principal)


# --- the package and the pytest plugin -------------------------------------------------------------


def test_public_names_are_exported_and_documented() -> None:
    for name in testing.__all__:
        value = getattr(testing, name)
        assert value.__doc__, name
        assert name in dir(testing)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        testing.Nope  # noqa: B018


def test_importing_the_plugin_does_not_load_the_emulator() -> None:
    code = (
        "import sys, k8s_aws_auth.testing.pytest_plugin; "
        "print(sorted(m for m in sys.modules if m.startswith('k8s_aws_auth.testing.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "['k8s_aws_auth.testing.pytest_plugin']"


def test_fixtures_work_together(
    fake_sts: FakeSTS,
    fake_sts_clock: FixedClock,
    fake_sts_url: str,
    fake_sts_principal: Principal,
) -> None:
    assert fake_sts.clock is fake_sts_clock
    assert fake_sts_principal.arn == "arn:aws:iam::111122223333:user/fake-sts-user"
    token = fake_sts.make_token(fake_sts_principal, cluster_id="c1")
    query = decode_token(token).partition("?")[2]
    headers = {
        "Host": "sts.us-west-2.amazonaws.com",
        "x-k8s-aws-id": "c1",
        "Accept": "application/json",
    }
    with httpx.Client() as http:
        ok = http.get(f"{fake_sts_url}/?{query}", headers=headers)
        assert ok.status_code == 200
        result = ok.json()["GetCallerIdentityResponse"]["GetCallerIdentityResult"]
        assert result["Arn"] == fake_sts_principal.arn
        fake_sts_clock.advance(minutes=15, seconds=1)
        late = http.get(f"{fake_sts_url}/?{query}", headers=headers)
        assert late.status_code == 403
        assert late.json()["Error"]["Message"].startswith("Signature expired")
    assert fake_sts.count() == 2


def _fixture_example_from_the_docs() -> str:
    page = (Path(__file__).resolve().parents[2] / "docs" / "testing.md").read_text("utf-8")
    section = page.split("## pytest fixtures", 1)[1]
    return section.split("```python\n", 1)[1].split("\n```", 1)[0]


def test_plugin_fixtures_run_the_documented_example_through_the_entry_point(
    tmp_path: Path,
) -> None:
    example = _fixture_example_from_the_docs()
    assert (
        "def test_old_tokens_are_refused(fake_sts, fake_sts_clock, fake_sts_principal)" in example
    )
    extra = textwrap.dedent(
        """

        def test_with_the_served_emulator(fake_sts, fake_sts_url, fake_sts_principal):
            token = fake_sts.make_token(fake_sts_principal, cluster_id="c")
            query = decode_token(token).partition("?")[2]
            headers = {"Host": "sts.us-west-2.amazonaws.com", "x-k8s-aws-id": "c"}
            response = httpx.get(f"{fake_sts_url}/?{query}", headers=headers)
            assert response.status_code == 200
            assert fake_sts.count("GetCallerIdentity") == 1
        """
    )
    (tmp_path / "test_user_project.py").write_text(
        example + "\nfrom k8s_aws_auth import decode_token\n" + extra, encoding="utf-8"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_credentials_from_the_emulator_are_plain_credentials() -> None:
    principal = FakeSTS().create_principal("arn:aws:iam::111122223333:user/alice")
    assert isinstance(principal.credentials, Credentials)
