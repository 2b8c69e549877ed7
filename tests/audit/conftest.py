"""Fixtures of the audit tests."""

from __future__ import annotations

import pytest

from audit import signing

# The CLI tests here run against a live server like tests/cli's, with the same fixtures.
from tests.cli.conftest import cli, owner_token, viewer_token  # noqa: F401


@pytest.fixture
def own_key(settings, tmp_path):
    """A signing key of this test alone (the default one in var/ is shared by every run)."""
    settings.MICROSTAX_AUDIT_SIGNING_KEY_FILE = tmp_path / "audit-key.pem"
    settings.MICROSTAX_AUDIT_SIGNING_KEY_GENERATE = True
    yield settings.MICROSTAX_AUDIT_SIGNING_KEY_FILE
    signing.forget_cached_keys()
