"""Shared inputs for the overlay and routing renderer tests: a baseline, an overlay, a chain."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema

from environments.render import ProviderRef, RenderedEnvironment
from tests.render.helpers import context, normalized, schema_errors

SHOP = Path(__file__).parents[1] / "blueprints" / "examples" / "shop-baseline.yaml"
BASE_NS = "env-shop-base"
A_NS = "env-feat-a"
C_NS = "env-feat-c"
BASELINE = ProviderRef("env_base", BASE_NS)
OVERLAY_A = ProviderRef("env_a", A_NS, "feat-a")
GATEWAY = ("gateway-system", "shared")
SERVICES = ("cache", "cart", "catalog", "checkout", "db", "payments", "storefront")


def baseline_spec() -> dict[str, Any]:
    return normalized(SHOP)


def baseline_context(spec: dict[str, Any], **overrides: Any):
    values = {"namespace": BASE_NS, "environment_id": "env_base", "environment_slug": "shop"}
    return context(spec, **(values | overrides))


def overlay_spec(*changed: str) -> dict[str, Any]:
    """The baseline with ``changed`` services given a feature image and exposed, as an effective spec."""
    spec = copy.deepcopy(baseline_spec())
    spec["name"] = "feat-a"
    for service in spec["services"]:
        if service["name"] in changed:
            service["image"] = f"ghcr.io/example/shop/{service['name']}:feat-a"
            service["expose"] = True
    return spec


def overlay_context(spec: dict[str, Any], **overrides: Any):
    values = {"namespace": A_NS, "environment_id": "env_a", "environment_slug": "feat-a"}
    return context(spec, **(values | overrides))


def inherited_from(provider: ProviderRef, *local: str) -> dict[str, ProviderRef]:
    return {name: provider for name in SERVICES if name not in local}


def _name_pattern(kind: bool = False) -> dict[str, Any]:
    if kind:
        return {"type": "string", "minLength": 1, "maxLength": 63, "pattern": "^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"}
    return {
        "type": "string",
        "maxLength": 253,
        "pattern": r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
    }


# gateway.networking.k8s.io_referencegrants.yaml (v1beta1, standard channel), strict like the
# kubernetes-validate schemas: unknown fields are errors. kubernetes-validate ships no CRDs.
REFERENCE_GRANT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"enum": ["gateway.networking.k8s.io/v1beta1"]},
        "kind": {"enum": ["ReferenceGrant"]},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["from", "to"],
            "properties": {
                "from": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 16,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["group", "kind", "namespace"],
                        "properties": {
                            "group": _name_pattern(),
                            "kind": _name_pattern(kind=True),
                            "namespace": {
                                "type": "string",
                                "minLength": 1,
                                "maxLength": 63,
                                "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                            },
                        },
                    },
                },
                "to": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 16,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["group", "kind"],
                        "properties": {
                            "group": _name_pattern(),
                            "kind": _name_pattern(kind=True),
                            "name": {"type": "string", "minLength": 1, "maxLength": 253},
                        },
                    },
                },
            },
        },
    },
}


def problems(obj: dict[str, Any], version: str) -> list[str]:
    """Strict schema problems of one object, ReferenceGrant included."""
    if obj["kind"] == "ReferenceGrant":
        validator = jsonschema.Draft202012Validator(REFERENCE_GRANT_SCHEMA)
        return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]
    return schema_errors(obj, version)


def assert_all_valid(result: RenderedEnvironment, version: str) -> None:
    """Every object, in this namespace and in the providers', validates strictly."""
    objects = [*result.objects, *(obj for objs in result.provider_objects.values() for obj in objs)]
    found = [f"{o['kind']}/{o['metadata']['name']}: {p}" for o in objects for p in problems(o, version)]
    assert not found, "\n".join(found)


def named(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}
