"""The blueprint JSON Schema: valid draft 2020-12, accepts both styles, rejects what editors should flag."""

from __future__ import annotations

import json

import pytest
import yaml

from blueprints.schema import SCHEMA_ID, blueprint_json_schema
from tests.blueprints.helpers import EXAMPLE_FILES

jsonschema = pytest.importorskip("jsonschema")


@pytest.fixture(scope="module")
def validator():
    schema = blueprint_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_schema_is_draft_2020_12_with_an_id_and_title():
    schema = blueprint_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == SCHEMA_ID
    assert schema["title"] == "MicroStax Blueprint"
    assert schema["required"] == ["name", "services"]
    assert json.loads(json.dumps(schema)) == schema


def test_fields_carry_descriptions_for_editors():
    service = blueprint_json_schema()["$defs"]["ServiceSpec"]["properties"]
    assert "DNS" in service["name"]["description"]
    assert service["image"]["description"]
    assert "title" not in service["name"]


def test_each_call_returns_an_independent_copy():
    first = blueprint_json_schema()
    first["title"] = "changed"
    assert blueprint_json_schema()["title"] == "MicroStax Blueprint"


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_every_documented_example_matches_the_schema(validator, path):
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert [error.message for error in validator.iter_errors(document)] == []


def test_both_service_styles_and_all_port_spellings_match(validator):
    listed = {
        "name": "x",
        "services": [{"name": "a", "image": "a:1", "ports": [8080, "9090:90", {"containerPort": 1}]}],
    }
    mapped = {"name": "x", "services": {"a": {"image": "a:1", "ports": ["53/udp"]}, "b": None}}
    assert validator.is_valid(listed)
    assert validator.is_valid(mapped)


@pytest.mark.parametrize(
    "document",
    [
        {"services": [{"name": "a", "image": "a:1"}]},
        {"name": "x", "services": []},
        {"name": "x", "services": [{"name": "a", "imagee": "a:1"}]},
        {"name": "x", "services": [{"name": "Bad_Name"}]},
        {"name": "x", "services": [{"name": "a", "ports": ["80:http"]}]},
        {"name": "x", "services": [{"name": "a", "ports": [70000]}]},
        {"name": "x", "services": [{"name": "a", "resources": {"cpu": "lots"}}]},
        {"name": "x", "services": [{"name": "a"}], "ttl": "3 days"},
        {"name": "x", "services": [{"name": "a"}], "routing": {"mode": "shadow"}},
        {"name": "x", "services": [{"name": "a"}], "routing": {"headerName": "x msx"}},
    ],
)
def test_documents_the_validator_refuses_for_shape_are_refused_by_the_schema(validator, document):
    assert not validator.is_valid(document)
