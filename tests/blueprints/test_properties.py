"""Properties: the validator and the importer answer every input, and style never changes identity."""

from __future__ import annotations

import re

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blueprints.compose import ComposeImport, import_compose
from blueprints.problems import CODES
from blueprints.validation import ValidationResult, validate_blueprint

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FIELD_NAMES = [
    "name", "description", "services", "plans", "routing", "ttl", "snapshot", "autoShutdownEnabled",
    "autoShutdownDelayMinutes", "image", "ports", "env", "resources", "expose", "dependsOn", "replicas",
    "command", "args", "secrets", "volumes", "init", "probes", "mock", "propagateHeader", "removed",
    "containerPort", "port", "protocol", "cpu", "memory", "requests", "limits", "mode", "baselineId",
    "overlayId", "headerName", "readiness", "liveness", "httpGet", "tcpSocket", "exec", "path", "envKey",
    "value", "mountPath", "type", "size", "script", "inline", "enabled", "openapi", "id", "fromEnvironment",
    "environment", "depends_on", "build", "healthcheck", "deploy", "test", "target", "published", "api", "db",
]  # fmt: skip
YAML_PIECES = [
    "name: ", "services:", "\n", "  ", "- ", ": ", "[", "]", "{", "}", ",", "&a ", "*a", "!!str ", "!x ",
    "<<: ", "'", '"', "#", "|\n", ">\n", "---\n", "\t", "8080:80", "api", "image: a:1", "~", "true", "0x1F",
    ".nan", "dependsOn: [api]", "ports: ['70000']", "?", "%YAML 1.1\n", "é", "\x00",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["8080", "8080:80", "500m", "1Gi", "72h", "a:1", "api", "overlay", "auto-generated", ""]),
)
keys = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8))
structures = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=5),
    ),
    max_leaves=25,
)
blueprint_like = st.fixed_dictionaries(
    {"name": st.one_of(st.sampled_from(["shop", "x"]), scalars)},
    optional={
        "services": st.one_of(
            st.lists(st.dictionaries(st.sampled_from(FIELD_NAMES), structures, max_size=6), max_size=4),
            st.dictionaries(
                st.sampled_from(["api", "db", "web", "Bad_Name"]),
                st.dictionaries(st.sampled_from(FIELD_NAMES), structures, max_size=6),
                max_size=4,
            ),
            structures,
        ),
        "routing": st.dictionaries(st.sampled_from(FIELD_NAMES), structures, max_size=4),
        "plans": structures,
        "ttl": scalars,
        "snapshot": structures,
    },
)  # fmt: skip


def dump(data: object) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def assert_well_formed(result: ValidationResult) -> None:
    assert isinstance(result, ValidationResult)
    assert result.valid == (not result.errors)
    lines = [p.line or 0 for p in result.problems]
    assert lines == sorted(lines)
    assert all(p.code in CODES for p in result.problems)
    # MSX-E030 means the validator itself failed: a bug, never an answer.
    assert "MSX-E030" not in {p.code for p in result.problems}, [p.message for p in result.problems]
    if result.valid:
        assert result.normalized is not None and re.fullmatch(r"[0-9a-f]{64}", result.hash or "")
    else:
        assert result.normalized is None and result.hash is None


@FAST
@given(st.text(max_size=400))
def test_the_validator_answers_any_text(text):
    assert_well_formed(validate_blueprint(text))


@FAST
@given(st.lists(st.sampled_from(YAML_PIECES), max_size=40).map("".join))
def test_the_validator_answers_yaml_shaped_text(text):
    assert_well_formed(validate_blueprint(text))


@FAST
@given(structures)
def test_the_validator_answers_any_nested_structure(data):
    assert_well_formed(validate_blueprint(dump(data)))


@FAST
@given(blueprint_like, st.booleans(), st.one_of(st.none(), st.sets(st.sampled_from(["api", "db", "x"]))))
def test_the_validator_answers_blueprint_shaped_structures(data, base_given, upstream):
    assert_well_formed(validate_blueprint(dump(data), base_given=base_given, known_upstream_services=upstream))


