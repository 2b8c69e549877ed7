from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from environments import actions
from environments.choices import ClusterKind, RoutingProvider
from microstax.lib.errors import DomainError


class Command(BaseCommand):
    help = "Register a Kubernetes cluster from a kubeconfig file (credentials are stored encrypted)."

    def add_arguments(self, parser):
        parser.add_argument("--kubeconfig", required=True, type=Path)
        parser.add_argument("--context", default=None)
        parser.add_argument("--name", default=None, help="default: the context name")
        parser.add_argument("--kind", default=ClusterKind.K3S, choices=ClusterKind.values)
        parser.add_argument("--ingress-domain", default="")
        parser.add_argument("--routing-provider", default=None, choices=RoutingProvider.values)
        parser.add_argument("--storage-class", default="")
        parser.add_argument("--default", action="store_true", help="make it the default cluster")
        parser.add_argument(
            "--as-user", default=None, help="the platform admin recorded as actor (default: the first active superuser)"
        )

    def handle(self, *args, **opts):
        users = get_user_model().objects.filter(is_active=True, is_superuser=True)
        actor = users.filter(username=opts["as_user"]).first() if opts["as_user"] else users.order_by("pk").first()
        if actor is None:
            raise CommandError("no active platform admin to act as; create one with createsuperuser")
        try:
            text = opts["kubeconfig"].read_text()
        except OSError as exc:
            raise CommandError(f"cannot read {opts['kubeconfig']}: {exc.strerror}") from None
        from environments.kubeconfig import parse_kubeconfig

        try:
            name = opts["name"] or parse_kubeconfig(text, opts["context"]).name.lower().replace("_", "-")
            cluster = actions.register_cluster(
                actor=actor,
                name=name,
                kubeconfig=text,
                context=opts["context"],
                kind=opts["kind"],
                ingress_domain=opts["ingress_domain"],
                routing_provider=opts["routing_provider"],
                storage_class=opts["storage_class"],
                is_default=opts["default"],
            )
        except DomainError as exc:
            where = f" ({exc.field})" if exc.field else ""
            raise CommandError(f"{exc.message}{where}") from None
        self.stdout.write(
            f"registered cluster {cluster.name} ({cluster.public_id}) at {cluster.api_url}: "
            f"{cluster.health}"
            + (f", Kubernetes {cluster.server_version}" if cluster.server_version else f" — {cluster.health_detail}")
        )
