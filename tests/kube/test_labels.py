"""Label constants, selectors and the spec hash (pure, no cluster)."""

from __future__ import annotations

from microstax.kube import labels as L


def _deployment(**spec: object) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "env-1", "labels": {"a": "1"}},
        "spec": {"replicas": 1, **spec},
    }


def test_managed_labels_carry_the_environment_and_team():
    assert L.managed_labels(42, "payments") == {
        "app.kubernetes.io/managed-by": "microstax",
        "microstax.io/environment": "42",
        "microstax.io/team": "payments",
    }


def test_selectors_are_stable_equality_selectors():
    assert L.environment_selector("e1") == "app.kubernetes.io/managed-by=microstax,microstax.io/environment=e1"
    assert L.service_selector("web", "e1") == "app.kubernetes.io/name=web,microstax.io/environment=e1"
    assert L.service_selector("web") == "app.kubernetes.io/name=web"


def test_spec_hash_ignores_key_order_status_and_server_metadata():
    a = _deployment()
    b = {"spec": {"replicas": 1}, "kind": "Deployment", "apiVersion": "apps/v1", "metadata": dict(a["metadata"])}
    b["metadata"].update(resourceVersion="7", uid="u", generation=3, managedFields=[{"manager": "x"}])
    b["status"] = {"replicas": 1}

    assert L.spec_hash(a) == L.spec_hash(b)


def test_spec_hash_changes_with_the_spec_and_the_labels():
    base = L.spec_hash(_deployment())

    assert L.spec_hash(_deployment(replicas=2)) != base
    relabelled = _deployment()
    relabelled["metadata"]["labels"]["a"] = "2"
    assert L.spec_hash(relabelled) != base


def test_with_managed_metadata_is_idempotent_and_does_not_touch_its_input():
    original = _deployment()
    once = L.with_managed_metadata(original, environment_id="e1", team_slug="t")

    twice = L.with_managed_metadata(once)

    assert "annotations" not in original["metadata"]
    assert once["metadata"]["annotations"][L.SPEC_HASH] == twice["metadata"]["annotations"][L.SPEC_HASH]
    assert L.is_managed(once) and not L.is_managed(original)
    assert L.live_spec_hash(once) == once["metadata"]["annotations"][L.SPEC_HASH]
