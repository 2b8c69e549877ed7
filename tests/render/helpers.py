"""Shared helpers for the renderer tests: blueprints, contexts and strict schema validation."""

from __future__ import annotations

import functools
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
from kubernetes_validate import utils as kv_utils
from referencing import Registry, Resource

from blueprints.validation import validate_blueprint
from environments.render import RenderContext, RenderedEnvironment, generated_secret_keys
from microstax.kubesim.schema import HTTPROUTE_SCHEMA

EXAMPLES = sorted((Path(__file__).parents[1] / "blueprints" / "examples").glob("*.yaml"))
EVERYTHING = Path(__file__).parent / "everything.yaml"
# The sandbox cluster (kubesim) speaks 1.33; the newest schema catches fields removed since.
SCHEMA_VERSIONS = ("1.33", kv_utils.major_minor(kubernetes_validate.latest_version()))

FILES = {
    "seeds/legacy.sql": "CREATE TABLE accounts (id int PRIMARY KEY);\nINSERT INTO accounts VALUES (1);\n",
    "scripts/warm-cache.sh": "#!/bin/sh\nset -eu\necho warming\n",
    "specs/payments.yaml": (
        "openapi: 3.0.3\ninfo: {title: payments, version: '1'}\n"
        "paths:\n  /charges:\n    get:\n      responses:\n        '200': {description: ok}\n"
    ),
    "specs/search.yaml": "openapi: 3.0.3\ninfo: {title: search, version: '1'}\npaths: {}\n",
}


def normalized(path: Path, *, plan: str | None = None) -> dict[str, Any]:
    """The normalized form of a blueprint file; overlays without a baseline id get one at creation."""
    text = path.read_text(encoding="utf-8")
    result = validate_blueprint(text, plan=plan)
    if not result.valid:
        result = validate_blueprint(text, plan=plan, base_given=True)
    assert result.valid and result.normalized is not None, [p.format() for p in result.problems]
    return result.normalized


def everything(*, plan: str | None = None) -> dict[str, Any]:
    return normalized(EVERYTHING, plan=plan)


def context(spec: dict[str, Any] | None = None, **overrides: Any) -> RenderContext:
    """A context for ``spec`` with every auto-generated secret and every test file supplied."""
    base = RenderContext(
        environment_id="env_abc123",
        environment_slug="shop-dev",
        namespace="env-shop-dev-ab12cd",
        team_slug="acme",
        ingress_domain="dev.example.com",
        secret_values={key: f"generated-{key}" for key in generated_secret_keys(spec)} if spec else {},
        files=FILES,
    )
    return replace(base, **overrides)


@functools.cache
def strict_validator(version: str, api_version: str, kind: str) -> jsonschema.Draft202012Validator:
    """The validator ``kubernetes_validate.validate(obj, version, strict=True)`` builds, built once.

    ``kubernetes_validate.validate`` re-reads its 1.8 MB definitions file on every call (~15 ms),
    which would make validating a few hundred objects the slowest part of this suite; the
    schemas, the registry and the validator class here are exactly the ones it uses
    (``test_cached_validator_agrees_with_kubernetes_validate`` keeps it honest). Gateway API
    kinds are CRDs that kubernetes-validate does not ship: kubesim's condensed CRD schema is used.
    """
    if api_version.startswith("gateway.networking.k8s.io/"):
        return jsonschema.Draft202012Validator(HTTPROUTE_SCHEMA)
    schema_dir = f"kubernetes-json-schema/v{version}.0-local-strict"
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = kv_utils.schema_contents(f"{schema_dir}/{kind.lower()}-{group}.json", version)
    definitions = kv_utils.schema_contents(f"{schema_dir}/_definitions.json", version)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def schema_errors(obj: dict[str, Any], version: str) -> list[str]:
    """Every strict schema problem of one manifest, as ``path: message``."""
    validator = strict_validator(version, obj["apiVersion"], obj["kind"])
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]


def assert_valid(result: RenderedEnvironment, version: str = SCHEMA_VERSIONS[0]) -> None:
    """Every rendered object validates strictly against the Kubernetes OpenAPI schema."""
    problems = [
        f"{obj['kind']}/{obj['metadata']['name']}: {problem}"
        for obj in result.objects
        for problem in schema_errors(obj, version)
    ]
    assert not problems, "\n".join(problems)


def by_kind(result: RenderedEnvironment, kind: str) -> dict[str, dict[str, Any]]:
    """Rendered objects of one kind by name."""
    return {obj["metadata"]["name"]: obj for obj in result.objects if obj["kind"] == kind}


def wave_of(result: RenderedEnvironment, kind: str, name: str) -> int:
    """Index of the wave holding an object."""
    for index, wave in enumerate(result.waves):
        if any(o["kind"] == kind and o["metadata"]["name"] == name for o in wave.objects):
            return index
    raise AssertionError(f"{kind}/{name} is in no wave")
