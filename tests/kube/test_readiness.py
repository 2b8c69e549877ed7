"""The per-kind readiness rules and the diagnosis of not-ready workloads (pure, no cluster)."""

from __future__ import annotations

import pytest

from microstax.kube import readiness as R
from microstax.kube.readiness import Reason, State


def _deployment(generation=1, replicas=2, **status: object) -> dict:
    return {
        "kind": "Deployment",
        "metadata": {"name": "web", "uid": "d1", "generation": generation},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}},
        "status": status,
    }


FULL = {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}


@pytest.mark.parametrize(
    ("status", "state"),
    [
        (FULL, State.READY),
        ({**FULL, "observedGeneration": 0}, State.PENDING),
        ({**FULL, "updatedReplicas": 1}, State.PENDING),
        ({**FULL, "replicas": 3}, State.PENDING),
        ({**FULL, "availableReplicas": 1}, State.PENDING),
    ],
)
def test_deployment_follows_the_rollout_status_rules(status, state):
    assert R.deployment(_deployment(**status)).state is state


def test_progress_deadline_exceeded_is_a_failure():
    cond = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "slow"}

    verdict = R.deployment(_deployment(**{**FULL, "availableReplicas": 0, "conditions": [cond]}))

    assert verdict == R.Verdict.failed(Reason.PROGRESS_DEADLINE, "slow")


def test_a_replica_failure_names_the_quota():
    cond = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "exceeded quota: q"}

    assert R.deployment(_deployment(**{**FULL, "conditions": [cond]})).reason == Reason.QUOTA_EXCEEDED


def test_a_deployment_scaled_to_zero_is_ready():
    assert R.deployment(_deployment(replicas=0, observedGeneration=1)).state is State.READY


@pytest.mark.parametrize(
    ("conditions", "state"),
    [
        ([{"type": "Complete", "status": "True"}], State.READY),
        ([{"type": "SuccessCriteriaMet", "status": "True"}], State.READY),
        ([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}], State.FAILED),
        ([{"type": "FailureTarget", "status": "True", "reason": "DeadlineExceeded"}], State.FAILED),
        ([], State.PENDING),
    ],
)
def test_job_completion(conditions, state):
    assert R.job({"kind": "Job", "status": {"conditions": conditions}}).state is state


def test_a_pending_claim_of_a_wait_for_first_consumer_class_is_not_blocking():
    claim = {
        "kind": "PersistentVolumeClaim",
        "spec": {"storageClassName": "local-path"},
        "status": {"phase": "Pending"},
    }

    def modes(name):
        return {"local-path": "WaitForFirstConsumer"}.get(name, "Immediate")

    assert R.persistent_volume_claim(claim, modes).state is State.READY
    claim["spec"]["storageClassName"] = "standard"
    assert R.persistent_volume_claim(claim, modes).state is State.PENDING


def test_services_need_only_a_cluster_ip():
    assert R.service({"spec": {"clusterIP": "10.43.0.11", "type": "LoadBalancer"}}).state is State.READY
    assert R.service({"spec": {"clusterIP": "None"}}).state is State.READY
    assert R.service({"spec": {}}).state is State.PENDING


def test_http_route_accepted_or_refused():
    accepted = {"status": {"parents": [{"conditions": [{"type": "Accepted", "status": "True"}]}]}}
    refused = {"status": {"parents": [{"conditions": [{"type": "Accepted", "status": "False", "reason": "NoMatch"}]}]}}

    assert R.http_route(accepted).state is State.READY
    assert R.http_route(refused).reason == Reason.NOT_ACCEPTED


def _pod(name: str, waiting: str | None = None, **cs: object) -> dict:
    state = {"waiting": {"reason": waiting, "message": f"{waiting} msg"}} if waiting else {"running": {}}
    return {
        "kind": "Pod",
        "metadata": {"name": name, "uid": name, "labels": {"app": "web"}},
        "status": {"containerStatuses": [{"name": "web", "state": state, **cs}]},
    }


def test_workload_findings_come_from_its_pods_replicasets_and_events():
    rs = {
        "metadata": {"name": "web-1", "uid": "rs1", "ownerReferences": [{"uid": "d1"}]},
        "status": {"conditions": [{"type": "ReplicaFailure", "status": "True", "message": "exceeded quota: q"}]},
    }
    stranger = _pod("other", "ImagePullBackOff")
    stranger["metadata"]["labels"] = {"app": "other"}
    event = {
        "type": "Warning",
        "reason": "FailedScheduling",
        "message": "0/1 nodes are available",
        "involvedObject": {"kind": "Pod", "name": "web-a", "uid": "web-a"},
    }

    findings = R.workload_findings(_deployment(), [_pod("web-a", "CrashLoopBackOff"), stranger], [rs], [event])

    assert {(f.reason, f.source) for f in findings} == {
        (Reason.QUOTA_EXCEEDED, "replicaset/web-1"),
        (Reason.CRASH_LOOP, "pod/web-a"),
        (Reason.UNSCHEDULABLE, "pod/web-a"),
    }
    assert R.most_telling(findings).reason == Reason.QUOTA_EXCEEDED


def test_a_restarting_container_between_crashes_still_reads_as_a_crash_loop():
    pod = _pod("web-a", None, ready=False, restartCount=3, lastState={"terminated": {"exitCode": 1, "reason": "Error"}})

    assert [f.reason for f in R.pod_findings(pod)] == [Reason.CRASH_LOOP]


def test_a_healthy_pod_has_no_findings():
    assert R.pod_findings(_pod("web-a", None, ready=True, restartCount=0)) == []
