from __future__ import annotations

import strawberry
from strawberry.types import Info

from environments import actions, models
from environments.graphql.types import Cluster, EnvironmentError, EnvironmentErrorCode
from microstax.graphql.context import current_user
from microstax.lib.errors import DomainError


def _error(exc: DomainError) -> EnvironmentError:
    return EnvironmentError(code=EnvironmentErrorCode(exc.code), field=exc.field, message=exc.message)


@strawberry.input
class RegisterClusterInput:
    name: str
    kubeconfig: str = strawberry.field(description="kubeconfig file content; stored encrypted, never returned")
    context: str | None = None
    kind: str = "k3s"
    ingress_domain: str = ""
    routing_provider: str | None = None
    storage_class: str = ""
    is_default: bool = False


@strawberry.type
class ClusterPayload:
    cluster: Cluster | None = None
    errors: list[EnvironmentError] = strawberry.field(default_factory=list)


@strawberry.type
class Query:
    @strawberry.field(description="Registered clusters (every signed-in user sees them; credentials never)")
    def clusters(self, info: Info) -> list[Cluster]:
        current_user(info)
        return list(models.Cluster.objects.order_by("name"))


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Register a cluster from a kubeconfig (platform admins)")
    def register_cluster(self, info: Info, input: RegisterClusterInput) -> ClusterPayload:
        user = current_user(info)
        try:
            cluster = actions.register_cluster(
                actor=user,
                name=input.name,
                kubeconfig=input.kubeconfig,
                context=input.context,
                kind=input.kind,
                ingress_domain=input.ingress_domain,
                routing_provider=input.routing_provider,
                storage_class=input.storage_class,
                is_default=input.is_default,
            )
        except DomainError as exc:
            return ClusterPayload(errors=[_error(exc)])
        return ClusterPayload(cluster=cluster)
