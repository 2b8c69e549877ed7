"""validate_blueprint: every class of bad input gives its code, the author's path and the line."""

from __future__ import annotations

import re

import pytest

import blueprints.problems as problems_module
import blueprints.validation as validation_module
from blueprints.parsing import MAX_DEPTH, MAX_DOCUMENT_BYTES
from blueprints.problems import CODES, Problem
from blueprints.validation import ValidationResult, validate_blueprint
from tests.blueprints.helpers import EXAMPLE_FILES, example, one, problems_with

VALID = """\
name: shop
services:
  - name: api
    image: ghcr.io/example/api:1.0.0
    ports: [{containerPort: 8080}]
    dependsOn: [db]
  - name: db
    image: postgres:16.3
    ports: [{containerPort: 5432}]
"""


def at(problem: Problem) -> tuple[str, int | None, int | None]:
    return problem.path, problem.line, problem.column


# --- the documented examples ------------------------------------------------------------------
@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_every_documented_example_validates_unchanged(path):
    result = validate_blueprint(path.read_text(encoding="utf-8"))
    assert result.valid, [p.format(path.name) for p in result.errors]
    assert result.spec is not None and result.normalized is not None
    assert result.hash is not None and len(result.hash) == 64


def test_examples_may_carry_lint_warnings_and_stay_valid():
    result = validate_blueprint(example("feature-billing.yaml"))
    assert result.valid
    warning = problems_with(result, "MSX-L002")[0]
    assert warning.severity == "warning"
    assert at(warning) == ("services[0].env.POSTGRES_PASSWORD", 8, 26)


def test_the_result_serializes_to_the_documented_keys():
    data = validate_blueprint(VALID).to_dict()
    assert set(data) == {"valid", "problems", "normalized", "hash"}
    assert data["valid"] is True and data["problems"] == []


# --- YAML level ---------------------------------------------------------------------------------
def test_a_yaml_syntax_error_names_its_line():
    result = validate_blueprint("name: shop\nservices:\n  - name: api\n    image: [unclosed\n")
    problem = one(result, "MSX-E001")
    assert not result.valid
    assert problem.line == 5
    assert "line 5" in problem.message


def test_tabs_used_for_indentation_get_a_hint():
    problem = one(validate_blueprint("name: shop\nservices:\n\t- name: api\n"), "MSX-E001")
    assert problem.line == 3
    assert "tab" in problem.message


@pytest.mark.parametrize(
    ("text", "words"),
    [("", "empty"), ("# only a comment\n", "empty"), ("- a\n- b\n", "a list"), ("just text\n", "text")],
)
def test_a_document_that_is_not_a_mapping_is_refused(text, words):
    problem = one(validate_blueprint(text), "MSX-E004")
    assert words in problem.message


def test_more_than_one_document_is_refused():
    problem = one(validate_blueprint(VALID + "---\nname: other\n"), "MSX-E003")
    assert problem.line == 10


def test_duplicate_keys_are_reported_at_the_second_key():
    text = VALID.replace("    dependsOn: [db]\n", "    dependsOn: [db]\n    image: other:1\n")
    problem = one(validate_blueprint(text), "MSX-E009")
    assert problem.line == 7
    assert "first on line 4" in problem.message


def test_an_alias_bomb_is_refused_quickly():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        prev, cur = chr(ord("a") + level - 1), chr(ord("a") + level)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    result = validate_blueprint("\n".join(lines) + "\n")
    problem = one(result, "MSX-E002")
    assert "expands" in problem.message


def test_an_oversized_document_is_refused():
    text = "name: x\ndescription: '" + "y" * MAX_DOCUMENT_BYTES + "'\n"
    problem = one(validate_blueprint(text), "MSX-E002")
    assert "larger than" in problem.message


def test_deep_nesting_is_refused():
    text = "name: x\nservices: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n"
    assert one(validate_blueprint(text), "MSX-E002").line == 2


def test_custom_yaml_tags_are_unsupported():
    text = VALID.replace("image: postgres:16.3", "image: !Ref DbImage")
    problem = one(validate_blueprint(text), "MSX-E029")
    assert problem.line == 8


