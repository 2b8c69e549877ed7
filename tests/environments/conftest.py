"""Fixtures shared by the environment page tests."""

from __future__ import annotations

import pytest

from environments.models import Cluster


@pytest.fixture
def cluster(db):
    """A sandbox cluster row; nothing talks to it unless a test runs provisioning."""
    return Cluster.objects.create(name="sandbox", kind="sandbox", ingress_domain="sandbox.localhost", is_default=True)
