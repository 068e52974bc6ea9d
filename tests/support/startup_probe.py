"""A child interpreter that runs the CLI and reports the modules it loaded.

Run as ``python -c PROBE <args>``: it calls `k8s_aws_auth.cli.main` with the
arguments and writes ``{"code": <exit code>, "modules": [...]}`` on stderr,
the modules taken before its own json import, so json counts only when the
command loaded it.
"""

from __future__ import annotations

__all__ = ["PROBE", "REPLACED_ON_THE_FAST_PATH"]

#: The standard library the exec plugin's fast paths do without: argparse with the
#: gettext and locale it loads (`cli._token_argv`), hashlib, hmac and the OpenSSL
#: binding (`_core.digests`), importlib (`_core.lazy` uses `__import__`).
REPLACED_ON_THE_FAST_PATH = (
    "argparse",
    "gettext",
    "locale",
    "hashlib",
    "hmac",
    "_hashlib",
    "importlib",
)

PROBE = """
import sys
sys.argv = ["k8s-aws-auth", *sys.argv[1:]]
from k8s_aws_auth.cli import main
code = main()
modules = sorted(sys.modules)
import json
sys.stderr.write(json.dumps({"code": code, "modules": modules}))
"""
