"""Cost estimates against hand-computed figures: running time pays CPU, memory and storage, stopped time
storage only; team totals in one query; overlays against a full clone; estimates before creation
through GraphQL and the CLI; the figures on the environment page.

Prices in these tests: 0.10 per vCPU-hour, 0.01 per GiB-hour and 7.30 per GiB-month of volumes,
which is 0.01 per GiB-hour (a month is 730 hours). The STACK blueprint requests 250m CPU and
256Mi memory (api) and one 1Gi volume (db), so it costs 0.025 + 0.0025 = 0.0275 an hour in compute
and 0.01 an hour in storage.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from environments import actions, cost
from environments.actions import costs
from environments.models import Cluster, Environment
from microstax.cli.main import main
from microstax.lib.env import env_decimal
from microstax.teams import actions as team_actions
from tests.environments.test_lifecycle import STACK
from tests.environments.test_overlays import BASELINE, OVERLAY
from tests.fixtures.blueprints import BROKEN

PRICES = cost.PriceTable(
    cpu_hour=Decimal("0.10"), gib_hour=Decimal("0.01"), storage_gib_month=Decimal("7.30"), currency="EUR"
)
HOUR = 3600
WITH_PLANS = STACK + "plans:\n  big:\n    services:\n      api: {replicas: 3}\n"


@pytest.fixture(autouse=True)
def prices(settings):
    settings.MICROSTAX_PRICE_CPU_HOUR = PRICES.cpu_hour
    settings.MICROSTAX_PRICE_GIB_HOUR = PRICES.gib_hour
    settings.MICROSTAX_PRICE_STORAGE_GIB_MONTH = PRICES.storage_gib_month
    settings.MICROSTAX_CURRENCY = "EUR"


@pytest.fixture
def cluster(db):
    return Cluster.objects.create(name="sandbox", kind="sandbox", ingress_domain="sandbox.localhost", is_default=True)


@pytest.fixture
def env(team, owner, cluster):
    return actions.create_environment(actor=owner, team=team, source=STACK, name="stack")


def _set_times(env, *, state: str, running: float, stopped: float, open_for: float, now):
    Environment.objects.filter(pk=env.pk).update(
        state=state,
        running_seconds=running,
        stopped_seconds=stopped,
        state_changed_at=now - timedelta(seconds=open_for),
    )
    env.refresh_from_db()
    return env


# --- the pure arithmetic --------------------------------------------------------------------------


def test_running_time_pays_compute_and_storage_stopped_time_storage_only():
    footprint = cost.Footprint(cpu_millicores=250, memory_mib=256, storage_mib=1024)
    rate = cost.hourly_rate(footprint, PRICES)
    assert (rate.compute, rate.storage, rate.running, rate.stopped) == (
        Decimal("0.0275"),
        Decimal("0.01"),
        Decimal("0.0375"),
        Decimal("0.01"),
    )
    assert rate.monthly == Decimal("27.375")  # 0.0375 × 730
    # 2 h running: 2 × 0.0375; 1.5 h stopped: 1.5 × 0.01
    assert cost.estimated_cost(footprint, running_seconds=2 * HOUR, stopped_seconds=1.5 * HOUR, prices=PRICES) == (
        Decimal("0.09")
    )
    # stopped for ten hours: only the volume is paid
    assert cost.estimated_cost(footprint, running_seconds=0, stopped_seconds=10 * HOUR, prices=PRICES) == Decimal("0.1")
    no_volume = cost.Footprint(cpu_millicores=250, memory_mib=256, storage_mib=0)
    assert cost.estimated_cost(no_volume, running_seconds=0, stopped_seconds=10 * HOUR, prices=PRICES) == 0


def test_storage_counts_claims_once_and_ignores_empty_dirs_and_removed_services():
    services = [
        {
            "name": "db",
            "replicas": 3,
            "volumes": [
                {"name": "data", "type": "pvc", "size": "2Gi"},
                {"name": "tmp", "type": "emptyDir", "size": "5Gi"},
            ],
        },
        {"name": "old", "removed": True, "volumes": [{"name": "data", "type": "pvc", "size": "9Gi"}]},
    ]
    assert cost.storage_mib(services) == 2048


def test_a_spec_estimate_is_per_service_and_in_total():
    from blueprints.validation import validate_blueprint

    estimate = cost.estimate_spec(validate_blueprint(STACK).normalized, PRICES)
    assert [(name, fp) for name, fp, _ in estimate.services] == [
        ("api", cost.Footprint(250, 256, 0)),
        ("db", cost.Footprint(0, 0, 1024)),
    ]
    assert [rate.running for _, _, rate in estimate.services] == [Decimal("0.0275"), Decimal("0.01")]
    assert estimate.rate.running == Decimal("0.0375")


def test_the_price_table_is_read_as_exact_decimals(monkeypatch):
    monkeypatch.setenv("MSX_PRICE", "0.0316")
    assert env_decimal("MSX_PRICE", "1") == Decimal("0.0316")
    monkeypatch.setenv("MSX_PRICE", "cheap")
    with pytest.raises(ImproperlyConfigured, match="MSX_PRICE must be a decimal number"):
        env_decimal("MSX_PRICE", "1")
    monkeypatch.setenv("MSX_PRICE", "-1")
    with pytest.raises(ImproperlyConfigured, match="MSX_PRICE must be at least 0"):
        env_decimal("MSX_PRICE", "1", minimum=Decimal(0))


# --- environments as they ran --------------------------------------------------------------------


def test_an_environment_records_what_it_requests_including_storage(env):
    assert (env.requested_cpu_millicores, env.requested_memory_mib, env.requested_storage_mib) == (250, 256, 1024)


def test_the_open_interval_of_a_stopped_environment_counts_storage_only(env):
    now = timezone.now()
    # 1 h running in the past, stopped for the last 2 h
    _set_times(env, state="stopped", running=HOUR, stopped=0, open_for=2 * HOUR, now=now)
    result = costs.environment_cost(env, now=now, prices=PRICES)
    assert (result.running_seconds, result.stopped_seconds) == (HOUR, 2 * HOUR)
    # 1 × 0.0275 + 3 × 0.01
    assert result.total == Decimal("0.0575")
    assert result.rate.running == Decimal("0.0375") and result.saving is None


def test_the_open_interval_of_a_running_environment_counts_everything(env):
    now = timezone.now()
    _set_times(env, state="ready", running=HOUR, stopped=HOUR, open_for=HOUR, now=now)
    # running 2 h: 2 × 0.0375; stopped 1 h: 0.01
    assert costs.environment_cost(env, now=now, prices=PRICES).total == Decimal("0.085")


def test_a_deleted_environment_costs_nothing_more(env):
    now = timezone.now()
    _set_times(env, state="deleted", running=HOUR, stopped=0, open_for=100 * HOUR, now=now)
    assert costs.environment_cost(env, now=now, prices=PRICES).total == Decimal("0.0375")


def test_transitions_move_time_into_the_right_bucket(env):
    # the environment was pending for an hour (storage only), then provisioning
    Environment.objects.filter(pk=env.pk).update(state_changed_at=timezone.now() - timedelta(hours=1))
    env.refresh_from_db()
    assert env.transition("provisioning")
    env.refresh_from_db()
    assert env.running_seconds == 0 and env.stopped_seconds == pytest.approx(HOUR, abs=5)


def test_team_totals_in_one_query(team, other_team, owner, outsider, cluster, django_assert_num_queries):
    now = timezone.now()
    running = actions.create_environment(actor=owner, team=team, source=STACK, name="running")
    gone = actions.create_environment(actor=owner, team=team, source=STACK, name="gone")
    stopped = actions.create_environment(actor=owner, team=team, source=STACK, name="stopped")
    _set_times(running, state="ready", running=HOUR, stopped=0, open_for=HOUR, now=now)  # 2 × 0.0375
    _set_times(gone, state="deleted", running=2 * HOUR, stopped=HOUR, open_for=50 * HOUR, now=now)  # 0.075 + 0.01
    _set_times(stopped, state="stopped", running=0, stopped=0, open_for=4 * HOUR, now=now)  # 4 × 0.01
    other = actions.create_environment(actor=outsider, team=other_team, source=STACK)
    _set_times(other, state="ready", running=100 * HOUR, stopped=0, open_for=HOUR, now=now)
    # the aggregate, and the live overlays' plans for the saving
    with django_assert_num_queries(2):
        totals = costs.team_cost(team, now=now, prices=PRICES)
    assert float(totals.total) == pytest.approx(0.075 + 0.085 + 0.04, abs=1e-6)
    # now: the running one's compute and storage, the stopped one's storage
    assert totals.hourly_rate == Decimal("0.0475")
    assert (totals.environments, totals.overlay_savings_hourly, totals.currency) == (2, 0, "EUR")


def test_team_totals_query_count_does_not_grow_with_the_fleet(team, owner, cluster, django_assert_num_queries):
    from environments.models import TeamPolicy

    TeamPolicy.objects.create(team=team, max_environments=50)
    for i in range(12):
        actions.create_environment(actor=owner, team=team, source=STACK, name=f"env-{i}")
    with django_assert_num_queries(2):
        totals = costs.team_cost(team, prices=PRICES)
    assert totals.environments == 12


# --- overlays against a full clone -----------------------------------------------------------------


@pytest.fixture
def baseline(team, owner, cluster):
    env = actions.create_environment(actor=owner, team=team, source=BASELINE)
    Environment.objects.filter(pk=env.pk).update(state="ready")
    env.refresh_from_db()
    return env


@pytest.fixture
def overlay(baseline, owner):
    return actions.create_overlay(actor=owner, base=baseline, source=OVERLAY)


def test_an_overlay_saves_what_it_inherits(overlay, baseline):
    # full clone: 700m, 896Mi, 10Gi → 0.07 + 0.00875 + 0.1 = 0.17875 an hour
    # the overlay runs checkout and the promoted storefront: 400m, 512Mi, no volume → 0.045
    saving = cost.overlay_saving(overlay.difference_plan, PRICES)
    assert saving.full_clone.running == Decimal("0.17875")
    assert saving.overlay.running == Decimal("0.045")
    assert saving.ratio == 0.7483  # 1 - 0.045 / 0.17875
    assert (overlay.requested_cpu_millicores, overlay.requested_memory_mib, overlay.requested_storage_mib) == (
        400,
        512,
        0,
    )
    assert baseline.requested_storage_mib == 10 * 1024
    totals = costs.team_cost(overlay.team, prices=PRICES)
    assert totals.overlay_savings_hourly == Decimal("0.13375")


COST_FIELD = """query($id: ID!) { environment(id: $id) { cost { currency estimatedTotal hourlyRate
  stoppedHourlyRate runningHours stoppedHours fullCloneHourlyRate savingRatio } } }"""


def test_the_cost_field_of_an_overlay_and_of_an_isolated_environment(gql, overlay, env, owner):
    data = gql(COST_FIELD, {"id": overlay.public_id}, user=owner)["data"]["environment"]["cost"]
    assert data["currency"] == "EUR"
    assert (data["hourlyRate"], data["stoppedHourlyRate"]) == (0.045, 0.0)
    assert data["fullCloneHourlyRate"] == pytest.approx(0.17875, abs=1e-4)
    assert data["savingRatio"] == 0.7483
    assert data["estimatedTotal"] == pytest.approx(0, abs=1e-3)  # pending a moment: no compute yet
    data = gql(COST_FIELD, {"id": env.public_id}, user=owner)["data"]["environment"]["cost"]
    assert (data["hourlyRate"], data["stoppedHourlyRate"]) == (0.0375, 0.01)
    assert data["fullCloneHourlyRate"] is None and data["savingRatio"] is None


def test_the_cost_field_adds_up_the_time_so_far(gql, env, owner):
    _set_times(env, state="stopped", running=3 * HOUR, stopped=HOUR, open_for=0, now=timezone.now())
    data = gql(COST_FIELD, {"id": env.public_id}, user=owner)["data"]["environment"]["cost"]
    # 3 × 0.0375 + 1 × 0.01, plus the seconds the test takes (storage only)
    assert data["estimatedTotal"] == pytest.approx(0.1225, abs=1e-4)
    assert (data["runningHours"], round(data["stoppedHours"], 2)) == (3.0, 1.0)


TEAM_COST = """query($t: ID) { teamCost(team: $t) { team currency estimatedTotal hourlyRate liveEnvironments
  overlaySavingsHourly } }"""


def test_team_cost_for_members_not_for_outsiders(gql, overlay, team, viewer, outsider):
    data = gql(TEAM_COST, {"t": team.slug}, user=viewer)["data"]["teamCost"]
    assert (data["team"], data["currency"], data["liveEnvironments"]) == ("payments", "EUR", 2)
    # the baseline is ready (running): 0.17875; the overlay is pending (storage only): nothing
    assert data["hourlyRate"] == pytest.approx(0.1788, abs=1e-4)
    assert data["overlaySavingsHourly"] == pytest.approx(0.1338, abs=1e-4)
    body = gql(TEAM_COST, {"t": team.slug}, user=outsider)
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


# --- estimates before creation --------------------------------------------------------------------

ESTIMATE = """query($y: String!, $p: String) { estimateCost(yaml: $y, plan: $p) {
  estimate { currency cpuMillicores memoryMib storageGib rate { hourly stoppedHourly monthly }
    services { name cpuMillicores memoryMib storageGib rate { hourly } } prices { cpuHour gibHour storageGibMonth } }
  errors { code field message problems { code line column path } } } }"""


def test_estimate_cost_of_a_blueprint(gql, owner, team):
    data = gql(ESTIMATE, {"y": STACK}, user=owner)["data"]["estimateCost"]
    assert data["errors"] == []
    estimate = data["estimate"]
    assert (estimate["cpuMillicores"], estimate["memoryMib"], estimate["storageGib"]) == (250, 256, 1)
    assert estimate["rate"] == {"hourly": 0.0375, "stoppedHourly": 0.01, "monthly": 27.375}
    assert [(s["name"], s["rate"]["hourly"]) for s in estimate["services"]] == [("api", 0.0275), ("db", 0.01)]
    assert estimate["prices"] == {"cpuHour": 0.1, "gibHour": 0.01, "storageGibMonth": 7.3}
    # the plan's three api replicas: 750m and 768Mi → 0.075 + 0.0075 + 0.01
    data = gql(ESTIMATE, {"y": WITH_PLANS, "p": "big"}, user=owner)["data"]["estimateCost"]
    assert data["estimate"]["rate"]["hourly"] == 0.0925
    # nothing was created
    assert not Environment.objects.exists()


def test_estimate_cost_errors_are_located(gql, owner, team):
    data = gql(ESTIMATE, {"y": BROKEN}, user=owner)["data"]["estimateCost"]
    assert data["estimate"] is None
    error = data["errors"][0]
    assert error["code"] == "INVALID_BLUEPRINT"
    assert sorted({p["line"] for p in error["problems"]}) == [5, 6]  # the bad port, the unknown dependency
    data = gql(ESTIMATE, {"y": STACK, "p": "huge"}, user=owner)["data"]["estimateCost"]
    assert data["estimate"] is None and data["errors"][0]["code"] == "INVALID_BLUEPRINT"


def test_estimate_cost_needs_a_signed_in_caller(gql, db):
    body = gql(ESTIMATE, {"y": STACK}, expect_status=401)
    assert body.get("data") is None and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# --- the CLI --------------------------------------------------------------------------------------


@pytest.fixture
def cli(live_server, transactional_db, capsys, monkeypatch, prices):
    def run(*argv: str, token: str | None = None) -> tuple[int, str, str]:
        monkeypatch.setenv("MICROSTAX_API_URL", live_server.url)
        if token is not None:
            monkeypatch.setenv("MICROSTAX_API_KEY", token)
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_blueprint_cost_in_the_cli(cli, team, owner, tmp_path):
    token = team_actions.create_api_token(actor=owner, name="cli")[1]
    path = tmp_path / "stack.yaml"
    path.write_text(WITH_PLANS)
    code, out, err = cli("blueprint", "cost", "--file", str(path), token=token)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["SERVICE", "CPU", "MEMORY", "STORAGE", "EUR/HOUR", "EUR/HOUR", "STOPPED", "EUR/MONTH"]
    assert lines[1].split() == ["api", "250m", "256Mi", "0Gi", "0.0275", "0.0000", "20.07"]
    assert lines[2].split() == ["db", "0m", "0Mi", "1Gi", "0.0100", "0.0100", "7.30"]
    assert lines[3].split() == ["TOTAL", "250m", "256Mi", "1Gi", "0.0375", "0.0100", "27.38"]
    assert "a month is 730 hours" in lines[4]
    code, out, _ = cli("--output", "json", "blueprint", "cost", "--file", str(path), "--plan", "big")
    assert code == 0 and json.loads(out)["rate"]["hourly"] == 0.0925


def test_blueprint_cost_reports_problems_at_their_lines(cli, team, owner, tmp_path):
    token = team_actions.create_api_token(actor=owner, name="cli")[1]
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    code, out, err = cli("blueprint", "cost", "-f", str(path), token=token)
    assert code == 1 and out == ""
    assert f"{path}:5:" in err and f"{path}:6:" in err and "INVALID_BLUEPRINT" in err


# --- the environment page -------------------------------------------------------------------------


def test_the_detail_page_shows_cost_and_an_overlays_saving(client_for, owner, overlay, env):
    page = client_for(owner).get(f"/environments/{overlay.public_id}/").content.decode()
    assert 'data-testid="cost"' in page
    assert "0.0450 EUR" in page  # an hour running
    assert "0.1788 EUR an hour" in page  # a full clone
    assert "saves 0.1338 EUR an hour (75%)" in page
    page = client_for(owner).get(f"/environments/{env.public_id}/").content.decode()
    assert "0.0375 EUR" in page and "0.0100 EUR an hour while stopped" in page and "27.38 EUR" in page
    assert 'data-testid="cost-saving"' not in page


def test_the_migration_fills_in_the_storage_of_existing_environments(overlay, baseline):
    from importlib import import_module

    from django.apps import apps

    migration = import_module("environments.migrations.0008_environment_requested_storage")
    Environment.objects.update(requested_storage_mib=0)
    migration.fill_storage(apps, None)
    assert dict(Environment.objects.values_list("name", "requested_storage_mib")) == {
        "shop": 10 * 1024,
        "feat-checkout": 0,  # the database is inherited
    }


def test_costs_by_team_in_two_queries_match_each_teams_cost(
    team, other_team, owner, outsider, overlay, django_assert_num_queries
):
    now = timezone.now()
    theirs = actions.create_environment(actor=outsider, team=other_team, source=STACK)
    _set_times(theirs, state="ready", running=HOUR, stopped=0, open_for=HOUR, now=now)
    with django_assert_num_queries(2):
        by_team = costs.costs_by_team(now=now, prices=PRICES)
    assert set(by_team) == {team.pk, other_team.pk}
    assert by_team[team.pk] == costs.team_cost(team, now=now, prices=PRICES)
    assert float(by_team[other_team.pk].total) == pytest.approx(0.075, abs=1e-6)  # 2 h running × 0.0375 (SQLite: ms)
    assert by_team[other_team.pk].overlay_savings_hourly == 0