# --- shape --------------------------------------------------------------------------------------
@pytest.mark.parametrize("services", ["", "services:\n", "services: []\n", "services: {}\n"])
def test_missing_or_empty_services_are_reported(services):
    result = validate_blueprint("name: shop\n" + services)
    problem = one(result, "MSX-E010")
    assert problem.path == "services"
    assert len(result.errors) == 1


def test_a_missing_name_is_reported_at_the_top():
    problem = one(validate_blueprint(VALID.replace("name: shop\n", "")), "MSX-E005")
    assert problem.path == "name"
    assert "'name'" in problem.message


def test_unknown_fields_suggest_the_closest_known_field():
    text = VALID.replace("    dependsOn: [db]\n", "    depends_on: [db]\n")
    problem = one(validate_blueprint(text), "MSX-E006")
    assert at(problem) == ("services[0].depends_on", 6, 5)
    assert "did you mean 'dependsOn'" in problem.message


def test_unknown_top_level_fields_list_the_allowed_ones_when_nothing_is_close():
    problem = one(validate_blueprint(VALID + "zzz: 1\n"), "MSX-E006")
    assert problem.path == "zzz"
    assert "allowed here" in problem.message and "services" in problem.message


def test_compose_keys_point_to_their_blueprint_names():
    problem = one(validate_blueprint(VALID.replace("    dependsOn: [db]\n", "    environment: {A: b}\n")), "MSX-E006")
    assert "did you mean 'env'" in problem.message


def test_wrong_types_say_what_was_expected_and_what_was_found():
    result = validate_blueprint(VALID.replace("    dependsOn: [db]\n", "    replicas: two\n    expose: maybe\n"))
    messages = {p.path: p.message for p in problems_with(result, "MSX-E007")}
    assert "whole number" in messages["services[0].replicas"] and "'two'" in messages["services[0].replicas"]
    assert "true or false" in messages["services[0].expose"]


def test_a_service_that_is_not_a_mapping_is_a_type_error_in_map_style():
    result = validate_blueprint("name: shop\nservices:\n  api: nginx:1.27\n")
    problem = one(result, "MSX-E007")
    assert at(problem) == ("services.api", 3, 8)


def test_duplicate_service_names_are_reported_at_the_second():
    text = VALID + "  - name: api\n    image: ghcr.io/example/api:2.0.0\n"
    problem = one(validate_blueprint(text), "MSX-E011")
    assert at(problem) == ("services[2].name", 10, 11)
    assert "first on line 3" in problem.message


def test_a_map_key_and_a_different_name_conflict():
    problem = one(validate_blueprint("name: x\nservices:\n  api: {name: web, image: 'a:1'}\n"), "MSX-E026")
    assert problem.path == "services.api.name"


@pytest.mark.parametrize(
    ("text", "path", "line"),
    [
        (VALID.replace("name: shop", "name: My Shop"), "name", 1),
        (VALID.replace("- name: db", "- name: DB_main"), "services[1].name", 7),
        ("name: x\nservices:\n  Bad_Name: {image: 'a:1'}\n", "services.Bad_Name", 3),
    ],
)
def test_names_that_are_not_dns_labels_are_errors(text, path, line):
    problem = one(validate_blueprint(text), "MSX-E012")
    assert (problem.path, problem.line) == (path, line)


def test_a_missing_image_is_reported_at_the_service():
    text = "name: x\nservices:\n  api:\n    ports: ['8080']\n"
    problem = one(validate_blueprint(text), "MSX-E013")
    assert at(problem) == ("services.api.image", 3, 3)


def test_a_replacing_mock_needs_no_image():
    text = (
        "name: x\nservices:\n  - name: stripe-mock\n"
        "    mock: {enabled: true, mode: ai-stateful, openapi: specs/stripe.yaml}\n"
    )
    assert validate_blueprint(text).valid


def test_a_sidecar_mock_still_needs_the_image_it_runs_beside():
    text = "name: x\nservices:\n  - name: pay\n    mock: {mode: sidecar, openapi: s.yaml}\n"
    assert "beside" in one(validate_blueprint(text), "MSX-E013").message


def test_an_enabled_mock_needs_an_openapi_document():
    problem = one(validate_blueprint("name: x\nservices:\n  - name: pay\n    mock: {enabled: true}\n"), "MSX-E005")
    assert problem.path == "services[0].mock.openapi"


