"""The capture and restore Jobs: pure functions from a transfer's description to manifests.

A transfer is one run of ``microstax snapshot-agent`` in the environment's namespace, next to the
database it reads or loads: ``capture --policy /policy/policy.yaml --upload URL`` or ``restore
--input URL``. It connects with libpq's variables, built exactly as a seed Job's are
(:func:`environments.render.seeds.postgres_connection`), and talks to the control plane with a
single-use token. The objects:

* a Secret with the token and the policy salt (never on a command line or in a ConfigMap);
* a ConfigMap with the policy YAML, without its salt (capture only), mounted at ``/policy``;
* a NetworkPolicy letting the Job's pod reach the control plane (the namespace denies egress);
* the Job itself: one attempt (the token is single-use, a retry could not transfer again), a
  deadline, and the agent image from ``settings.MICROSTAX_IMAGE``.

Names carry the snapshot (and restore) id, so a transfer's objects are found and removed together.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from environments.render.model import RenderContext, RenderError
from environments.render.names import COMPONENT, dns_name, metadata, service_labels
from environments.render.seeds import postgres_connection
from environments.render.workloads import pod_spec

ACTIVE_DEADLINE_SECONDS = 3600
POLICY_DIR = "/policy"
POLICY_KEY = "policy.yaml"
TOKEN_ENV = "MICROSTAX_SNAPSHOT_TOKEN"
SALT_ENV = "MICROSTAX_SNAPSHOT_SALT"
POLICY_ENV = "MICROSTAX_SNAPSHOT_POLICY"
TRANSFER_LABEL = "microstax.io/snapshot-transfer"
CAPTURE = "capture"
RESTORE = "restore"


@dataclass(frozen=True)
class Transfer:
    """One agent run: ``kind`` is capture or restore; ``name`` identifies its objects (DNS-safe)."""

    kind: str
    name: str
    service: dict[str, Any]
    url: str
    token: str
    image: str
    policy_yaml: str = ""
    salt: str = ""


def transfer_name(kind: str, snapshot_id: str, restore_id: int | None = None, attempt: str = "") -> str:
    """``snap-capture-<id>[-<attempt>]`` / ``snap-restore-<id>-<n>[-<attempt>]``: a DNS label naming a
    transfer's objects. Job templates are immutable and a finished Job is never re-run, so every
    attempt (each with its own token) gets its own name."""
    parts = ["snap", kind, snapshot_id.split("_", 1)[-1]]
    if restore_id is not None:
        parts.append(str(restore_id))
    if attempt:
        parts.append(attempt)
    return dns_name(*parts)


def render_transfer(ctx: RenderContext, spec: dict[str, Any], transfer: Transfer) -> list[dict[str, Any]]:
    """Secret, ConfigMap (capture), NetworkPolicy and Job of one transfer, in apply order."""
    if transfer.kind not in (CAPTURE, RESTORE):
        raise RenderError(f"unknown snapshot transfer {transfer.kind!r}")
    service = transfer.service
    connection, problem = postgres_connection(service)
    if problem is not None:
        raise RenderError(problem)
    labels = {**service_labels(ctx, spec, service["name"]), TRANSFER_LABEL: transfer.name}
    secret_data = {"token": transfer.token}
    if transfer.kind == CAPTURE and transfer.salt:
        secret_data["salt"] = transfer.salt
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(transfer.name, ctx, labels),
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode("ascii") for k, v in sorted(secret_data.items())},
    }
    objects: list[dict[str, Any]] = [secret]
    env: list[dict[str, Any]] = [{"name": name, **source} for name, source in connection]
    env.append({"name": TOKEN_ENV, "valueFrom": {"secretKeyRef": {"name": transfer.name, "key": "token"}}})
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    if transfer.kind == CAPTURE:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": metadata(transfer.name, ctx, labels),
                "data": {POLICY_KEY: transfer.policy_yaml},
            }
        )
        if transfer.salt:
            env.append({"name": SALT_ENV, "valueFrom": {"secretKeyRef": {"name": transfer.name, "key": "salt"}}})
        # The policy text also as a variable: the file is the interface, the variable lets a
        # container runtime without volumes (kubesim's executors) see the same policy.
        env.append({"name": POLICY_ENV, "valueFrom": {"configMapKeyRef": {"name": transfer.name, "key": POLICY_KEY}}})
        volumes.append({"name": "policy", "configMap": {"name": transfer.name}})
        mounts.append({"name": "policy", "mountPath": POLICY_DIR, "readOnly": True})
        args = ["capture", "--policy", f"{POLICY_DIR}/{POLICY_KEY}", "--upload", transfer.url]
    else:
        args = ["restore", "--input", transfer.url]
    objects.append(_egress_policy(ctx, labels, transfer))
    container: dict[str, Any] = {
        "name": "agent",
        "image": transfer.image,
        "command": ["microstax", "snapshot-agent", *args],
        "env": env,
    }
    if mounts:
        container["volumeMounts"] = mounts
    pod_labels = {**labels, COMPONENT: f"snapshot-{transfer.kind}"}
    objects.append(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": metadata(transfer.name, ctx, labels),
            "spec": {
                "backoffLimit": 0,
                "activeDeadlineSeconds": ACTIVE_DEADLINE_SECONDS,
                "template": {
                    "metadata": {"labels": dict(sorted(pod_labels.items()))},
                    "spec": {"restartPolicy": "Never", **pod_spec([container], volumes)},
                },
            },
        }
    )
    return objects


def _egress_policy(ctx: RenderContext, labels: dict[str, str], transfer: Transfer) -> dict[str, Any]:
    """Let the transfer's pod reach the control plane's port (and the database, in the namespace)."""
    parsed = urlparse(transfer.url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(transfer.name, ctx, labels),
        "spec": {
            "podSelector": {"matchLabels": {TRANSFER_LABEL: transfer.name}},
            "egress": [{"ports": [{"port": port, "protocol": "TCP"}]}],
            "policyTypes": ["Egress"],
        },
    }
