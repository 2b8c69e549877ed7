"""Command groups of the ``microstax`` CLI, one module per group.

A group module exposes ``register(subparsers, common)``: it adds its parser (with ``common`` as a
parent so global options may also follow the command) and sets ``handler`` on each leaf command
to a function ``(args, ctx) -> int``. :data:`GROUPS` is the order they appear in ``--help``.
"""

from __future__ import annotations

from microstax.cli.commands import (
    auth,
    baseline,
    blueprint,
    env,
    governance,
    org,
    overlay,
    policy,
    snapshot,
    snapshot_agent,
)

GROUPS = (env, baseline, overlay, blueprint, snapshot, policy, governance, org, auth, snapshot_agent)
