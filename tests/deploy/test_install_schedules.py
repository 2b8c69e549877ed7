"""``manage.py install_schedules``: what the migrations Job runs after ``migrate`` so a deployment's
worker sweeps the fleet every minute and signs the audit checkpoint daily."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command
from django_q.models import Schedule

from audit.tasks import CHECKPOINT_SCHEDULE_NAME
from environments.tasks import FLEET_SCHEDULE_NAME


def test_creates_both_schedules_once_and_repairs_them(db):
    out = StringIO()
    call_command("install_schedules", stdout=out)
    assert out.getvalue().splitlines() == [f"{FLEET_SCHEDULE_NAME}: created", f"{CHECKPOINT_SCHEDULE_NAME}: created"]
    sweep = Schedule.objects.get(name=FLEET_SCHEDULE_NAME)
    assert (sweep.func, sweep.schedule_type, sweep.minutes) == ("environments.tasks.fleet_sweep", Schedule.MINUTES, 1)
    assert Schedule.objects.get(name=CHECKPOINT_SCHEDULE_NAME).func == "audit.tasks.daily_checkpoint"

    # run again (every release's Job does) after someone changed the sweep: repaired, not duplicated
    Schedule.objects.filter(name=FLEET_SCHEDULE_NAME).update(minutes=60)
    out = StringIO()
    call_command("install_schedules", stdout=out)
    assert out.getvalue().splitlines() == [f"{FLEET_SCHEDULE_NAME}: present", f"{CHECKPOINT_SCHEDULE_NAME}: present"]
    assert Schedule.objects.filter(name=FLEET_SCHEDULE_NAME).get().minutes == 1
    assert Schedule.objects.filter(name=CHECKPOINT_SCHEDULE_NAME).count() == 1
