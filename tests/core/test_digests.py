"""`_core.digests`: SHA-256, SHA-1 and HMAC-SHA256 equal hashlib's and hmac's, on every implementation."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import subprocess
import sys

import pytest

from k8s_aws_auth._core import digests, sigv4
from tests.support.child_env import child_env

#: Each implementation the module may pick: the interpreter's builtin module and OpenSSL's.
FACTORIES = [
    pytest.param(digests._BUILTIN_SHA256, id="builtin"),
    pytest.param(hashlib.sha256, id="openssl"),
]
#: Around SHA-256's 64-byte block, where padding and key hashing change.
LENGTHS = (0, 1, 31, 32, 55, 56, 63, 64, 65, 119, 127, 128, 129, 300)


def test_this_interpreter_has_the_builtin_modules() -> None:
    # CPython 3.10-3.13 as built here: without them the fast path would be hashlib's.
    assert digests._BUILTIN_SHA256 is not None
    assert digests._builtin(("_sha1",), "sha1") is not None


@pytest.mark.parametrize("factory", FACTORIES)
@pytest.mark.parametrize("key_length", LENGTHS)
def test_hmac_sha256_equals_the_standard_library(
    factory: digests.HashFactory, key_length: int
) -> None:
    chooser = random.Random(key_length)
    key = chooser.randbytes(key_length)
    for length in LENGTHS:
        message = chooser.randbytes(length)
        assert digests.hmac_sha256(key, message, factory) == hmac.digest(key, message, "sha256")


def test_the_rfc_4231_vector() -> None:
    # RFC 4231 test case 2: independent of hashlib.
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    for factory in (digests._BUILTIN_SHA256, hashlib.sha256):
        assert digests.hmac_sha256(b"Jefe", b"what do ya want for nothing?", factory).hex() == (
            expected
        )


def test_the_builtin_sha256_and_sha1_equal_hashlib() -> None:
    chooser = random.Random(7)
    builtin_sha256 = digests._BUILTIN_SHA256
    builtin_sha1 = digests._builtin(("_sha1",), "sha1")
    assert builtin_sha256 is not None
    assert builtin_sha1 is not None
    for length in LENGTHS:
        data = chooser.randbytes(length)
        assert builtin_sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()
        assert builtin_sha1(data).hexdigest() == hashlib.sha1(data).hexdigest()
    assert digests.sha256(b"abc").hexdigest() == hashlib.sha256(b"abc").hexdigest()
    assert digests.sha1(b"abc").hexdigest() == hashlib.sha1(b"abc").hexdigest()


def test_the_empty_payload_constant_is_sha256_of_nothing() -> None:
    assert hashlib.sha256(b"").hexdigest() == sigv4.EMPTY_PAYLOAD_SHA256


def test_openssl_is_used_once_hashlib_is_loaded() -> None:
    # This process imported hashlib: long-running processes get the faster implementation.
    assert digests.sha256_factory() is hashlib.sha256


_FRESH = """
import json, sys
from k8s_aws_auth._core import digests, sigv4
from tests.support.child_env import child_env
key = sigv4.signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "iam")
print(json.dumps({
    "factory": digests.sha256_factory().__module__,
    "key": key.hex(),
    "sha1": digests.sha1(b"corp").hexdigest(),
    "loaded": [m for m in ("hashlib", "hmac", "_hashlib") if m in sys.modules],
}))
"""


def test_a_fresh_process_hashes_without_hashlib_and_gets_the_same_bytes() -> None:
    # Unmeasured: coverage.py, started in the child by `nox -s tests`, imports hashlib itself.
    result = subprocess.run(
        [sys.executable, "-c", _FRESH],
        env=child_env(dict(os.environ), measured=False),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    report = json.loads(result.stdout)
    assert report["loaded"] == []
    assert report["factory"] in ("_sha2", "_sha256")
    # The signing key of the AWS SigV4 documentation's example (an independent value).
    assert report["key"] == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
    assert report["sha1"] == hashlib.sha1(b"corp").hexdigest()
