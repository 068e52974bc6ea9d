"""``_exec_credential``: the ExecCredential document and ``KUBERNETES_EXEC_INFO``."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from k8s_aws_auth import Token, format_exec_credential, parse_exec_info
from k8s_aws_auth._core.exec_credential import EXEC_API_VERSIONS, ExecInfo, format_timestamp
from k8s_aws_auth.errors import ConfigurationError

TOKEN = Token("k8s-aws-v1.aHR0cHM6Ly9zdHM", datetime(2023, 4, 28, 0, 14, tzinfo=timezone.utc))


@pytest.mark.parametrize(
    "api_version",
    [
        "client.authentication.k8s.io/v1beta1",
        "client.authentication.k8s.io/v1",
        "client.authentication.k8s.io/v1alpha1",
    ],
)
def test_document_shape(api_version: str) -> None:
    text = format_exec_credential(TOKEN, api_version=api_version)
    document = json.loads(text)
    assert list(document) == ["kind", "apiVersion", "spec", "status"]
    assert document == {
        "kind": "ExecCredential",
        "apiVersion": api_version,
        "spec": {},
        "status": {
            "expirationTimestamp": "2023-04-28T00:14:00Z",
            "token": "k8s-aws-v1.aHR0cHM6Ly9zdHM",
        },
    }
    assert list(document["status"]) == ["expirationTimestamp", "token"]


def test_default_is_v1beta1_exact_bytes() -> None:
    assert format_exec_credential(TOKEN) == (
        '{"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1beta1", '
        '"spec": {}, "status": {"expirationTimestamp": "2023-04-28T00:14:00Z", '
        '"token": "k8s-aws-v1.aHR0cHM6Ly9zdHM"}}'
    )


@pytest.mark.parametrize(
    "api_version",
    ["", "client.authentication.k8s.io/v2", "v1", "client.authentication.k8s.io/V1"],
)
def test_unknown_api_version_is_refused(api_version: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        format_exec_credential(TOKEN, api_version=api_version)
    assert info.value.reason == "api-version"


def test_token_must_be_a_token_value() -> None:
    with pytest.raises(ConfigurationError) as info:
        format_exec_credential("k8s-aws-v1.x")  # type: ignore[arg-type]
    assert info.value.reason == "token"


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2023, 4, 28, 0, 14, tzinfo=timezone.utc), "2023-04-28T00:14:00Z"),
        (datetime(2023, 4, 28, 0, 14, 59, 999_999, tzinfo=timezone.utc), "2023-04-28T00:14:59Z"),
        (datetime(2023, 4, 28, 2, 14, tzinfo=timezone(timedelta(hours=2))), "2023-04-28T00:14:00Z"),
        (
            datetime(2023, 4, 27, 20, 14, tzinfo=timezone(timedelta(hours=-4))),
            "2023-04-28T00:14:00Z",
        ),
        (datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone.utc), "1999-12-31T23:59:59Z"),
    ],
)
def test_timestamp_format(moment: datetime, expected: str) -> None:
    assert format_timestamp(moment) == expected
    doc = json.loads(format_exec_credential(Token("t", moment)))
    assert doc["status"]["expirationTimestamp"] == expected


def test_naive_expiration_is_refused() -> None:
    with pytest.raises(ConfigurationError) as info:
        format_exec_credential(Token("t", datetime(2023, 4, 28)))
    assert info.value.reason == "clock"


def test_token_repr_and_str_hide_the_value() -> None:
    assert "aHR0cHM6Ly9zdHM" not in repr(TOKEN)
    assert "aHR0cHM6Ly9zdHM" not in str(TOKEN)


# --- KUBERNETES_EXEC_INFO ---------------------------------------------------------------------

V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"
V1ALPHA1 = "client.authentication.k8s.io/v1alpha1"


@pytest.mark.parametrize(
    ("value", "api_version", "interactive", "warns"),
    [
        (None, V1BETA1, False, False),
        ("", V1BETA1, False, False),
        ("   \n", V1BETA1, False, False),
        (
            '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1",'
            '"spec":{"interactive":true}}',
            V1,
            True,
            False,
        ),
        (
            '{"apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}',
            V1,
            False,
            False,
        ),
        ('{"apiVersion":"client.authentication.k8s.io/v1beta1","spec":{}}', V1BETA1, False, False),
        ('{"apiVersion":"client.authentication.k8s.io/v1alpha1"}', V1ALPHA1, False, False),
        # kubectl's real v1 payload also carries the cluster; unused but harmless.
        (
            '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1",'
            '"spec":{"cluster":{"server":"https://127.0.0.1:6443"},"interactive":false}}',
            V1,
            False,
            False,
        ),
        # No apiVersion: the default, silently (upstream would emit an empty apiVersion).
        ('{"spec":{"interactive":true}}', V1BETA1, True, False),
        ('{"apiVersion":""}', V1BETA1, False, False),
        ('{"apiVersion":null}', V1BETA1, False, False),
        # interactive must be exactly true
        (
            '{"apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":"yes"}}',
            V1,
            False,
            False,
        ),
        ('{"apiVersion":"client.authentication.k8s.io/v1","spec":[]}', V1, False, False),
        # unknown versions and malformed input fall back with a warning
        ('{"apiVersion":"client.authentication.k8s.io/v2"}', V1BETA1, False, True),
        ('{"apiVersion":"client.authentication.k8s.io/v1 "}', V1BETA1, False, True),
        ('{"apiVersion":42}', V1BETA1, False, True),
        ('{"apiVersion":["client.authentication.k8s.io/v1"]}', V1BETA1, False, True),
        ("{not json", V1BETA1, False, True),
        ("[]", V1BETA1, False, True),
        ('"client.authentication.k8s.io/v1"', V1BETA1, False, True),
        ("null", V1BETA1, False, True),
    ],
)
def test_parse_exec_info(
    value: str | None, api_version: str, interactive: bool, warns: bool
) -> None:
    info = parse_exec_info(value)
    assert isinstance(info, ExecInfo)
    assert info.api_version == api_version
    assert info.interactive is interactive
    assert (info.warning is not None) is warns
    # Whatever was parsed can be used to format a credential.
    assert json.loads(format_exec_credential(TOKEN, api_version=info.api_version))[
        "apiVersion"
    ] == (api_version)


# --- the json-free forms: equal to json's results -----------------------------------------

_TOKENS = [
    "k8s-aws-v1.aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS8_QWN0aW9u",
    "k8s-aws-v1.",
    "plain+/=:.-_",
    'needs "escaping"',  # written by json.dumps
    "back\\slash",
    "caf\u00e9",
    "line\nbreak",
]


@pytest.mark.parametrize("token", _TOKENS)
@pytest.mark.parametrize("indent", [None, 4])
@pytest.mark.parametrize("api_version", sorted(EXEC_API_VERSIONS))
def test_exec_credential_json_equals_json_dumps(
    token: str, indent: int | None, api_version: str
) -> None:
    from k8s_aws_auth._core.exec_credential import exec_credential_document, exec_credential_json

    expires = "2026-11-28T11:16:49Z"
    expected = json.dumps(
        exec_credential_document(token, expires, api_version=api_version), indent=indent
    )
    assert exec_credential_json(token, expires, api_version=api_version, indent=indent) == expected


#: What kubectl 1.3x sends (captured from the real binary), with and without its newline.
@pytest.mark.parametrize("api_version", sorted(EXEC_API_VERSIONS))
@pytest.mark.parametrize("interactive", [False, True])
@pytest.mark.parametrize("suffix", ["", "\n", " \r\n\t"])
def test_kubectls_exact_documents_parse_as_json_would(
    api_version: str, interactive: bool, suffix: str
) -> None:
    from k8s_aws_auth._core import exec_credential

    document = json.dumps(
        {"kind": "ExecCredential", "apiVersion": api_version, "spec": {"interactive": interactive}},
        separators=(",", ":"),
    )
    assert document + suffix.strip(" \t\r\n") in exec_credential._KUBECTL_EXEC_INFO
    parsed = parse_exec_info(document + suffix)
    # The general path on the same document (an extra space defeats the exact match).
    general = parse_exec_info(" " + document.replace(",", ", ") + suffix)
    assert parsed == general == ExecInfo(api_version=api_version, interactive=interactive)