def test_a_malformed_image_reference_is_an_error():
    problem = one(validate_blueprint(VALID.replace("postgres:16.3", "Postgres:16")), "MSX-E014")
    assert at(problem) == ("services[1].image", 8, 12)


# --- ports and resources ------------------------------------------------------------------------
def test_ports_outside_the_valid_range_are_errors():
    result = validate_blueprint(VALID.replace("{containerPort: 5432}", "{containerPort: 70000}"))
    problem = one(result, "MSX-E015")
    assert at(problem) == ("services[1].ports[0].containerPort", 9, 29)


def test_a_malformed_port_string_points_at_the_entry():
    result = validate_blueprint("name: x\nservices:\n  api:\n    image: a:1\n    ports: ['8080:http']\n")
    assert at(one(result, "MSX-E015")) == ("services.api.ports[0]", 5, 13)


def test_duplicate_ports_are_errors():
    text = "name: x\nservices:\n  - name: api\n    image: a:1\n    ports: ['8080', {containerPort: 8080}]\n"
    problem = one(validate_blueprint(text), "MSX-E016")
    assert at(problem) == ("services[0].ports[1]", 5, 21)


@pytest.mark.parametrize(
    ("resources", "path"),
    [
        ("{cpu: lots}", "services[0].resources.cpu"),
        ("{memory: 12 parsecs}", "services[0].resources.memory"),
        ("{requests: {cpu: -1}}", "services[0].resources.requests.cpu"),
    ],
)
def test_invalid_quantities_are_errors(resources, path):
    text = f"name: x\nservices:\n  - name: api\n    image: a:1\n    resources: {resources}\n"
    problem = one(validate_blueprint(text), "MSX-E017")
    assert (problem.path, problem.line) == (path, 5)


def test_an_invalid_volume_size_is_an_error():
    text = "name: x\nservices:\n  - name: db\n    image: a:1\n    volumes: [{name: d, mountPath: /d, size: 0}]\n"
    assert one(validate_blueprint(text), "MSX-E017").path == "services[0].volumes[0].size"


def test_a_limit_below_its_request_is_an_error():
    text = (
        "name: x\nservices:\n  - name: api\n    image: a:1\n"
        "    resources:\n      requests: {cpu: 500m}\n      limits: {cpu: 0.25}\n"
    )
    problem = one(validate_blueprint(text), "MSX-E027")
    assert at(problem) == ("services[0].resources.limits.cpu", 7, 21)


def test_mixing_the_resource_shorthand_with_requests_is_an_error():
    text = "name: x\nservices:\n  - name: api\n    image: a:1\n    resources: {cpu: 1, limits: {memory: 1Gi}}\n"
    assert one(validate_blueprint(text), "MSX-E026").path == "services[0].resources"


def test_exposed_services_need_ports():
    text = "name: x\nservices:\n  - name: web\n    image: a:1\n    expose: true\n"
    assert at(one(validate_blueprint(text), "MSX-E024")) == ("services[0].expose", 5, 13)


def test_an_overlay_may_expose_a_service_whose_ports_it_inherits():
    assert validate_blueprint(example("feat-checkout-overlay.yaml")).valid
    result = validate_blueprint(example("feat-checkout-overlay.yaml"), known_upstream_services={"storefront"})
    assert one(result, "MSX-E024").path == "services[0].expose"


# --- dependencies -------------------------------------------------------------------------------
def test_a_dependency_on_a_missing_service_is_an_error():
    problem = one(validate_blueprint(VALID.replace("dependsOn: [db]", "dependsOn: [dbb]")), "MSX-E018")
    assert at(problem) == ("services[0].dependsOn[0]", 6, 17)
    assert "did you mean 'db'" in problem.message


def test_overlays_leave_unknown_dependencies_to_creation_time():
    text = (
        "name: feat\nrouting: {mode: overlay, baselineId: env_base_1}\n"
        "services:\n  - {name: api, image: 'a:1', dependsOn: [db]}\n"
    )
    assert validate_blueprint(text).valid
    assert validate_blueprint(text, known_upstream_services={"db"}).valid
    result = validate_blueprint(text, known_upstream_services={"cache"})
    assert one(result, "MSX-E018").path == "services[0].dependsOn[0]"


