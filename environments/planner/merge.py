"""The merge rule: how an overlay's version of a service combines with the upstream version."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: List fields an overlay inherits whole when it leaves them empty.
INHERIT_WHEN_EMPTY = ("ports", "dependsOn", "secrets", "volumes")
#: Fields an overlay inherits when it leaves them null (their normalized default).
INHERIT_WHEN_NULL = ("command", "args", "init")


def merge_service(upstream: Mapping[str, Any], own: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The overlay's effective version of a service it redeclares, and the fields filled from upstream.

    An overlay blueprint may be partial, but the normalized form fills defaults, so "left out"
    can only be read as "left at the normalized default or empty". The rule:

    * **inherited when left empty/null:** ``ports``, ``dependsOn``, ``secrets``, ``volumes``
      (empty list), ``command``, ``args``, ``init`` (null), ``resources`` (as a whole, when both
      ``requests`` and ``limits`` are empty — a given ``resources`` replaces the upstream one as
      a whole, like a plan does, so requests and limits stay a consistent, validated pair), and
      each probe (``probes.readiness``/``probes.liveness`` separately, when null);
    * **merged key-wise:** ``env`` — upstream variables with the overlay's on top (an overlay
      therefore cannot delete a variable, only override it);
    * **or-ed:** ``expose`` — ``false`` is the default, so an overlay that changes an image does
      not silently lose the upstream's ingress; un-exposing needs the service removed and re-added;
    * **always the overlay's:** ``image`` and ``mock`` (together they say what runs; an overlay
      that gives neither keeps the upstream's pair), ``replicas`` (the normalized form cannot tell
      a written ``1`` from the default, and one replica is what a development overlay usually
      wants), ``propagateHeader`` (the overlay's routing decides) and ``removed``.

    Returns ``(merged, filled)`` where ``filled`` lists, sorted, the top-level fields that took
    some value from upstream (fields whose upstream value was empty too are not listed). Neither
    input is modified; the result shares nested values with them and must be treated read-only.
    """
    merged = dict(own)
    filled: list[str] = []
    for field in INHERIT_WHEN_EMPTY:
        if not own.get(field) and upstream.get(field):
            merged[field] = upstream[field]
            filled.append(field)
    for field in INHERIT_WHEN_NULL:
        if own.get(field) is None and upstream.get(field) is not None:
            merged[field] = upstream[field]
            filled.append(field)

    upstream_env = upstream.get("env") or {}
    own_env = own.get("env") or {}
    if any(key not in own_env for key in upstream_env):
        merged["env"] = dict(sorted({**upstream_env, **own_env}.items()))
        filled.append("env")

    own_resources = own.get("resources") or {}
    upstream_resources = upstream.get("resources") or {}
    if not own_resources.get("requests") and not own_resources.get("limits"):
        if upstream_resources.get("requests") or upstream_resources.get("limits"):
            merged["resources"] = upstream_resources
            filled.append("resources")

    own_probes = own.get("probes") or {}
    upstream_probes = upstream.get("probes") or {}
    probes = {
        kind: own_probes.get(kind) if own_probes.get(kind) is not None else upstream_probes.get(kind)
        for kind in ("readiness", "liveness")
    }
    if probes != {kind: own_probes.get(kind) for kind in probes}:
        merged["probes"] = probes
        filled.append("probes")

    if upstream.get("expose") and not own.get("expose"):
        merged["expose"] = True
        filled.append("expose")

    if own.get("image") is None and own.get("mock") is None:
        for field in ("image", "mock"):
            if upstream.get(field) is not None:
                merged[field] = upstream[field]
                filled.append(field)
    return merged, sorted(filled)
