"""Secrets never leak: known values are planted — an environment's generated secrets, a cluster
kubeconfig's token, an API token, SECRET_KEY, a snapshot transfer token, S3 credentials — then
every output is searched for them: GraphQL answers (every field of the main types), dashboard
pages, CLI output, log records, audit events (before/after included), the Kubernetes objects
MicroStax rendered into kubesim (everything but Secrets, where such values belong) and the
provisioning traces it would export."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from graphql import GraphQLNamedType, GraphQLNonNull, GraphQLObjectType, get_named_type

from audit.models import AuditEvent
from environments import actions as env_actions
from environments.models import Environment, Operation
from environments.tracing import operation_spans
from microstax.cli.main import main as cli
from microstax.graphql.schema import schema
from microstax.kubesim import KubeSim
from microstax.teams import actions as team_actions
from snapshots import actions as snapshot_actions
from snapshots import tokens
from tests.environments.test_lifecycle import STACK
from tests.security.pages import PAGES
from tests.security.world import World

PLANTED_SECRET_KEY = "planted-secret-key-4c1f0e9d7a2b"
PLANTED_KUBE_TOKEN = "planted-kube-token-8e3a51d0c7"
PLANTED_TRANSFER_TOKEN = "msxsnap_planted-transfer-token-2f6b9c"
PLANTED_S3_KEY_ID = "AKIAPLANTED0000KEYID"
PLANTED_S3_SECRET = "planted-s3-secret-access-key-91ad"


def _selection(type_: GraphQLNamedType, depth: int) -> str:
    """Every field of ``type_`` without required arguments, objects followed ``depth`` levels."""
    if not isinstance(type_, GraphQLObjectType):
        return ""
    parts = []
    for name, field in type_.fields.items():
        if any(isinstance(arg.type, GraphQLNonNull) and arg.default_value is None for arg in field.args.values()):
            continue
        inner = get_named_type(field.type)
        if isinstance(inner, GraphQLObjectType):
            if depth > 0:
                nested = _selection(inner, depth - 1)
                if nested:
                    parts.append(f"{name} {{ {nested} }}")
        else:
            parts.append(name)
    return " ".join(parts)


def _everything_about(root_field: str, args: str, depth: int = 3) -> str:
    field = schema._schema.query_type.fields[root_field]
    return f"{{ {root_field}{args} {{ {_selection(get_named_type(field.type), depth)} }} }}"


@pytest.fixture
def planted(settings, monkeypatch):
    settings.SECRET_KEY = PLANTED_SECRET_KEY
    settings.MICROSTAX_SNAPSHOT_S3_ACCESS_KEY_ID = PLANTED_S3_KEY_ID
    settings.MICROSTAX_SNAPSHOT_S3_SECRET_ACCESS_KEY = PLANTED_S3_SECRET
    settings.MICROSTAX_GRAPHQL_MAX_TOKENS = 20_000  # the all-fields documents below are long
    settings.MICROSTAX_GRAPHQL_MAX_DEPTH = 12
    monkeypatch.setattr(
        tokens,
        "mint",
        lambda: (
            PLANTED_TRANSFER_TOKEN,
            tokens.digest(PLANTED_TRANSFER_TOKEN),
            tokens.timezone.now() + tokens.timedelta(hours=1),
        ),
    )
    return [PLANTED_SECRET_KEY, PLANTED_KUBE_TOKEN, PLANTED_TRANSFER_TOKEN, PLANTED_S3_KEY_ID, PLANTED_S3_SECRET]


@pytest.mark.django_db(transaction=True)
def test_no_planted_secret_appears_in_any_output(planted, live_server, caplog, capsys, monkeypatch):
    caplog.set_level(logging.DEBUG)
    outputs: dict[str, str] = {}
    with KubeSim(token=PLANTED_KUBE_TOKEN) as sim:
        # given: a team with a provisioned environment, an API token and a snapshot being captured
        owner = get_user_model().objects.create_user("olivia", password="pw-olivia")
        admin = get_user_model().objects.create_superuser("root-admin", password="pw-admin")
        team = team_actions.create_team(actor=owner, slug="payments", name="Payments")
        kubeconfig = sim.kubeconfig()
        assert PLANTED_KUBE_TOKEN in kubeconfig
        env_actions.register_cluster(
            actor=admin,
            name="sandbox",
            kubeconfig=kubeconfig,
            kind="sandbox",
            ingress_domain="sandbox.localhost",
            is_default=True,
        )
        env = env_actions.create_environment(actor=owner, team=team, source=STACK)
        env.refresh_from_db()
        assert env.state == "ready", env.state_reason
        generated = list(env.generated_secrets().values())
        assert generated, "the blueprint declares an auto-generated secret"
        token, api_secret = team_actions.create_api_token(actor=owner, name="ci")
        snapshot = snapshot_actions.create_snapshot(actor=owner, env=env, service="db")
        secrets = [*planted, *generated, api_secret]

        # when: everything that shows, logs, records, renders or exports is read
        outputs |= _graphql_answers(env, snapshot, api_secret, admin)
        outputs |= _dashboard_pages(env, snapshot, token, owner, admin)
        outputs |= _cli_output(live_server.url, env, api_secret, capsys, monkeypatch)
        outputs["audit events"] = json.dumps(list(AuditEvent.objects.values()), default=str)
        outputs["traces"] = json.dumps([operation_spans(op) for op in Operation.objects.all()], default=str)
        outputs |= _kubernetes_objects(sim)
        # The values were really in play (the search looks for strings that exist): the generated
        # ones reached the cluster in a Secret, the transfer token was minted for the capture.
        assert all(value in _secret_values(sim) for value in generated)
        assert Operation.objects.filter(kind="snapshot").exists()
    outputs["logs"] = caplog.text + "\n".join(str(r.args) for r in caplog.records)

    # then
    # Also base64-encoded, as Kubernetes data fields and basic-auth headers carry them.
    needles = {secret: (secret, base64.b64encode(secret.encode()).decode()) for secret in secrets}
    leaks = [
        f"{secret[:12]}… in {where}"
        for where, text in outputs.items()
        for secret, forms in needles.items()
        if any(form in text for form in forms)
    ]
    assert not leaks, "planted secrets leaked:\n" + "\n".join(leaks)
    assert len(outputs) > 40  # the search really covered the outputs


def _graphql_answers(env: Environment, snapshot, api_secret: str, admin) -> dict[str, str]:
    out = {}
    documents = {
        "environment": _everything_about("environment", f'(id: "{env.public_id}")'),
        "environments": _everything_about("environments", "", depth=4),
        "clusters": _everything_about("clusters", ""),
        "snapshot": _everything_about("snapshot", f'(id: "{snapshot.public_id}")'),
        "viewer": _everything_about("viewer", ""),
        "apiTokens": _everything_about("apiTokens", "", depth=3),
        "teams": _everything_about("teams", "", depth=4),
        "auditEvents": _everything_about("auditEvents", "", depth=3),
        "complianceSummary": _everything_about("complianceSummary", ""),
        "logs": f'{{ environmentLogs(id: "{env.public_id}", service: "db", tailLines: 50) {{ pod line }} }}',
    }
    for name, document in documents.items():
        for caller, headers in (("token", {"HTTP_AUTHORIZATION": f"Bearer {api_secret}"}), ("admin", {})):
            client = Client()
            if caller == "admin":
                client.force_login(admin)
            response = client.post("/graphql", {"query": document}, content_type="application/json", **headers)
            payload = response.json()
            assert not payload.get("errors"), (name, payload["errors"][:2])
            out[f"graphql {name} as {caller}"] = response.content.decode()
    return out


def _dashboard_pages(env, snapshot, token, owner, admin) -> dict[str, str]:
    world = World(
        users={},
        team_id=env.team.public_id,
        team_slug=env.team.slug,
        other_team_id="",
        cluster_name="sandbox",
        kubeconfig="",
        blueprint_id="bp_none",
        version_id="",
        env_id=env.public_id,
        baseline_id=env.public_id,
        snapshot_id=snapshot.public_id,
        policy_id="",
        token_id=token.public_id,
        event_sequence=AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True).first(),
    )
    out = {}
    for user in (owner, admin):
        client = Client()
        client.force_login(user)
        for name, page in PAGES.items():
            if page.method != "GET" or name in ("snapshots:artifact", "snapshots:download"):
                continue
            response = client.get(page.path(world), **page.headers)
            body = b"".join(response.streaming_content) if response.streaming else response.content
            out[f"page {name} as {user.username}"] = body.decode(errors="replace")
    return out


def _cli_output(url: str, env, api_secret: str, capsys, monkeypatch) -> dict[str, str]:
    monkeypatch.setenv("MICROSTAX_API_URL", url)
    monkeypatch.setenv("MICROSTAX_API_KEY", api_secret)
    out = {}
    commands = [
        ["env", "list"],
        ["env", "get", env.public_id],
        ["env", "status", env.public_id],
        ["env", "snapshot", "list", env.public_id],
        ["auth", "verify"],
        ["governance", "logs"],
    ]
    for argv in commands:
        for output in ("table", "json", "yaml"):
            code = cli(["--output", output, *argv])
            captured = capsys.readouterr()
            assert code == 0, (argv, captured.err)
            out[f"cli {' '.join(argv)} --output {output}"] = captured.out + captured.err
    return out


def _kubernetes_objects(sim: KubeSim) -> dict[str, str]:
    out = {}
    for kind, objects in sim.store.dump()["objects"].items():
        if "secrets" in str(kind).lower():
            continue  # where secret values belong
        for obj in objects:
            meta = obj.get("metadata", {})
            out[f"kubernetes {kind} {meta.get('namespace')}/{meta.get('name')}"] = json.dumps(obj)
    return out


def _secret_values(sim: KubeSim) -> set[str]:
    values = set()
    for kind, objects in sim.store.dump()["objects"].items():
        if "secrets" in str(kind).lower():
            for obj in objects:
                values |= {base64.b64decode(v).decode() for v in (obj.get("data") or {}).values()}
                values |= set((obj.get("stringData") or {}).values())
    return values
