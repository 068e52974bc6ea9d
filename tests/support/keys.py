"""Well-known fake credentials and fixed times the tests share (none is a real secret)."""

from __future__ import annotations

import base64
from datetime import datetime, timezone

__all__ = [
    "DOC_ACCESS_KEY_ID",
    "DOC_SECRET",
    "GOLDEN_ACCESS_KEY_ID",
    "GOLDEN_SECRET",
    "GOLDEN_TIME",
]

#: Upstream's golden-vector credentials (reference/upstream.md §1.6), stored base64
#: upstream to dodge secret scanners.
GOLDEN_ACCESS_KEY_ID = base64.b64decode("QVNJQVIyVEc0NFY2QVMzWlpFN0M=").decode()
GOLDEN_SECRET = base64.b64decode(
    "NEtENWNudEdjVm1MV1JkRjV3dk5SdXpOTDVReG1wNk9LVlk2RnovUQ=="
).decode()
GOLDEN_TIME = datetime.fromtimestamp(1682640000, timezone.utc)

#: AWS documentation's example key pair (not a real credential).
DOC_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
