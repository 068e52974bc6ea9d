"""Tests of the root package's shells: ``TokenVerifier``/``AsyncTokenVerifier`` and ``generate_token``."""
