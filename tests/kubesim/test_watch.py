"""Watch semantics: initial state, replay from a resourceVersion, selectors, bookmarks, 410."""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from microstax.kubesim import KubeSim


def _raw_watch(sim: KubeSim, path: str) -> list[dict]:
    with urllib.request.urlopen(sim.url + path, timeout=10) as resp:  # noqa: S310 - loopback
        assert resp.headers["Transfer-Encoding"] == "chunked"
        assert resp.headers.get("Content-Length") is None
        return [json.loads(line) for line in resp.read().decode().splitlines() if line]


def test_watch_without_rv_lists_current_state_then_changes(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "one"}})
    w = watch.Watch()
    seen = []
    for ev in w.stream(core.list_namespaced_config_map, namespace=namespace, timeout_seconds=10):
        seen.append((ev["type"], ev["object"].metadata.name))
        if ev["object"].metadata.name == "one" and ev["type"] == "ADDED":
            core.create_namespaced_config_map(namespace, {"metadata": {"name": "two"}})
        if ev["object"].metadata.name == "two":
            w.stop()
    assert ("ADDED", "one") in seen and seen[-1] == ("ADDED", "two")


def test_watch_from_resource_version_replays_only_later_events(core: client.CoreV1Api, namespace: str) -> None:
    rv = core.create_namespaced_config_map(namespace, {"metadata": {"name": "a"}}).metadata.resource_version
    core.patch_namespaced_config_map("a", namespace, {"data": {"k": "v"}})
    core.delete_namespaced_config_map("a", namespace)
    w = watch.Watch()
    events = []
    for ev in w.stream(core.list_namespaced_config_map, namespace=namespace, resource_version=rv, timeout_seconds=5):
        events.append(ev["type"])
        if ev["type"] == "DELETED":
            w.stop()
    assert events == ["MODIFIED", "DELETED"]


def test_label_selector_transitions_become_added_and_deleted(
    kubesim: KubeSim, core: client.CoreV1Api, namespace: str
) -> None:
    rv = core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "c", "labels": {"sel": "no"}}}
    ).metadata.resource_version
    core.patch_namespaced_config_map("c", namespace, {"metadata": {"labels": {"sel": "yes"}}})
    core.patch_namespaced_config_map("c", namespace, {"data": {"x": "1"}})
    core.patch_namespaced_config_map("c", namespace, {"metadata": {"labels": {"sel": "no"}}})
    events = _raw_watch(
        kubesim,
        f"/api/v1/namespaces/{namespace}/configmaps?watch=true&resourceVersion={rv}"
        "&labelSelector=sel%3Dyes&timeoutSeconds=1",
    )
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert all(e["object"]["kind"] == "ConfigMap" and e["object"]["apiVersion"] == "v1" for e in events)


def test_timeout_seconds_closes_the_stream_cleanly(kubesim: KubeSim, namespace: str) -> None:
    events = _raw_watch(kubesim, f"/api/v1/namespaces/{namespace}/secrets?watch=1&timeoutSeconds=1")
    assert events == []


def test_bookmarks_and_send_initial_events(kubesim: KubeSim, core: client.CoreV1Api, namespace: str) -> None:
    kubesim.config.delays.bookmark_interval = 20  # ×0.01 → a bookmark every 0.2 s
    events = _raw_watch(
        kubesim,
        f"/api/v1/namespaces/{namespace}/configmaps?watch=1&sendInitialEvents=true&allowWatchBookmarks=true"
        "&resourceVersionMatch=NotOlderThan&timeoutSeconds=1",
    )
    types = [e["type"] for e in events]
    assert types[0] == "ADDED"
    initial_end = next(e for e in events if e["type"] == "BOOKMARK")
    assert initial_end["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert set(initial_end["object"]) == {"kind", "apiVersion", "metadata"}
    assert types.count("BOOKMARK") >= 2


def test_too_old_resource_version_is_an_in_stream_410(kubesim: KubeSim, core: client.CoreV1Api, namespace: str) -> None:
    old = core.create_namespaced_config_map(namespace, {"metadata": {"name": "a"}}).metadata.resource_version
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "b"}})
    kubesim.compact()
    events = _raw_watch(kubesim, f"/api/v1/namespaces/{namespace}/configmaps?watch=1&resourceVersion={old}")
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert status["code"] == 410 and status["reason"] == "Expired"
    assert status["message"].startswith(f"too old resource version: {old} (")
    # The official client retries once with the same RV, then raises ApiException(410).
    with pytest.raises(ApiException) as exc:
        for _ in watch.Watch().stream(core.list_namespaced_config_map, namespace=namespace, resource_version=old):
            pass
    assert exc.value.status == 410
    recorded = kubesim.recorder.filter(verb="watch", resource="configmaps")
    assert len(recorded) >= 3


def test_typed_watch_reconnects_from_last_resource_version(
    kubesim: KubeSim, core: client.CoreV1Api, namespace: str
) -> None:
    kubesim.faults.add(verb="watch", resource="configmaps", drop_watch_after=1, times=1)
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "a"}})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "b"}})
    names = []
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_config_map, namespace=namespace, resource_version=rv):
        names.append(ev["object"].metadata.name)
        if len(names) == 2:
            w.stop()
    assert names == ["a", "b"]
    watches = kubesim.recorder.filter(verb="watch", resource="configmaps")
    assert len(watches) == 2
    assert watches[1].query["resourceVersion"] != rv  # resumed after the first event


def test_dynamic_watch_of_one_name(dyn, core: client.CoreV1Api, namespace: str) -> None:  # noqa: ANN001
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "watched"}})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "other"}})

    def later() -> None:
        core.patch_namespaced_config_map("watched", namespace, {"data": {"a": "b"}})

    seen = []
    timer = threading.Timer(0.2, later)
    timer.start()
    for ev in cms.watch(namespace=namespace, name="watched", timeout=5):
        seen.append((ev["type"], ev["object"].metadata.name))
        if ev["type"] == "MODIFIED":
            break
    timer.join()
    assert seen == [("ADDED", "watched"), ("MODIFIED", "watched")]
