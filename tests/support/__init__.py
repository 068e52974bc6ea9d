"""Helpers shared by the tests (stand-ins, oracles, harnesses, keys): the one place they live."""
