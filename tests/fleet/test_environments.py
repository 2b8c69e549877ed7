"""The sweep's environment policies on kubesim: TTL expiry (overlays before their bases), the expiry
warning written once per expiry time, and idle shutdown."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from environments import actions, fleet
from environments.fleet import sweep
from environments.models import Environment, Operation
from tests.environments.test_overlays import BASELINE, OVERLAY


def _idle_since(env: Environment, last_activity_at) -> None:
    """Make ``env``'s last activity ``last_activity_at``; ``save`` keeps ``idle_at`` in step."""
    env.last_activity_at = last_activity_at
    env.save(update_fields=["last_activity_at", "auto_shutdown_enabled", "auto_shutdown_delay_minutes"])


def _swept(django_capture_on_commit_callbacks, **kwargs) -> fleet.SweepReport:
    """Sweep and run the operations it enqueued, as a worker would."""
    with django_capture_on_commit_callbacks(execute=True):
        return sweep(**kwargs)


def test_an_expired_environment_is_deleted_with_its_namespace(provision, sim, django_capture_on_commit_callbacks):
    # given
    env = provision()
    assert sim.get("namespaces", "", env.namespace) is not None
    # when: one minute past its TTL
    report = _swept(django_capture_on_commit_callbacks, now=env.expires_at + timedelta(minutes=1))
    # then
    env.refresh_from_db()
    assert env.state == "deleted"
    assert sim.get("namespaces", "", env.namespace) is None
    assert [(f.id, f.name) for f in report.expired] == [(env.public_id, "shop")]
    assert report.skipped == report.errors == []
    event = AuditEvent.objects.get(action="environment.delete", target_id=env.public_id)
    assert (event.actor_kind, event.actor_name) == ("system", "system")


def test_an_environment_before_its_ttl_is_kept(provision, django_capture_on_commit_callbacks):
    env = provision()
    # idle shutdown off: a minute before expiry the environment has also been idle for two days
    Environment.objects.filter(pk=env.pk).update(auto_shutdown_enabled=False, idle_at=None)
    report = _swept(django_capture_on_commit_callbacks, now=env.expires_at - timedelta(minutes=1))
    env.refresh_from_db()
    assert env.state == "ready"
    assert report.expired == []


