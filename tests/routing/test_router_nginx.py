"""The generated router configuration, run by a real nginx against loopback stub upstreams."""

from __future__ import annotations

import subprocess

import pytest

from environments.render import RouterListener, nginx_router_config, nginx_router_config_for, render_router
from environments.render.router import CONFIG_KEY, KUBE_DNS

from .conftest import LOOPBACK, free_port
from .overlays import OVERLAY_A, baseline_context, baseline_spec


def router_config(port: int, routes: dict[str, str], default: str, pid_file, **options) -> str:
    """The ``checkout`` router on a loopback port, with IP upstreams (so no resolver)."""
    return nginx_router_config(
        "checkout", port, routes, default, resolver=None, listen_host=LOOPBACK, pid_file=str(pid_file), **options
    )


@pytest.fixture
def pid_file(tmp_path):
    return tmp_path / "nginx.pid"


@pytest.fixture
def router(run_nginx, stubs, pid_file):
    """A router for ``checkout``: feat-a → overlay A, feat-b (a child of A) → A, else baseline."""
    baseline, overlay_a = stubs("baseline"), stubs("overlay-a")
    port = free_port()
    routes = {"feat-a": overlay_a.address, "feat-b": overlay_a.address}
    return run_nginx(router_config(port, routes, baseline.address, pid_file), port)


def test_a_request_without_a_key_goes_to_the_baseline(router):
    status, body = router.request()

    assert status == 200
    assert body["upstream"] == "baseline"
    assert body["path"] == "/orders?id=7"
    assert "x-msx-env" not in body["headers"]


def test_the_routing_header_selects_the_overlay(router):
    status, body = router.request({"x-msx-env": "feat-a"})

    assert status == 200
    assert body["upstream"] == "overlay-a"


def test_an_unknown_key_falls_back_to_the_baseline(router):
    status, body = router.request({"x-msx-env": "feat-unknown"})

    assert status == 200
    assert body["upstream"] == "baseline"
    # the key still travels on: a later hop may know it
    assert body["headers"]["x-msx-env"] == "feat-unknown"


def test_a_baggage_member_selects_the_overlay_and_becomes_the_header(router):
    status, body = router.request({"baggage": "foo=1,msx-env=feat-a;ttl=3, bar=2"})

    assert status == 200
    assert body["upstream"] == "overlay-a"
    assert body["headers"]["x-msx-env"] == "feat-a"
    assert body["headers"]["baggage"] == "foo=1,msx-env=feat-a;ttl=3, bar=2"


def test_baggage_without_the_member_goes_to_the_baseline(router):
    status, body = router.request({"baggage": "foo=1,not-msx-env=feat-a"})

    assert status == 200
    assert body["upstream"] == "baseline"


def test_the_header_wins_over_baggage(router):
    status, body = router.request({"x-msx-env": "feat-unknown", "baggage": "msx-env=feat-a"})

    assert body["upstream"] == "baseline"
    assert body["headers"]["x-msx-env"] == "feat-unknown"


def test_a_chained_overlay_key_reaches_its_nearest_provider(router):
    # feat-b overlays feat-a without changing checkout, so A's checkout serves it
    status, body = router.request({"x-msx-env": "feat-b"})

    assert status == 200
    assert body["upstream"] == "overlay-a"
    assert body["headers"]["x-msx-env"] == "feat-b"


def test_the_router_passes_the_headers_on_and_counts_the_hop(router):
    status, body = router.request({"x-msx-env": "feat-a", "x-request-id": "r-1", "host": "checkout:8080"})

    assert status == 200
    headers = body["headers"]
    assert headers["x-msx-env"] == "feat-a"
    assert headers["x-msx-hops"] == "1"
    assert headers["x-request-id"] == "r-1"
    # the caller's Host is kept, so virtual-host aware services see what they were called as
    assert headers["host"] == "checkout:8080"
    assert headers["x-forwarded-for"] == LOOPBACK


def test_an_incoming_hop_count_is_incremented(router):
    status, body = router.request({"x-msx-env": "feat-a", "x-msx-hops": "2"})

    assert status == 200
    assert body["headers"]["x-msx-hops"] == "3"


@pytest.mark.parametrize("hops", ["4", "5", "999"])
def test_a_request_at_the_hop_limit_is_refused_with_508(router, hops):
    status, body = router.request({"x-msx-env": "feat-a", "x-msx-hops": hops})

    assert status == 508
    assert "loop detected" in body


def test_a_router_whose_upstream_is_itself_stops_after_max_hops(run_nginx, pid_file):
    # given a router sending every key, and the default, back to itself
    port = free_port()
    itself = f"{LOOPBACK}:{port}"
    nginx = run_nginx(router_config(port, {"feat-a": itself}, itself, pid_file, max_hops=3), port)

    # when a request enters the loop
    status, body = nginx.request({"x-msx-env": "feat-a"})

    # then it ends: three proxied hops, the fourth refused, the refusal passed back out
    assert status == 508
    assert "more than 3 routing hops" in body
    log = nginx.access_log(lines=4)
    assert len(log) == 4
    assert sum(" 508 " in line for line in log) == 4


def test_every_listener_routes_to_its_own_port(run_nginx, stubs, pid_file):
    # given a service with two ports, each forwarded to the same port of the chosen upstream
    web_base, web_a = stubs("baseline-web"), stubs("overlay-a-web")
    metrics_base, metrics_a = stubs("baseline-metrics"), stubs("overlay-a-metrics")
    first, second = free_port(), free_port()
    config = nginx_router_config_for(
        "web",
        [
            RouterListener(first, {"feat-a": web_a.address}, web_base.address),
            RouterListener(second, {"feat-a": metrics_a.address}, metrics_base.address),
        ],
        resolver=None,
        listen_host=LOOPBACK,
        pid_file=str(pid_file),
    )
    nginx = run_nginx(config, first)
    other = type(nginx)(port=second, directory=nginx.directory)

    # then each port keeps its own mapping
    assert nginx.request({"x-msx-env": "feat-a"})[1]["upstream"] == "overlay-a-web"
    assert other.request({"x-msx-env": "feat-a"})[1]["upstream"] == "overlay-a-metrics"
    assert other.request()[1]["upstream"] == "baseline-metrics"


def test_an_unreachable_overlay_answers_502_instead_of_hanging(run_nginx, stubs, pid_file):
    baseline = stubs("baseline")
    port, closed = free_port(), free_port()
    nginx = run_nginx(router_config(port, {"feat-a": f"{LOOPBACK}:{closed}"}, baseline.address, pid_file), port)

    assert nginx.request({"x-msx-env": "feat-a"})[0] == 502
    assert nginx.request()[1]["upstream"] == "baseline"


def test_the_rendered_configmap_is_accepted_by_nginx(nginx_binary, tmp_path):
    # given the router ConfigMap exactly as rendered for a baseline
    spec = baseline_spec()
    objects = render_router(spec, baseline_context(spec), "checkout", {"feat-a": OVERLAY_A})
    config = next(obj for obj in objects if obj["kind"] == "ConfigMap")["data"][CONFIG_KEY]
    # kube-dns only resolves inside a cluster; nginx resolves the resolver's name at start-up
    conf = tmp_path / "nginx.conf"
    conf.write_text(config.replace(KUBE_DNS, LOOPBACK).replace("pid /tmp/nginx.pid", f"pid {tmp_path}/nginx.pid"))

    # when nginx checks it
    checked = subprocess.run(
        [nginx_binary, "-t", "-p", f"{tmp_path}/", "-c", str(conf)], capture_output=True, text=True, timeout=10
    )

    # then it is valid as it stands
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr
