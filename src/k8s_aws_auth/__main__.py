"""``python -m k8s_aws_auth``: the same as the ``k8s-aws-auth`` command."""

from __future__ import annotations

import sys

from .cli import process_main

if __name__ == "__main__":
    sys.exit(process_main())
