"""The saving: a full clone of the effective spec against the overlay's local services."""

from __future__ import annotations

from environments.planner import plan_overlay
from environments.planner.saving import footprint, saving

from .helpers import baseline, overlay, partial, service


def test_footprint_counts_replicas_times_requests():
    services = [
        service("a", replicas=3, resources={"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {}}),
        service("b", replicas=2, resources={"requests": {"cpu": "1"}, "limits": {"memory": "512Mi"}}),
    ]

    # b's memory request falls back to its limit, as Kubernetes defaults it
    assert footprint(services) == {"services": 2, "pods": 5, "cpu_millicores": 2750, "memory_mib": 4096.0}


def test_services_without_requests_count_as_pods_only():
    assert footprint([service("a"), service("b", replicas=0)]) == {
        "services": 2,
        "pods": 1,
        "cpu_millicores": 0,
        "memory_mib": 0.0,
    }


def test_an_unreadable_quantity_counts_as_zero_instead_of_failing():
    broken = service("a", resources={"requests": {"cpu": "lots", "memory": 12}, "limits": {}})

    assert footprint([broken])["cpu_millicores"] == 0
    assert footprint([broken])["memory_mib"] == 0.0


def test_saving_of_an_empty_stack_has_a_zero_ratio():
    assert saving([], [])["ratio"] == 0.0


def test_overlay_replicas_count_in_the_overlay_footprint():
    resources = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {}}
    base = baseline(service("api", replicas=3, resources=resources), service("db", resources=resources))

    # the overlay's api runs one replica (the overlay's replicas always apply) with inherited requests
    plan = plan_overlay([base], overlay("env_new", partial("api", image="example/api:2")))

    assert plan.saving["full_clone"] == {"services": 2, "pods": 2, "cpu_millicores": 200, "memory_mib": 256.0}
    assert plan.saving["overlay"] == {"services": 1, "pods": 1, "cpu_millicores": 100, "memory_mib": 128.0}
    assert plan.saving["saved"] == {"services": 1, "pods": 1, "cpu_millicores": 100, "memory_mib": 128.0}
    assert plan.saving["ratio"] == 0.5
