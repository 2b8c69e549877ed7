"""The authorization matrix: every GraphQL operation (queries, mutations, subscriptions) and every
dashboard URL, called as each persona, compared with the committed table ``authz_matrix.yaml``
(operation → persona → allowed | denied | not_found | unauthenticated).

The operations and URLs come from the schema and the URL resolver, so a new one fails
``test_the_table_covers_every_operation_and_url`` until it is given a row. Set
``MSX_AUTHZ_RECORD=path`` to write what was observed, as a starting point when adding rows (then
review every cell against DESIGN.md before committing it).
"""

from __future__ import annotations

import asyncio
import json
import os
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import yaml
from asgiref.sync import async_to_sync
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages import constants as message_levels
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from microstax.graphql.schema import schema
from tests.security.operations import MUTATIONS, QUERIES, SUBSCRIPTIONS, Call
from tests.security.pages import PAGES
from tests.security.world import PERSONAS, World

TABLE_PATH = Path(__file__).with_name("authz_matrix.yaml")
TABLE: dict[str, dict[str, str]] = yaml.safe_load(TABLE_PATH.read_text())
OUTCOMES = {"allowed", "denied", "not_found", "unauthenticated"}
# Django's admin is its own application (staff only, its own login); it is not part of the dashboard.
NOT_DASHBOARD = ("admin",)
OBSERVED: dict[str, dict[str, str]] = {}
LOGIN_PATH = "/login/"


def _schema_operations() -> list[str]:
    names = []
    for kind, type_name in (("query", "Query"), ("mutation", "Mutation"), ("subscription", "Subscription")):
        names += [
            f"{kind} {f.graphql_name or _camel(f.python_name)}" for f in schema.get_type_by_name(type_name).fields
        ]
    return names


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _dashboard_urls() -> list[str]:
    names = []

    def walk(patterns, namespace: str | None) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                if str(entry.pattern).rstrip("/") in NOT_DASHBOARD:
                    continue
                walk(entry.url_patterns, entry.namespace or namespace)
            elif isinstance(entry, URLPattern):
                names.append(f"url {namespace + ':' if namespace else ''}{entry.name}")

    walk(get_resolver().url_patterns, None)
    return names


EVERYTHING = _schema_operations() + _dashboard_urls()


def test_the_table_covers_every_operation_and_url():
    missing = [name for name in EVERYTHING if name not in TABLE]
    assert not missing, "no row in authz_matrix.yaml for: " + ", ".join(missing)
    stale = [name for name in TABLE if name not in EVERYTHING]
    assert not stale, "rows for operations or URLs that no longer exist: " + ", ".join(stale)
    for name, row in TABLE.items():
        assert set(row) == set(PERSONAS), f"{name}: the row must name every persona exactly once"
        assert set(row.values()) <= OUTCOMES, f"{name}: outcomes are {sorted(OUTCOMES)}"


# --- GraphQL --------------------------------------------------------------------------------------


def _call(kind: str, name: str) -> Call:
    return {"query": QUERIES, "mutation": MUTATIONS, "subscription": SUBSCRIPTIONS}[kind][name]


def classify_graphql(name: str, status: int, payload: dict, call: Call, world: World) -> str:
    if status == 401:
        return "unauthenticated"
    codes = [(e.get("extensions") or {}).get("code") for e in payload.get("errors") or []]
    messages = [e.get("message", "") for e in payload.get("errors") or []]
    for code, message in zip(codes, messages, strict=True):
        if code == "UNAUTHENTICATED":
            return "unauthenticated"
        if code in ("PERMISSION_DENIED", "FORBIDDEN"):
            return "denied"
        if code == "NOT_FOUND" or "not found" in message:
            return "not_found"
    if messages:
        return f"error: {messages[0]}"
    result = (payload.get("data") or {}).get(name)
    if result is None:
        return "not_found"
    if isinstance(result, dict) and result.get("errors"):
        error = result["errors"][0]
        return {"PERMISSION_DENIED": "denied", "NOT_FOUND": "not_found"}.get(error["code"], f"error: {error}")
    if call.expect_id is not None and call.expect_id(world) not in json.dumps(result):
        return "not_found"
    return "allowed"


def _post_graphql(call: Call, world: World, persona: str) -> tuple[int, dict]:
    client = Client()
    if persona != "anonymous":
        client.force_login(world.user(persona))
    body = json.dumps({"query": call.document, "variables": call.variables(world)})
    response = client.post("/graphql", data=body, content_type="application/json")
    assert response.status_code < 500, response.content[:400]
    return response.status_code, response.json()