def assert_import_well_formed(result: ComposeImport) -> None:
    assert isinstance(result, ComposeImport)
    assert "MSX-E030" not in {p.code for p in result.problems}, [p.message for p in result.problems]
    if result.ok:
        assert validate_blueprint(result.yaml).valid
    else:
        assert result.yaml == "" and result.problems


@FAST
@given(st.text(max_size=300))
def test_the_importer_answers_any_text(text):
    assert_import_well_formed(import_compose(text))


@FAST
@given(
    st.fixed_dictionaries(
        {
            "services": st.dictionaries(
                st.sampled_from(["web", "db", "my_api", "Cache"]),
                st.one_of(
                    st.dictionaries(
                        st.sampled_from(
                            ["image", "ports", "environment", "command", "entrypoint", "depends_on", "volumes",
                             "healthcheck", "deploy", "build", "expose", "networks", "links", "tmpfs", "scale"]
                        ),
                        structures,
                        max_size=6,
                    ),
                    structures,
                ),
                max_size=4,
            )
        }
    )
)  # fmt: skip
def test_the_importer_answers_any_compose_shaped_structure(data):
    assert_import_well_formed(import_compose(dump(data)))


# --- identity is independent of style -------------------------------------------------------------
service_names = st.lists(st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True), min_size=1, max_size=5, unique=True)


@st.composite
def stacks(draw):
    """A valid stack: services with images, ports, env, resources and acyclic dependencies."""
    names = draw(service_names)
    services = []
    for i, name in enumerate(names):
        ports = draw(st.lists(st.integers(1, 65535), max_size=3, unique=True))
        services.append(
            {
                "name": name,
                "image": f"ghcr.io/example/{name}:1.{i}",
                "ports": ports,
                "env": draw(
                    st.dictionaries(
                        st.from_regex(r"[A-Z][A-Z_]{0,5}", fullmatch=True), st.text("abc:/ ", max_size=6), max_size=3
                    )
                ),
                "cpu_milli": draw(st.sampled_from([None, 100, 500, 1000, 1500])),
                "dependsOn": draw(st.lists(st.sampled_from(names[:i]), unique=True)) if i else [],
            }
        )
    return services  # fmt: skip


def render(services: list[dict], *, map_style: bool, compact: bool) -> str:
    """The same stack in two styles: list or map, port objects or strings, cores or millicores."""
    out = []
    for service in reversed(services) if compact else services:
        body: dict = {"image": service["image"]}
        if service["ports"]:
            body["ports"] = (
                [str(p) for p in service["ports"]] if compact else [{"containerPort": p} for p in service["ports"]]
            )
        if service["env"]:
            body["env"] = dict(reversed(list(service["env"].items()))) if compact else service["env"]
        if service["cpu_milli"] is not None:
            cpu = service["cpu_milli"] / 1000 if compact else f"{service['cpu_milli']}m"
            body["resources"] = {"cpu": cpu}
        if service["dependsOn"]:
            body["dependsOn"] = sorted(service["dependsOn"], reverse=compact)
        if compact:
            body.update({"replicas": 1, "expose": False})
        out.append((service["name"], body))
    services_doc = dict(out) if map_style else [{"name": n, **b} for n, b in out]
    doc = {"name": "stack", "services": services_doc}
    if compact:
        doc = {"autoShutdownEnabled": True, **doc, "routing": {"headerName": "X-Msx-Env"}}
    return yaml.safe_dump(doc, sort_keys=False)


@FAST
@given(stacks())
def test_list_and_map_styles_of_the_same_stack_share_one_hash(services):
    plain = validate_blueprint(render(services, map_style=False, compact=False))
    styled = validate_blueprint(render(services, map_style=True, compact=True))
    assert plain.valid, [p.format() for p in plain.errors]
    assert styled.valid, [p.format() for p in styled.errors]
    assert plain.hash == styled.hash
    assert plain.normalized == styled.normalized
