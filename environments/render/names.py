"""Object names, host names and labels: DNS-safe, bounded in length, and deterministic."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from microstax.kube.labels import ENVIRONMENT, SERVICE, managed_labels

from .model import RenderContext, RenderError

# The labels paragraph of DESIGN §4 names these two beyond the adapter's identity labels.
PART_OF = "app.kubernetes.io/part-of"
# Distinguishes a service's long-running pods from its seed Job's pods: both carry the service's
# name, and without this the Service would send traffic to a finished psql pod.
COMPONENT = "app.kubernetes.io/component"
SERVER = "server"
SEED = "seed"

MAX_NAME = 63
_HASH_LEN = 8
_DNS_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?\Z")
_DNS_1035 = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?\Z")
_LABEL_VALUE_BAD = re.compile(r"[^A-Za-z0-9._-]+")


def short_hash(*parts: str) -> str:
    """Eight hex digits identifying ``parts``; stable across runs and machines."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:_HASH_LEN]


def dns_name(*parts: str, max_len: int = MAX_NAME) -> str:
    """``parts`` joined by ``-`` as a DNS-1123 label of at most ``max_len`` characters.

    Too long a name keeps its readable start and ends in a hash of the whole, so two long names
    that share a prefix still differ.
    """
    full = "-".join(part for part in parts if part)
    full = re.sub(r"[^a-z0-9-]+", "-", full.lower()).strip("-")
    if len(full) <= max_len:
        return full
    suffix = short_hash(full)
    head = full[: max_len - _HASH_LEN - 1].rstrip("-")
    return f"{head}-{suffix}"


def is_dns_label(value: str) -> bool:
    return bool(_DNS_LABEL.match(value))


def require_service_name(name: str) -> None:
    """Service objects need DNS-1035 names (a leading letter); blueprints allow DNS-1123 labels.

    The Service must carry the blueprint's name unchanged (other services reach it by that
    host name), so a name that Kubernetes refuses cannot be repaired by renaming.
    """
    if not _DNS_1035.match(name):
        raise RenderError(
            f"service {name!r} cannot be a Kubernetes Service name: it must start with a letter "
            "(other services reach it by this host name, so it cannot be renamed)"
        )


def label_value(value: str) -> str:
    """``value`` as a valid label value: allowed characters only, at most 63, alphanumeric ends."""
    cleaned = _LABEL_VALUE_BAD.sub("-", value).strip("-_.")
    if len(cleaned) > MAX_NAME:
        cleaned = f"{cleaned[: MAX_NAME - _HASH_LEN - 1].rstrip('-_.')}-{short_hash(value)}"
    return cleaned


def host(service: str, ctx: RenderContext) -> str:
    """``<service>-<env-slug>.<domain>``; the first label is bounded to 63 like any DNS label."""
    return f"{dns_name(service, ctx.environment_slug)}.{ctx.ingress_domain.strip('.').lower()}"


def identity_labels(ctx: RenderContext) -> dict[str, str]:
    """The labels every object of the environment carries (prune and the GC select by them)."""
    return dict(sorted(managed_labels(ctx.environment_id, ctx.team_slug).items()))


def service_labels(ctx: RenderContext, spec: dict[str, Any], service: str) -> dict[str, str]:
    """Identity labels plus the service's name and the blueprint it is part of."""
    labels = identity_labels(ctx)
    labels[SERVICE] = service
    labels[PART_OF] = label_value(spec["name"])
    return dict(sorted(labels.items()))


def pod_labels(ctx: RenderContext, spec: dict[str, Any], service: str, component: str) -> dict[str, str]:
    """Labels of a pod template: the service labels plus its component (server or seed)."""
    labels = service_labels(ctx, spec, service)
    labels[COMPONENT] = component
    return dict(sorted(labels.items()))


def server_selector(ctx: RenderContext, service: str) -> dict[str, str]:
    """Selects a service's serving pods in this environment (never its seed Job's pods).

    Deployment selectors are immutable: this set of keys must never change, or every existing
    environment's Deployments would have to be recreated.
    """
    return dict(sorted({SERVICE: service, ENVIRONMENT: ctx.environment_id, COMPONENT: SERVER}.items()))


def metadata(name: str, ctx: RenderContext, labels: dict[str, str], *, namespaced: bool = True) -> dict[str, Any]:
    """``metadata`` of a rendered object."""
    out: dict[str, Any] = {"name": name}
    if namespaced:
        out["namespace"] = ctx.namespace
    out["labels"] = labels
    return out
