"""Clusters (runtime targets). Environments, services and operations come with their issue."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from environments.choices import ClusterHealth, ClusterKind, RoutingProvider
from microstax.lib.crypto import decrypt_json, encrypt_json
from microstax.lib.ids import PublicIdModel


class Cluster(PublicIdModel):
    """A Kubernetes cluster environments run on.

    Credentials (kubeconfig content and context, or the in-cluster service account) are encrypted
    at rest and never leave the server: no API type, log line or audit event carries them.
    """

    PUBLIC_ID_PREFIX = "cl"

    name = models.SlugField(max_length=63, unique=True)
    kind = models.CharField(max_length=20, choices=ClusterKind.choices, default=ClusterKind.K3S)
    api_url = models.URLField(max_length=300, blank=True)
    credentials_encrypted = models.TextField(blank=True, editable=False)
    in_cluster = models.BooleanField(default=False, help_text="Use the pod's service account")
    ingress_domain = models.CharField(max_length=200, blank=True, help_text="Base domain of environment hosts")
    routing_provider = models.CharField(max_length=20, choices=RoutingProvider.choices,
                                        default=RoutingProvider.TRAEFIK)
    storage_class = models.CharField(max_length=100, blank=True, help_text="Empty: the cluster's default")
    is_default = models.BooleanField(default=False)
    server_version = models.CharField(max_length=50, blank=True)
    health = models.CharField(max_length=20, choices=ClusterHealth.choices, default=ClusterHealth.UNKNOWN)
    health_detail = models.CharField(max_length=300, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=models.Q(is_default=True),
                                    name="one_default_cluster"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_simulated(self) -> bool:
        return self.kind == ClusterKind.SANDBOX

    def set_credentials(self, *, kubeconfig: str = "", context: str = "") -> None:
        self.credentials_encrypted = encrypt_json({"kubeconfig": kubeconfig, "context": context})

    def credentials(self) -> dict:
        if not self.credentials_encrypted:
            return {"kubeconfig": "", "context": ""}
        return decrypt_json(self.credentials_encrypted)