class _Socket:
    """What a subscription resolver reads from its channels consumer: the user, and a channel
    listener (here one that never delivers: the first event comes from the database)."""

    def __init__(self, user) -> None:
        self.scope = {"user": user}

    @asynccontextmanager
    async def listen_to_channel(self, *args, **kwargs):
        async def nothing():
            await asyncio.Event().wait()
            yield  # pragma: no cover

        yield nothing()


def _subscribe(call: Call, world: World, persona: str) -> tuple[int, dict]:
    user = AnonymousUser() if persona == "anonymous" else world.user(persona)
    socket = _Socket(user)

    async def first() -> dict:
        stream = await schema.subscribe(
            call.document, call.variables(world), context_value={"request": socket, "ws": socket}
        )
        if not hasattr(stream, "__anext__"):
            return {"data": None, "errors": [e.formatted for e in stream.errors]}
        try:
            result = await asyncio.wait_for(stream.__anext__(), 10)
        except StopAsyncIteration:
            return {"data": {}}
        finally:
            await stream.aclose()
        return {"data": result.data, "errors": [e.formatted for e in result.errors or []]}

    return 200, async_to_sync(first)()


@pytest.fixture
def same_connection(monkeypatch):
    """Subscription resolvers reach the ORM through channels' database_sync_to_async, which closes
    connections it thinks are stale; inside the test's transaction it must leave them alone."""
    import channels.db

    monkeypatch.setattr(channels.db, "close_old_connections", lambda: None)


GRAPHQL = [name for name in EVERYTHING if not name.startswith("url ")]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("operation", GRAPHQL)
def test_graphql_operation(world, db, same_connection, operation, persona):
    kind, name = operation.split(" ", 1)
    call = _call(kind, name)
    if call.prepare is not None:
        call.prepare(world)
    status, payload = (_subscribe if kind == "subscription" else _post_graphql)(call, world, persona)
    observed = classify_graphql(name, status, payload, call, world)
    _compare(operation, persona, observed, payload)


# --- dashboard ------------------------------------------------------------------------------------


def classify_page(response, page, world: World) -> str:
    status = response.status_code
    location = response.get("Location", "")
    if page.login_redirect_is_success and status == 302:
        return "allowed"
    if status == 401 or (status == 302 and location.startswith(LOGIN_PATH)):
        return "unauthenticated"
    if status == 403:
        return "denied"
    if status == 404:
        return "not_found"
    if page.effect is not None and status in (200, 302, 400):
        if page.effect(world):
            return "allowed"
        # Refused without a 403: a message on the redirect, or the form again with the reason.
        errors = [m.message for m in get_messages(response.wsgi_request) if m.level == message_levels.ERROR]
        if any(_refusal(text) for text in errors) or (status != 302 and _refusal(response.content.decode())):
            return "denied"
        return f"error: no effect ({status} {location} {errors} {response.content[:300]!r})"
    if status >= 400:
        return f"error: {status} {response.content[:200]!r}"
    if page.expect is not None and status == 200:
        body = b"".join(response.streaming_content) if response.streaming else response.content
        return "allowed" if page.expect(world).encode() in body else "not_found"
    return "allowed"


def _refusal(text: str) -> bool:
    return "does not allow" in text or "only platform admins" in text.lower()


PAGE_NAMES = [name for name in EVERYTHING if name.startswith("url ")]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("url", PAGE_NAMES)
def test_dashboard_url(world, db, url, persona):
    page = PAGES[url.removeprefix("url ")]
    client = Client()
    if persona != "anonymous":
        client.force_login(world.user(persona))
    request = client.post if page.method == "POST" else client.get
    response = request(page.path(world), page.data(world), **page.headers)
    assert response.status_code < 500, response.content[:400]
    _compare(url, persona, classify_page(response, page, world), response.status_code)


# --- the comparison -------------------------------------------------------------------------------


def _compare(name: str, persona: str, observed: str, evidence) -> None:
    OBSERVED.setdefault(name, {})[persona] = observed
    expected = (TABLE.get(name) or {}).get(persona)
    assert expected is not None, f"no row in authz_matrix.yaml for {name} ({persona})"
    assert observed == expected, f"{name} as {persona}: expected {expected}, got {observed} — {str(evidence)[:300]}"


@pytest.fixture(scope="module", autouse=True)
def record_observed():
    yield
    target = os.environ.get("MSX_AUTHZ_RECORD")
    if target and OBSERVED:
        ordered = {name: OBSERVED[name] for name in EVERYTHING if name in OBSERVED}
        Path(target).write_text(yaml.safe_dump(ordered, sort_keys=False, width=200))
