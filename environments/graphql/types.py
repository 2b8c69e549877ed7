from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
import strawberry_django

from environments import models


@strawberry.enum(description="Stable codes of environment-app errors")
class EnvironmentErrorCode(Enum):
    INVALID = "INVALID"
    NOT_FOUND = "NOT_FOUND"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    CONFLICT = "CONFLICT"


@strawberry.type
class EnvironmentError:
    code: EnvironmentErrorCode
    field: str | None
    message: str


@strawberry_django.type(models.Cluster, description="A Kubernetes cluster environments run on (no credentials)")
class Cluster:
    id: strawberry.ID = strawberry_django.field(field_name="public_id")
    name: str
    kind: str
    api_url: str
    ingress_domain: str
    routing_provider: str
    storage_class: str
    is_default: bool
    server_version: str
    health: str
    health_detail: str
    checked_at: datetime | None

    @strawberry.field(description="True for the sandbox cluster emulated by kubesim")
    def simulated(self, root: models.Cluster) -> bool:
        return root.is_simulated
