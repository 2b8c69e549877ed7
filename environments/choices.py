from __future__ import annotations

from django.db import models


class ClusterKind(models.TextChoices):
    K3S = "k3s", "k3s"
    GKE = "gke", "Google Kubernetes Engine"
    EKS = "eks", "Amazon EKS"
    AKS = "aks", "Azure AKS"
    GENERIC = "generic", "Conformant Kubernetes"
    SANDBOX = "sandbox", "Sandbox (simulated by kubesim)"


class RoutingProvider(models.TextChoices):
    TRAEFIK = "traefik", "Traefik (k3s default)"
    NGINX = "nginx", "NGINX ingress"
    GATEWAY_API = "gateway-api", "Gateway API HTTPRoute"


class ClusterHealth(models.TextChoices):
    UNKNOWN = "unknown", "Not checked yet"
    HEALTHY = "healthy", "Healthy"
    UNREACHABLE = "unreachable", "Unreachable"