def test_a_map_style_blueprint_created_on_a_base_is_an_overlay():
    text = "name: feat\nservices:\n  api: {image: 'a:1', dependsOn: [db]}\n"
    assert one(validate_blueprint(text), "MSX-E018").path == "services.api.dependsOn[0]"
    assert validate_blueprint(text, base_given=True).valid


def test_a_dependency_cycle_is_named():
    text = (
        "name: x\nservices:\n"
        "  - {name: api, image: 'a:1', dependsOn: [worker]}\n"
        "  - {name: worker, image: 'a:1', dependsOn: [api]}\n"
    )
    problem = one(validate_blueprint(text), "MSX-E019")
    assert "api → worker → api" in problem.message
    assert at(problem) == ("services[0].dependsOn[0]", 3, 43)


def test_a_service_depending_on_itself_is_a_cycle():
    problem = one(validate_blueprint("name: x\nservices:\n  api: {image: 'a:1', dependsOn: [api]}\n"), "MSX-E019")
    assert "depends on itself" in problem.message
    assert problem.path == "services.api.dependsOn[0]"


def test_a_long_cycle_lists_every_service_in_order():
    text = "name: x\nservices:\n" + "".join(
        f"  - {{name: s{i}, image: 'a:1', dependsOn: [s{(i + 1) % 4}]}}\n" for i in range(4)
    )
    assert "s0 → s1 → s2 → s3 → s0" in one(validate_blueprint(text), "MSX-E019").message


def test_a_dependency_listed_twice_is_a_lint_warning():
    result = validate_blueprint(VALID.replace("dependsOn: [db]", "dependsOn: [db, db]"))
    assert result.valid
    assert one(result, "MSX-L003").path == "services[0].dependsOn[1]"


# --- routing ------------------------------------------------------------------------------------
def test_an_overlay_needs_a_baseline_unless_a_base_is_given():
    text = "name: feat\nrouting:\n  mode: overlay\nservices:\n  - {name: api, image: 'a:1'}\n"
    problem = one(validate_blueprint(text), "MSX-E020")
    assert at(problem) == ("routing.baselineId", 2, 1)
    assert validate_blueprint(text, base_given=True).valid


def test_a_base_given_to_an_isolated_blueprint_is_an_error():
    text = "name: x\nrouting: {mode: isolated}\nservices:\n  - {name: api, image: 'a:1'}\n"
    assert one(validate_blueprint(text, base_given=True), "MSX-E020").path == "routing.mode"


def test_the_overlay_id_must_be_a_dns_label():
    text = (
        "name: feat\nrouting: {mode: overlay, baselineId: env_1, overlayId: Feat_X}\n"
        "services:\n  - {name: api, image: 'a:1'}\n"
    )
    assert one(validate_blueprint(text), "MSX-E012").path == "routing.overlayId"


def test_the_header_name_must_be_an_http_token():
    text = "name: x\nrouting: {headerName: 'x msx env'}\nservices:\n  - {name: api, image: 'a:1'}\n"
    assert at(one(validate_blueprint(text), "MSX-E021")) == ("routing.headerName", 2, 23)


def test_an_invalid_routing_mode_lists_the_allowed_ones():
    text = "name: x\nrouting: {mode: shadow}\nservices:\n  - {name: api, image: 'a:1'}\n"
    problem = one(validate_blueprint(text), "MSX-E008")
    assert "'isolated', 'baseline' or 'overlay'" in problem.message


def test_overlay_only_routing_fields_on_a_baseline_are_lint_warnings():
    text = "name: x\nrouting: {mode: baseline, overlayId: feat}\nservices:\n  - {name: api, image: 'a:1'}\n"
    result = validate_blueprint(text)
    assert result.valid
    assert one(result, "MSX-L005").path == "routing.overlayId"


def test_only_overlays_may_remove_services():
    text = "name: x\nservices:\n  - {name: api, image: 'a:1'}\n  - {name: old, removed: true}\n"
    assert one(validate_blueprint(text), "MSX-E020").path == "services[1].removed"
    assert validate_blueprint(text, base_given=True).valid


