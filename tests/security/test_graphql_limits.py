"""Hostile GraphQL documents are refused with a clear error, quickly, and never with a 500."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client


@pytest.fixture
def post(owner):
    client = Client()
    client.force_login(owner)

    def send(body: object, *, raw: bytes | None = None):
        started = time.monotonic()
        response = client.post(
            "/graphql", data=raw if raw is not None else json.dumps(body), content_type="application/json"
        )
        assert time.monotonic() - started < 5, "a hostile document must be refused quickly"
        assert response.status_code < 500, response.content[:500]
        return response

    return send


def _errors(response) -> list[str]:
    payload = response.json()
    assert payload.get("data") is None
    return [error["message"] for error in payload["errors"]]


def test_a_deeply_nested_query_is_refused(post, team):
    nested = "teams { edges { node { memberships { team { " * 6 + "slug" + " } } } } }" * 6
    messages = _errors(post({"query": "query Deep { " + nested + " }"}))
    assert any("exceeds maximum operation depth" in m for m in messages)


def test_an_alias_bomb_is_refused(post):
    aliases = " ".join(f"a{i}: viewer {{ username }}" for i in range(100))
    assert _errors(post({"query": "{ " + aliases + " }"})) == ["100 aliases found. Allowed: 15"]


def test_a_fragment_cycle_is_refused(post):
    query = "query { viewer { ...A } } fragment A on Viewer { username ...B } fragment B on Viewer { username ...A }"
    messages = _errors(post({"query": query}))
    assert any("Cannot spread fragment 'A' within itself" in m for m in messages)


def test_a_document_with_too_many_tokens_is_refused_before_parsing_completes(post):
    fields = "username " * 20_000
    messages = _errors(post({"query": "{ viewer { " + fields + "} }"}))
    assert any("more than 3000 tokens" in m for m in messages)


def test_a_huge_page_size_is_refused(post, team):
    payload = post({"query": "{ environments(first: 1000000) { edges { node { id } } } }"}).json()
    assert payload["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}


def test_a_batched_request_is_refused(post):
    response = post([{"query": "{ viewer { username } }"}] * 100)
    assert response.status_code == 400
    assert b"Batching is not enabled" in response.content


def test_an_oversized_body_is_refused_before_it_is_parsed(post, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    body = json.dumps({"query": "{ viewer { username } }", "variables": {"pad": "x" * 100_000}})
    response = post(None, raw=body.encode())
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"


def test_a_body_that_is_not_json_is_a_400(post):
    response = post(None, raw=b"{" * 100_000)
    assert response.status_code == 400
