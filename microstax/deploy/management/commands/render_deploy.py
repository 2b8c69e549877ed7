from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from microstax.deploy.output import to_yaml, write_files
from microstax.deploy.render import options_from_settings, render_deploy


class Command(BaseCommand):
    help = (
        "Render the Kubernetes manifests that run the MicroStax control plane (namespace, RBAC, migrations "
        "Job, web and worker Deployments, Service, Ingress, PDB) from settings; secrets are referenced, "
        "never rendered."
    )

    def add_arguments(self, parser):
        parser.add_argument("--namespace", default=None, help="default: microstax")
        parser.add_argument("--image", default=None, help="default: MICROSTAX_IMAGE")
        parser.add_argument("--host", default=None, help="public host name (default: from MICROSTAX_PUBLIC_URL)")
        parser.add_argument("--replicas-web", type=int, default=None, help="default: 2")
        parser.add_argument("--replicas-worker", type=int, default=None, help="default: 2")
        parser.add_argument("--secret-name", default=None, help="the Secret holding the keys (default: microstax)")
        parser.add_argument("--ingress-class", default=None, help="spec.ingressClassName (default: the cluster's)")
        parser.add_argument("--tls-secret", default=None, help="a TLS Secret for the Ingress (default: none)")
        parser.add_argument("--output", default="-", help="a directory (one file per object) or - for stdout")

    def handle(self, *args, **opts):
        try:
            options = options_from_settings(
                settings,
                namespace=opts["namespace"],
                image=opts["image"],
                host=opts["host"],
                replicas_web=opts["replicas_web"],
                replicas_worker=opts["replicas_worker"],
                secret_name=opts["secret_name"],
                ingress_class=opts["ingress_class"],
                tls_secret=opts["tls_secret"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        objects = render_deploy(options)
        if opts["output"] == "-":
            self.stdout.write(to_yaml(options, objects), ending="")
            return
        written = write_files(options, objects, Path(opts["output"]))
        self.stderr.write(f"wrote {len(written)} manifests to {opts['output']} (see README.txt there for the Secret)")
