"""Testing toolkit (FakeSTS, make_token) — see issue 3."""
