from __future__ import annotations

from django.apps import AppConfig


class DeployConfig(AppConfig):
    """Model-free: the ``render_deploy`` and ``wait_for_migrations`` commands and ``/healthz``."""

    name = "microstax.deploy"
    label = "deploy"
    verbose_name = "Deployment"
