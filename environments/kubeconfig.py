"""Reading a kubeconfig just enough to register a cluster: which contexts exist and which API server
a context points at. Pure; the kube adapter does the real loading."""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from microstax.lib.errors import InvalidInput

MAX_KUBECONFIG_BYTES = 256 * 1024


@dataclass(frozen=True)
class KubeconfigContext:
    name: str
    cluster: str
    server: str


def parse_kubeconfig(text: str, context: str | None = None) -> KubeconfigContext:
    """The chosen (or current) context of a kubeconfig; InvalidInput naming what is wrong otherwise."""
    if not text or not text.strip():
        raise InvalidInput("the kubeconfig is empty", field="kubeconfig")
    if len(text.encode()) > MAX_KUBECONFIG_BYTES:
        raise InvalidInput("the kubeconfig is larger than 256 KiB", field="kubeconfig")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InvalidInput(f"the kubeconfig is not valid YAML{where}", field="kubeconfig") from None
    if not isinstance(data, dict) or data.get("kind", "Config") != "Config":
        raise InvalidInput(
            "this is not a kubeconfig (expected 'kind: Config' with clusters and contexts)", field="kubeconfig"
        )
    contexts = {c.get("name"): c.get("context") or {} for c in data.get("contexts") or [] if isinstance(c, dict)}
    clusters = {c.get("name"): c.get("cluster") or {} for c in data.get("clusters") or [] if isinstance(c, dict)}
    chosen = context or data.get("current-context")
    if not chosen:
        raise InvalidInput(
            f"no context chosen and no current-context set; contexts: {', '.join(map(str, contexts))}", field="context"
        )
    if chosen not in contexts:
        known = ", ".join(map(str, contexts)) or "none"
        raise InvalidInput(f"context '{chosen}' is not in the kubeconfig (it has: {known})", field="context")
    cluster_name = contexts[chosen].get("cluster")
    server = (clusters.get(cluster_name) or {}).get("server")
    if not server:
        raise InvalidInput(
            f"context '{chosen}' points at cluster '{cluster_name}', which has no server URL", field="kubeconfig"
        )
    return KubeconfigContext(name=str(chosen), cluster=str(cluster_name), server=str(server))