def test_depending_on_a_removed_service_is_an_error():
    text = "name: x\nservices:\n  - {name: api, image: 'a:1', dependsOn: [old]}\n  - {name: old, removed: true}\n"
    assert "removes" in one(validate_blueprint(text, base_given=True), "MSX-E018").message


# --- plans, ttl, snapshot, secrets ------------------------------------------------------------------
def test_plans_may_only_override_existing_services():
    text = VALID + "plans:\n  production:\n    services:\n      apii: {replicas: 3}\n"
    problem = one(validate_blueprint(text), "MSX-E022")
    assert at(problem) == ("plans.production.services.apii", 13, 7)
    assert "did you mean 'api'" in problem.message


def test_selecting_an_unknown_plan_is_an_error_listing_the_plans():
    text = VALID + "plans:\n  production:\n    services:\n      api: {replicas: 3}\n"
    problem = one(validate_blueprint(text, plan="prod"), "MSX-E023")
    assert "available plans: production" in problem.message
    assert validate_blueprint(text, plan="production").valid


@pytest.mark.parametrize("ttl", ["72", "3 days", "0h", "-1h"])
def test_invalid_ttl_strings_are_errors(ttl):
    problem = one(validate_blueprint(VALID + f"ttl: {ttl}\n"), "MSX-E025")
    assert (problem.path, problem.line) == ("ttl", 10)


def test_snapshot_restores_into_a_service_of_the_blueprint():
    text = VALID + "snapshot: {service: dbb, id: snap_123}\n"
    assert one(validate_blueprint(text), "MSX-E018").path == "snapshot.service"
    assert validate_blueprint(VALID + "snapshot: {service: db, fromEnvironment: env_base_1}\n").valid


def test_snapshot_needs_exactly_one_source():
    result = validate_blueprint(VALID + "snapshot: {service: db}\n")
    assert one(result, "MSX-E026").path == "snapshot"


def test_a_secret_and_an_env_variable_of_the_same_name_conflict():
    text = VALID.replace(
        "    ports: [{containerPort: 5432}]\n",
        "    ports: [{containerPort: 5432}]\n    env: {POSTGRES_PASSWORD: x}\n"
        "    secrets: [{name: pw, envKey: POSTGRES_PASSWORD}]\n",
    )
    assert one(validate_blueprint(text), "MSX-E028").path == "services[1].secrets[0].envKey"


def test_two_volumes_at_one_mount_path_conflict():
    text = (
        "name: x\nservices:\n  - name: db\n    image: a:1\n"
        "    volumes: [{name: a, mountPath: /d}, {name: b, mountPath: /d}]\n"
    )
    assert one(validate_blueprint(text), "MSX-E028").path == "services[0].volumes[1].mountPath"


def test_init_takes_a_script_or_inline_text_not_both():
    text = "name: x\nservices:\n  - name: db\n    image: a:1\n    init: {script: a.sql, inline: 'select 1'}\n"
    assert one(validate_blueprint(text), "MSX-E026").path == "services[0].init.inline"


def test_a_probe_uses_exactly_one_handler():
    text = (
        "name: x\nservices:\n  - name: api\n    image: a:1\n    ports: ['8080']\n"
        "    probes: {readiness: {httpGet: {port: 8080}, tcpSocket: {port: 8080}}}\n"
    )
    assert one(validate_blueprint(text), "MSX-E026").path == "services[0].probes.readiness.tcpSocket"


def test_a_probe_port_name_must_name_a_port():
    text = (
        "name: x\nservices:\n  - name: api\n    image: a:1\n    ports: [{containerPort: 8080, name: http}]\n"
        "    probes: {liveness: {tcpSocket: {port: web}}}\n"
    )
    assert one(validate_blueprint(text), "MSX-E015").path == "services[0].probes.liveness.tcpSocket.port"


def test_a_probe_on_an_undeclared_port_number_is_a_lint_warning():
    text = "name: x\nservices:\n  - name: api\n    image: a:1\n    probes: {readiness: {httpGet: {port: 9000}}}\n"
    result = validate_blueprint(text)
    assert result.valid
    assert one(result, "MSX-L004").path == "services[0].probes.readiness.httpGet.port"