@pytest.fixture
def baseline(team, owner, sandbox_cluster, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        env = actions.create_environment(actor=owner, team=team, source=BASELINE)
    env.refresh_from_db()
    assert env.state == "ready", env.state_reason
    return env


@pytest.fixture
def overlay(baseline, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        env = actions.create_overlay(actor=owner, base=baseline, source=OVERLAY)
    env.refresh_from_db()
    assert env.state == "ready", env.state_reason
    return env


def test_an_expired_baseline_takes_its_live_overlay_down_first(
    baseline, overlay, sim, django_capture_on_commit_callbacks
):
    # given: only the baseline has expired; its overlay would live on
    now = timezone.now()
    Environment.objects.filter(pk=baseline.pk).update(expires_at=now - timedelta(minutes=5))
    Environment.objects.filter(pk=overlay.pk).update(expires_at=now + timedelta(days=1))
    # when
    report = _swept(django_capture_on_commit_callbacks, now=now)
    # then: both are gone, the overlay's delete was issued before the baseline's
    baseline.refresh_from_db()
    overlay.refresh_from_db()
    assert (baseline.state, overlay.state) == ("deleted", "deleted")
    deletes = list(Operation.objects.filter(kind="delete").order_by("pk").values_list("environment_id", flat=True))
    assert deletes == [overlay.pk, baseline.pk]
    assert [f.id for f in report.expired] == [baseline.public_id]
    assert sim.get("namespaces", "", overlay.namespace) is None
    assert sim.get("namespaces", "", baseline.namespace) is None


def test_when_both_expired_the_overlay_is_processed_before_its_base(
    baseline, overlay, django_capture_on_commit_callbacks
):
    past = timezone.now() - timedelta(minutes=1)
    Environment.objects.filter(pk__in=[baseline.pk, overlay.pk]).update(expires_at=past)
    report = _swept(django_capture_on_commit_callbacks)
    assert [f.id for f in report.expired] == [overlay.public_id, baseline.public_id]
    assert report.skipped == report.errors == []
    assert set(Environment.objects.values_list("state", flat=True)) == {"deleted"}


def test_an_environment_someone_else_is_deleting_is_skipped_not_fatal(
    provision, monkeypatch, django_capture_on_commit_callbacks
):
    # given: two expired environments; a user starts deleting the first while the sweep holds it
    first, second = provision("first"), provision("second")
    real_delete = fleet.delete_environment

    def racing_delete(*, actor, env, force):
        if env.pk == first.pk:
            Environment.objects.filter(pk=first.pk).update(state="deleting")
        return real_delete(actor=actor, env=env, force=force)

    monkeypatch.setattr(fleet, "delete_environment", racing_delete)
    # when
    report = _swept(django_capture_on_commit_callbacks, now=second.expires_at + timedelta(minutes=1))
    # then: the first is counted as skipped, the second is still deleted
    assert [f.id for f in report.skipped] == [first.public_id]
    assert "deleting" in report.skipped[0].reason
    assert [f.id for f in report.expired] == [second.public_id]
    second.refresh_from_db()
    assert second.state == "deleted"


def test_the_expiry_warning_is_written_once_per_expiry_time(provision, settings):
    # given: a 60-minute warning window and an environment expiring in 30 minutes
    settings.MICROSTAX_TTL_WARNING_MINUTES = 60
    env, later = provision("soon"), provision("later")
    now = timezone.now()
    Environment.objects.filter(pk=env.pk).update(expires_at=now + timedelta(minutes=30))
    Environment.objects.filter(pk=later.pk).update(expires_at=now + timedelta(minutes=90))
    warnings = AuditEvent.objects.filter(action=fleet.TTL_WARNING_ACTION)
    # when: three sweeps a minute apart
    reports = [sweep(now=now + timedelta(minutes=i)) for i in range(3)]
    # then: one warning, on the first sweep only, and none for the environment outside the window
    assert [len(r.warned) for r in reports] == [1, 0, 0]
    assert list(warnings.values_list("target_id", flat=True)) == [env.public_id]
    assert warnings.get().after["minutes_left"] == 30
    # and a new expiry time (the TTL was extended) earns a new warning
    Environment.objects.filter(pk=env.pk).update(expires_at=now + timedelta(minutes=50))
    assert [f.id for f in sweep(now=now + timedelta(minutes=3)).warned] == [env.public_id]
    assert warnings.count() == 2


def test_the_warning_window_comes_from_settings(provision, settings):
    env = provision()
    Environment.objects.filter(pk=env.pk).update(expires_at=timezone.now() + timedelta(minutes=30))
    settings.MICROSTAX_TTL_WARNING_MINUTES = 10
    assert sweep().warned == []
    settings.MICROSTAX_TTL_WARNING_MINUTES = 45
    assert [f.id for f in sweep().warned] == [env.public_id]


def test_idle_shutdown_waits_for_the_environments_own_delay(provision, sim, django_capture_on_commit_callbacks):
    # given: idle shutdown after 30 minutes (the default)
    env = provision()
    now = timezone.now()
    assert env.auto_shutdown_delay_minutes == 30
    # when: 29 minutes without activity, nothing happens
    _idle_since(env, now - timedelta(minutes=29))
    assert _swept(django_capture_on_commit_callbacks, now=now).stopped_idle == []
    env.refresh_from_db()
    assert env.state == "ready"
    # when: 31 minutes, it is stopped (scaled to zero, namespace kept)
    _idle_since(env, now - timedelta(minutes=31))
    report = _swept(django_capture_on_commit_callbacks, now=now)
    env.refresh_from_db()
    assert env.state == "stopped"
    assert [f.id for f in report.stopped_idle] == [env.public_id]
    assert "idle for 31 min" in report.stopped_idle[0].reason
    assert sim.get("namespaces", "", env.namespace) is not None
    assert AuditEvent.objects.get(action="environment.stop", target_id=env.public_id).actor_kind == "system"
    # and a stopped environment is not stopped again
    assert _swept(django_capture_on_commit_callbacks, now=now).stopped_idle == []


def test_idle_shutdown_respects_a_longer_delay_and_the_enabled_flag(provision, django_capture_on_commit_callbacks):
    long_delay, disabled = provision("long"), provision("disabled")
    now = timezone.now()
    long_delay.auto_shutdown_delay_minutes = 120
    _idle_since(long_delay, now - timedelta(minutes=90))
    disabled.auto_shutdown_enabled = False
    _idle_since(disabled, now - timedelta(days=2))
    report = _swept(django_capture_on_commit_callbacks, now=now)
    assert report.stopped_idle == []
    assert set(Environment.objects.values_list("state", flat=True)) == {"ready"}


def test_idle_shutdown_follows_idle_at_and_stops_degraded_environments_too(
    provision, django_capture_on_commit_callbacks
):
    # given: a degraded environment whose idle deadline passed, and a ready one whose activity
    # was pushed back by touch_activity
    degraded, touched = provision("degraded"), provision("touched")
    now = timezone.now()
    _idle_since(degraded, now - timedelta(hours=1))
    Environment.objects.filter(pk=degraded.pk).update(state="degraded")
    _idle_since(touched, now - timedelta(hours=1))
    touched.refresh_from_db()
    actions.touch_activity(touched)
    assert Environment.objects.get(pk=touched.pk).idle_at > now
    # when
    report = _swept(django_capture_on_commit_callbacks, now=now)
    # then
    assert [f.id for f in report.stopped_idle] == [degraded.public_id]
    assert Environment.objects.get(pk=degraded.pk).state == "stopped"
    assert Environment.objects.get(pk=touched.pk).state == "ready"


def test_a_resumed_environment_starts_a_fresh_idle_period(provision, owner, django_capture_on_commit_callbacks):
    # given: stopped by the sweep after an hour without activity
    env = provision()
    now = timezone.now()
    _idle_since(env, now - timedelta(hours=1))
    _swept(django_capture_on_commit_callbacks, now=now)
    env.refresh_from_db()
    assert env.state == "stopped"
    # when: its owner resumes it
    with django_capture_on_commit_callbacks(execute=True):
        actions.resume_environment(actor=owner, env=env)
    # then: the next sweep leaves it running
    env.refresh_from_db()
    assert env.state == "ready" and env.idle_at > timezone.now()
    assert _swept(django_capture_on_commit_callbacks).stopped_idle == []
