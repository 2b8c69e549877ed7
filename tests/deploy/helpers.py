"""Shared pieces of the deployment tests: a typical rendering and lookups into it."""

from __future__ import annotations

from typing import Any

from microstax.deploy.render import DeployOptions, render_deploy

IMAGE = "ghcr.io/microstax/microstax:1.4.0"
HOST = "microstax.example.com"


def options(**overrides: Any) -> DeployOptions:
    return DeployOptions(**{"image": IMAGE, "host": HOST, **overrides})


def objects(**overrides: Any) -> list[dict[str, Any]]:
    return render_deploy(options(**overrides))


def one(rendered: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in rendered if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''}"
    return found[0]


def pod_specs(rendered: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Pod spec of every workload (Deployments and the Job), by object name."""
    return {
        o["metadata"]["name"]: o["spec"]["template"]["spec"] for o in rendered if o["kind"] in ("Deployment", "Job")
    }