# --- lint ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("image", ["nginx", "nginx:latest", "localhost:5000/team/app"])
def test_mutable_image_tags_are_lint_warnings(image):
    text = f"name: x\nservices:\n  - name: web\n    image: {image}\n"
    result = validate_blueprint(text)
    assert result.valid
    assert at(one(result, "MSX-L001")) == ("services[0].image", 4, 12)


def test_secret_looking_env_literals_are_lint_warnings():
    text = (
        "name: x\nservices:\n  api:\n    image: a:1\n"
        "    env: {STRIPE_API_KEY: sk_live_123, LOG_LEVEL: info, TOKEN: '${FROM_SECRET}'}\n"
    )
    result = validate_blueprint(text)
    assert result.valid
    assert one(result, "MSX-L002").path == "services.api.env.STRIPE_API_KEY"


def test_fields_of_a_removed_service_are_ignored_with_a_warning():
    text = "name: x\nservices:\n  - {name: api, image: 'a:1'}\n  - {name: old, image: 'b:1', removed: true}\n"
    result = validate_blueprint(text, base_given=True)
    assert result.valid
    assert "image" in one(result, "MSX-L006").message


# --- all at once, ordering, robustness ------------------------------------------------------------
def test_all_problems_are_reported_at_once_and_sorted_by_line():
    text = (
        "name: Shop\n"
        "services:\n"
        "  - name: api\n"
        "    image: a:1\n"
        "    ports: ['99999']\n"
        "    dependsOn: [ghost]\n"
        "  - name: worker\n"
        "    dependsOn: [worker]\n"
        "ttl: forever\n"
    )
    result = validate_blueprint(text)
    codes = [p.code for p in result.problems]
    assert {"MSX-E012", "MSX-E015", "MSX-E018", "MSX-E013", "MSX-E019", "MSX-E025"} <= set(codes)
    lines = [p.line or 0 for p in result.problems]
    assert lines == sorted(lines)


def test_a_malformed_field_does_not_hide_rules_about_the_rest_of_the_service():
    text = "name: x\nservices:\n  - name: api\n    image: a:1\n    replicas: many\n    dependsOn: [ghost]\n"
    result = validate_blueprint(text)
    assert {p.code for p in result.errors} == {"MSX-E007", "MSX-E018"}


def test_problems_have_a_known_code_and_a_severity_matching_it():
    text = VALID.replace("postgres:16.3", "postgres") + "ttl: nope\nextra: 1\n"
    for problem in validate_blueprint(text).problems:
        assert problem.code in CODES
        assert problem.severity == ("warning" if problem.code.startswith("MSX-L") else "error")


@pytest.mark.parametrize("weird", [None, b"name: x", 42, "\ud800", "\x00", "name: x\nservices: [*nope]\n"])
def test_the_validator_never_raises(weird):
    result = validate_blueprint(weird)  # type: ignore[arg-type]
    assert isinstance(result, ValidationResult)
    assert not result.valid
    assert result.errors


def test_an_internal_failure_becomes_a_problem(monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(validation_module, "check_rules", explode)
    result = validate_blueprint(VALID)
    assert not result.valid
    assert one(result, "MSX-E030").severity == "error"


def test_the_code_table_in_the_docstring_matches_the_codes():
    docstring = problems_module.__doc__ or ""
    documented = {f"MSX-{code}" for code in re.findall(r"^([EL]\d{3})\s", docstring, re.MULTILINE)}
    assert documented == set(CODES)


def test_parser_problems_carry_the_path_of_the_offending_key():
    text = "name: x\nservices:\n  - name: api\n    image: a:1\n    env: {A: '1', A: '2'}\n"
    assert at(one(validate_blueprint(text), "MSX-E009")) == ("services[0].env.A", 5, 19)


def test_service_names_must_start_with_a_letter():
    from blueprints.validation import validate_blueprint

    result = validate_blueprint("name: x\nservices:\n  - name: 1api\n    image: nginx:1.27\n")
    assert not result.valid
    [problem] = [p for p in result.problems if p.code == "MSX-E012"]
    assert "must start with a letter" in problem.message and problem.line == 3
