"""Fixtures of the scale-out tests: the topology of tests/scaleout/topology.py, started once per module."""

from __future__ import annotations

import os

import pytest

from tests.scaleout.topology import Topology, redis_url_for_tests, unavailable


@pytest.fixture(scope="module")
def topology(tmp_path_factory):
    """PostgreSQL + Redis + kubesim + web A, web B + worker A, worker B, all on loopback.

    Skipped (with the reason) when PostgreSQL or Redis does not answer; stopped in tear-down
    whatever happened, its database dropped and its Redis database flushed.
    """
    redis_url = redis_url_for_tests()
    reason = unavailable(os.environ.get("DATABASE_URL"), redis_url)
    if reason:
        pytest.skip(reason)
    topology = Topology(
        workdir=tmp_path_factory.mktemp("scaleout"),
        database_server_url=os.environ["DATABASE_URL"],
        redis_url=redis_url,
    )
    try:
        topology.start()
    except BaseException as exc:
        logs = topology.logs()
        topology.stop()
        raise RuntimeError(f"the scale-out topology did not start: {exc}\n{logs}") from exc
    phases = ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in topology.timings.items())
    print(f"\nscale-out topology up: {phases}")
    try:
        yield topology
    finally:
        topology.stop()
        print(
            f"\nscale-out topology stopped in {topology.timings['stop processes']:.1f} s, "
            f"its database dropped {topology.timings['drop database']:.1f} s after the stop began"
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test that used the topology reports every process's log with its failure."""
    outcome = yield
    report = outcome.get_result()
    topology = getattr(item, "funcargs", {}).get("topology")
    if report.failed and isinstance(topology, Topology):
        report.sections.append(("scale-out process logs", topology.logs()))
