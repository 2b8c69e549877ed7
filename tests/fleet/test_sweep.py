"""The sweep as a whole: a dry run changes nothing, the query count does not grow with the fleet,
and the management command and schedule."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import Schedule

from environments.fleet import sweep
from environments.models import Environment
from environments.tasks import FLEET_SCHEDULE_NAME, ensure_fleet_schedule, fleet_sweep
from microstax.lib.ids import new_public_id


@pytest.fixture
def needy_fleet(provision, make_namespace):
    """One environment for every policy: expired, expiring soon, idle; plus an orphan namespace."""
    now = timezone.now()
    expired, expiring, idle = provision("expired"), provision("expiring"), provision("idle")
    Environment.objects.filter(pk=expired.pk).update(expires_at=now - timedelta(minutes=1))
    Environment.objects.filter(pk=expiring.pk).update(expires_at=now + timedelta(minutes=20))
    idle.last_activity_at = now - timedelta(hours=2)
    idle.save(update_fields=["last_activity_at"])  # save keeps idle_at in step
    make_namespace("ghost", "env_doesnotexist")
    return {"expired": expired, "expiring": expiring, "idle": idle}


def test_a_dry_run_changes_nothing_and_reports_everything(needy_fleet, sim, no_trace):
    sim.recorder.clear()
    with no_trace():
        report = sweep(dry_run=True)
    assert sim.recorder.writes() == []
    assert sim.get("namespaces", "", "ghost") is not None
    assert [f.name for f in report.expired] == ["expired"]
    assert [f.name for f in report.warned] == ["expiring"]
    assert [f.name for f in report.stopped_idle] == ["idle"]
    assert [f.name for f in report.orphan_namespaces_deleted] == ["ghost"]
    assert report.skipped == report.errors == []
    # the same sweep for real does what the dry run said
    real = sweep()
    assert real.counts() == report.counts()


def test_the_report_reads_as_json_and_as_a_summary(needy_fleet):
    report = sweep(dry_run=True)
    data = report.to_dict()
    assert data["dry_run"] is True
    assert data["counts"]["expired"] == 1
    assert data["expired"][0] == {
        "id": needy_fleet["expired"].public_id,
        "name": "expired",
        "reason": data["expired"][0]["reason"],
    }
    assert json.loads(json.dumps(data)) == data
    summary = report.summary()
    assert summary.splitlines()[0].startswith("fleet sweep at ")
    assert f"expired [would]: expired ({needy_fleet['expired'].public_id})" in summary


def _bulk_environments(template: Environment, count: int, *, first: int = 0) -> None:
    """``count`` healthy rows like ``template``: ready, active just now, far from expiry."""
    rows = []
    for i in range(first, first + count):
        public_id = new_public_id("env")
        rows.append(
            Environment(
                public_id=public_id,
                team=template.team,
                name=f"quiet-{i}",
                source=template.source,
                spec=template.spec,
                spec_hash=template.spec_hash,
                cluster=template.cluster,
                namespace=f"env-quiet-{public_id[-10:]}",
                state="ready",
                expires_at=timezone.now() + timedelta(days=2),
                idle_at=timezone.now() + timedelta(minutes=30),
                drift=[],
                drift_checked_at=timezone.now(),  # checked just now: not due for a drift check
                created_by=template.created_by,
            )
        )
    Environment.objects.bulk_create(rows, batch_size=1000)


def test_the_query_count_does_not_grow_with_the_fleet(provision, django_assert_max_num_queries):
    template = provision("template")
    template.drift, template.drift_checked_at = [], timezone.now()
    template.save(update_fields=["drift", "drift_checked_at"])
    _bulk_environments(template, 9)  # 10 environments that need nothing
    with CaptureQueriesContext(connection) as small:
        assert sum(sweep().counts().values()) == 0
    _bulk_environments(template, 9_990, first=9)  # 10,000
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert sum(sweep().counts().values()) == 0


def test_the_command_sweeps_as_of_now_and_dry_runs(needy_fleet, capsys):
    later = (timezone.now() + timedelta(days=3)).isoformat()  # past every STACK TTL (48h)
    call_command("fleet_sweep", "--now", later, "--dry-run", "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["dry_run"] is True
    assert sorted(f["name"] for f in data["expired"]) == ["expired", "expiring", "idle"]
    assert set(Environment.objects.values_list("state", flat=True)) == {"ready"}
    call_command("fleet_sweep")
    out = capsys.readouterr().out
    assert "(applied)" in out and "expired [did]: expired" in out
    assert Environment.objects.get(pk=needy_fleet["expired"].pk).state == "deleting"


def test_the_command_names_the_flag_of_a_bad_time(db):
    with pytest.raises(CommandError, match="--now"):
        call_command("fleet_sweep", "--now", "yesterday")


def test_the_schedule_is_installed_once(db, capsys):
    call_command("fleet_sweep", "--install-schedule")
    call_command("fleet_sweep", "--install-schedule")
    assert capsys.readouterr().out.splitlines() == [
        f"schedule '{FLEET_SCHEDULE_NAME}' created",
        f"schedule '{FLEET_SCHEDULE_NAME}' already installed",
    ]
    schedule = Schedule.objects.get(name=FLEET_SCHEDULE_NAME)
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "environments.tasks.fleet_sweep",
        Schedule.MINUTES,
        1,
    )
    # a duplicate (two processes starting at once) and a drifted interval are repaired
    Schedule.objects.create(name=FLEET_SCHEDULE_NAME, func="environments.tasks.fleet_sweep")
    Schedule.objects.filter(pk=schedule.pk).update(minutes=5)
    repaired, created = ensure_fleet_schedule()
    assert (repaired.pk, repaired.minutes, created) == (schedule.pk, 1, False)
    assert Schedule.objects.filter(name=FLEET_SCHEDULE_NAME).count() == 1


def test_the_task_returns_the_counts(needy_fleet):
    counts = fleet_sweep()
    assert counts["expired"] == 1 and counts["warned"] == 1 and counts["stopped_idle"] == 1
