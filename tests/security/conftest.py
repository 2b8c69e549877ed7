"""Fixtures of the security tests: the populated installation of the authorization matrix."""

from tests.security.world import world  # noqa: F401
