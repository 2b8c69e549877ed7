"""Wake on demand: a stopped environment's routes lead to MicroStax's wake page, which resumes it once
however often it is hit, shows only its name and state, and redirects once it is ready."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from audit.models import AuditEvent
from blueprints.validation import validate_blueprint
from environments import actions, wake
from environments.models import Environment, Operation
from environments.render import RenderContext, WakeTarget, render_environment
from tests.environments.test_lifecycle import STACK

WAKE = WakeTarget(host="msx.example.com", port=443, path="/wake/env_1/", scheme="https")


@pytest.fixture(autouse=True)
def _fresh_rate_limit():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def stopped(provision, owner, django_capture_on_commit_callbacks):
    env = provision()
    with django_capture_on_commit_callbacks(execute=True):
        actions.stop_environment(actor=owner, env=env)
    env.refresh_from_db()
    assert env.state == "stopped", env.state_reason
    return env


def _route(provider: str) -> dict:
    ctx = RenderContext(
        environment_id="env_1",
        environment_slug="shop",
        namespace="env-shop",
        team_slug="team",
        ingress_domain="apps.example.com",
        routing_provider=provider,
        gateway=("gateways", "public") if provider == "gateway-api" else None,
        secret_values={"db/db-password": "x"},
        wake=WAKE,
    )
    objects = render_environment(validate_blueprint(STACK).normalized, ctx).objects
    kinds = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    assert kinds[("Service", "msx-wake")]["spec"] == {
        "type": "ExternalName",
        "externalName": "msx.example.com",
        "ports": [{"name": "https", "port": 443, "targetPort": 443}],
    }
    return kinds[("HTTPRoute" if provider == "gateway-api" else "Ingress", "api")]


def test_nginx_routes_rewrite_to_the_wake_page():
    ingress = _route("nginx")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend == {"service": {"name": "msx-wake", "port": {"number": 443}}}
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/rewrite-target"] == "/wake/env_1/api/"
    assert annotations["nginx.ingress.kubernetes.io/upstream-vhost"] == "msx.example.com"
    assert annotations["nginx.ingress.kubernetes.io/backend-protocol"] == "HTTPS"


def test_gateway_routes_rewrite_to_the_wake_page():
    rule = _route("gateway-api")["spec"]["rules"][0]
    assert rule["backendRefs"] == [{"group": "", "kind": "Service", "name": "msx-wake", "port": 443}]
    assert rule["filters"] == [
        {
            "type": "URLRewrite",
            "urlRewrite": {
                "hostname": "msx.example.com",
                "path": {"type": "ReplaceFullPath", "replaceFullPath": "/wake/env_1/api/"},
            },
        }
    ]


def test_a_stopped_environment_routes_to_microstax_and_a_resumed_one_to_itself(
    stopped, owner, sim, settings, django_capture_on_commit_callbacks
):
    # the sandbox cluster routes with Traefik: the Ingress sends the host to the wake Service
    ingress = sim.get("ingresses", stopped.namespace, "api")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend == {"service": {"name": "msx-wake", "port": {"number": 8000}}}
    service = sim.get("services", stopped.namespace, "msx-wake")
    assert (service["spec"]["type"], service["spec"]["externalName"]) == ("ExternalName", "127.0.0.1")
    # when it runs again, its route goes back to its own Service and the wake Service is pruned
    with django_capture_on_commit_callbacks(execute=True):
        actions.resume_environment(actor=owner, env=stopped)
    ingress = sim.get("ingresses", stopped.namespace, "api")
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "api"
    assert sim.get("services", stopped.namespace, "msx-wake") is None


def test_the_wake_target_follows_the_public_url(stopped, settings):
    settings.MICROSTAX_PUBLIC_URL = "https://msx.example.com/platform"
    assert wake.wake_target(stopped) == WakeTarget(
        host="msx.example.com", port=443, path=f"/platform/wake/{stopped.public_id}/", scheme="https"
    )


def test_the_wake_page_resumes_once_and_shows_only_name_and_state(
    stopped, client, team, django_capture_on_commit_callbacks
):
    url = f"/wake/{stopped.public_id}/api/"
    # when: a burst of anonymous requests, and more after the rate limit's window
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        responses = [client.get(url, REMOTE_ADDR="203.0.113.7") for _ in range(3)]
        cache.clear()
        responses.append(client.get(url, REMOTE_ADDR="203.0.113.7"))
    # then: one resume operation, audited as the system with the requester's address
    assert Operation.objects.filter(environment=stopped, kind="resume").count() == 1
    assert len(callbacks) == 2  # at commit: the worker's task, and the `resuming` event for subscribers
    event = AuditEvent.objects.get(action="environment.resume", target_id=stopped.public_id)
    assert (event.actor_kind, event.ip) == ("system", "203.0.113.7")
    # and a page that refreshes, showing the name and the state and nothing else of the environment
    page = responses[0]
    assert page.status_code == 503 and page["Retry-After"] == "3"
    body = page.content.decode()
    assert "shop is waking up" in body and 'data-state="resuming"' in body
    assert 'http-equiv="refresh"' in body
    for secret in (stopped.public_id, stopped.namespace, team.slug, "sandbox", "api-shop"):
        assert secret not in body
    stopped.refresh_from_db()
    assert stopped.state == "resuming"


def test_the_wake_page_redirects_once_ready(stopped, client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client.get(f"/wake/{stopped.public_id}/api/")
    stopped.refresh_from_db()
    assert stopped.state == "ready"
    # through the route (the ingress forwards the original host): back to the environment
    response = client.get(f"/wake/{stopped.public_id}/api/", HTTP_X_FORWARDED_HOST="api-shop.sandbox.localhost")
    assert response.status_code == 302
    assert response["Location"] == "http://api-shop.sandbox.localhost"
    # directly: the state, not the address
    direct = client.get(f"/wake/{stopped.public_id}/api/")
    assert direct.status_code == 200
    body = direct.content.decode()
    assert "shop is running" in body and "refresh" not in body and "api-shop" not in body
    forged = client.get(f"/wake/{stopped.public_id}/api/", HTTP_X_FORWARDED_HOST="evil.example.com")
    assert forged.status_code == 200


def test_a_request_on_the_environments_own_host_wakes_it(stopped, client, django_capture_on_commit_callbacks):
    # Traefik cannot rewrite: the request reaches MicroStax with the environment's host and path
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get("/orders?page=2", HTTP_HOST="api-shop.sandbox.localhost")
    assert response.status_code == 503
    assert Operation.objects.filter(environment=stopped, kind="resume").count() == 1
    response = client.get("/orders?page=2", HTTP_HOST="api-shop.sandbox.localhost")
    assert response.status_code == 302
    assert response["Location"] == "http://api-shop.sandbox.localhost/orders?page=2"


def test_unknown_hosts_and_environments_are_not_woken(stopped, client):
    assert client.get("/", HTTP_HOST="nothing-here.sandbox.localhost").status_code == 400  # DisallowedHost
    assert client.get("/wake/env_doesnotexist/").status_code == 404
    assert not Operation.objects.filter(kind="resume").exists()


def test_a_wake_request_is_activity(stopped, client):
    before = stopped.last_activity_at
    Environment.objects.filter(pk=stopped.pk).update(last_activity_at=before.replace(year=before.year - 1))
    client.get(f"/wake/{stopped.public_id}/")
    stopped.refresh_from_db()
    assert stopped.last_activity_at > before
    assert stopped.idle_at > stopped.last_activity_at


def test_a_failed_environment_page_does_not_refresh(stopped, client):
    Environment.objects.filter(pk=stopped.pk).update(state="failed")
    response = client.get(f"/wake/{stopped.public_id}/")
    body = response.content.decode()
    assert "could not be started" in body and "refresh" not in body
    assert not Operation.objects.filter(kind="resume").exists()
