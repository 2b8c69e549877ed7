from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from audit.actions import record
from microstax.teams import actions
from microstax.teams.models import ApiToken, Team

DEMO_TEAM = "demo"
DEMO_TOKEN_NAME = "demo"


class Command(BaseCommand):
    help = (
        "Create the demo platform admin, the demo team and an API token (idempotent). "
        "The admin password is kept in var/demo-credentials.json so re-runs can print it again; "
        "the token is printed only when it is created."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the URL to print")
        parser.add_argument(
            "--sandbox-kubeconfig",
            default=None,
            type=Path,
            help="register (or refresh) the kubesim emulator behind this kubeconfig as the default 'sandbox' cluster",
        )
        parser.add_argument(
            "--demo-environment",
            action="store_true",
            help="create the 'hello' example environment on the sandbox when the demo team has "
            "no live environment (so the dashboard is not empty on first login)",
        )

    def handle(
        self,
        *args,
        username: str,
        url: str,
        sandbox_kubeconfig: Path | None = None,
        demo_environment: bool = False,
        **options,
    ):
        credentials_file = Path(settings.VAR_DIR) / "demo-credentials.json"
        stored = json.loads(credentials_file.read_text()) if credentials_file.exists() else {}
        password = stored.get("password") or secrets.token_urlsafe(12)

        User = get_user_model()
        with transaction.atomic():
            admin = User.objects.filter(username=username).first()
            if admin is None:
                admin = User.objects.create_superuser(
                    username=username, email=f"{username}@example.invalid", password=password
                )
                record(
                    action="user.create",
                    actor=None,
                    target_type="user",
                    target_id=username,
                    after={"username": username, "superuser": True},
                    reason="bootstrap_demo",
                )
            elif not admin.check_password(password):
                admin.set_password(password)
                admin.save(update_fields=["password"])
                record(
                    action="user.password.reset",
                    actor=None,
                    target_type="user",
                    target_id=username,
                    reason="bootstrap_demo",
                )
        credentials_file.parent.mkdir(parents=True, exist_ok=True)
        credentials_file.write_text(json.dumps({"username": username, "password": password}))
        os.chmod(credentials_file, 0o600)

        team = Team.objects.filter(slug=DEMO_TEAM).first()
        if team is None:
            team = actions.create_team(actor=admin, slug=DEMO_TEAM, name="Demo team")

        secret = None
        if not ApiToken.objects.active().filter(user=admin, name=DEMO_TOKEN_NAME).exists():
            _, secret = actions.create_api_token(actor=admin, name=DEMO_TOKEN_NAME)

        call_command("install_schedules", verbosity=0)  # the fleet sweep every minute, the daily checkpoint
        sandbox = self._sandbox(admin, sandbox_kubeconfig) if sandbox_kubeconfig else None
        demo_env = self._demo_environment(admin, team, sandbox) if demo_environment and sandbox else None

        out = self.stdout.write
        out("")
        out(f"  MicroStax is at   {url}/")
        out(f"  GraphQL           {url}/graphql")
        out(f"  Sign in as        {username} / {password}")
        out(f"  Demo team         {team.slug} ({team.public_id})")
        if sandbox is not None:
            out(f"  Sandbox cluster   {sandbox.api_url} (simulated by kubesim; {sandbox.health})")
        if demo_env is not None:
            out(
                f"  Demo environment  {demo_env.name} ({demo_env.public_id}): {demo_env.state}; see {url}/environments/"
            )
        if secret:
            out(f"  API token         {secret}   (shown once; store it now)")
            out(
                f"  Try               curl -s -H 'Authorization: Bearer {secret}' -H 'Content-Type: application/json' "
                f'-d \'{{"query": "{{ viewer {{ username }} }}"}}\' {url}/graphql'
            )
        else:
            out("  API token         already created and shown on the first run; make a new one with")
            out(f"                    .venv/bin/python manage.py create_api_token {username} --name cli")
        out("")

    def _sandbox(self, admin, kubeconfig_path: Path):
        """The embedded kubesim as the default 'sandbox' cluster, its credentials refreshed if they changed."""
        from environments import actions as cluster_actions
        from environments.choices import ClusterKind
        from environments.models import Cluster

        kubeconfig = kubeconfig_path.read_text()
        cluster = Cluster.objects.filter(name="sandbox").first()
        if cluster is None:
            return cluster_actions.register_cluster(
                actor=admin,
                name="sandbox",
                kubeconfig=kubeconfig,
                kind=ClusterKind.SANDBOX,
                ingress_domain="sandbox.localhost",
                is_default=not Cluster.objects.filter(is_default=True).exists(),
            )
        if cluster.credentials()["kubeconfig"] != kubeconfig:
            return cluster_actions.set_cluster_credentials(actor=admin, cluster=cluster, kubeconfig=kubeconfig)
        return cluster_actions.check_cluster(cluster)

    def _demo_environment(self, admin, team, sandbox):
        """The 'hello' example on the sandbox, unless the demo team already runs something."""
        from environments import actions as environment_actions
        from environments.models import Environment

        live = Environment.objects.live().filter(team=team).order_by("-created_at").first()
        if live is not None:
            return live
        source = (Path(settings.BASE_DIR) / "blueprints" / "examples" / "hello.yaml").read_text()
        return environment_actions.create_environment(actor=admin, team=team, source=source, cluster=sandbox)
