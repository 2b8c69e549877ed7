"""The transfer Jobs are pure renderings: connection like a seed Job's, secrets only by reference."""

from __future__ import annotations

import base64

import pytest

from blueprints.validation import validate_blueprint
from environments.render import RenderContext, RenderError
from snapshots.jobs import CAPTURE, RESTORE, Transfer, render_transfer, transfer_name
from tests.snapshots.conftest import STACK

CTX = RenderContext(
    environment_id="env_abc123", environment_slug="shop", namespace="env-shop-abc123", team_slug="payments"
)


def spec() -> dict:
    return validate_blueprint(STACK).normalized


def transfer(kind: str, service: str = "db") -> Transfer:
    db = next(s for s in spec()["services"] if s["name"] == service)
    return Transfer(
        kind=kind,
        name=transfer_name(kind, "snap_ab12cd34", 7 if kind == RESTORE else None),
        service=db,
        url="https://msx.example.com/snapshots/snap_ab12cd34/artifact",
        token="msxsnap_token",
        image="ghcr.io/microstax/microstax:1.2.3",
        policy_yaml="name: p\n" if kind == CAPTURE else "",
        salt="pepper-pepper" if kind == CAPTURE else "",
    )


def by_kind(objects: list[dict]) -> dict[str, dict]:
    return {o["kind"]: o for o in objects}


def test_the_restore_job_downloads_with_a_token_from_its_secret() -> None:
    objects = by_kind(render_transfer(CTX, spec(), transfer(RESTORE)))
    assert set(objects) == {"Secret", "NetworkPolicy", "Job"}
    job = objects["Job"]
    assert job["metadata"]["name"] == "snap-restore-ab12cd34-7"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == [
        "microstax", "snapshot-agent", "restore", "--input", "https://msx.example.com/snapshots/snap_ab12cd34/artifact",
    ]  # fmt: skip
    names = [e["name"] for e in container["env"]]
    assert names[:4] == ["PGHOST", "PGPORT", "PGUSER", "PGDATABASE"] and "MICROSTAX_SNAPSHOT_TOKEN" in names
    assert base64.b64decode(objects["Secret"]["data"]["token"]) == b"msxsnap_token"
    assert "salt" not in objects["Secret"]["data"]
    assert objects["NetworkPolicy"]["spec"]["egress"] == [{"ports": [{"port": 443, "protocol": "TCP"}]}]
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert all(o["metadata"]["namespace"] == CTX.namespace for o in objects.values())


def test_the_capture_job_mounts_its_policy_and_keeps_the_salt_in_the_secret() -> None:
    objects = by_kind(render_transfer(CTX, spec(), transfer(CAPTURE)))
    assert objects["ConfigMap"]["data"] == {"policy.yaml": "name: p\n"}
    assert base64.b64decode(objects["Secret"]["data"]["salt"]) == b"pepper-pepper"
    pod = objects["Job"]["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "policy", "configMap": {"name": "snap-capture-ab12cd34"}}]
    assert pod["containers"][0]["volumeMounts"][0]["mountPath"] == "/policy"
    assert "pepper" not in str(objects["Job"]) and "msxsnap_token" not in str(objects["Job"])


def test_a_service_without_a_tcp_port_cannot_be_reached() -> None:
    broken = transfer(RESTORE)
    service = {**broken.service, "ports": []}
    with pytest.raises(RenderError, match="no TCP port"):
        render_transfer(CTX, spec(), Transfer(**{**broken.__dict__, "service": service}))


def test_rendering_is_deterministic() -> None:
    assert render_transfer(CTX, spec(), transfer(CAPTURE)) == render_transfer(CTX, spec(), transfer(CAPTURE))
