"""``microstax org compliance``: who can access what (auditors: every team; owners: their teams)."""

from __future__ import annotations

import argparse
from typing import Any

from microstax.cli.commands._env_api import when
from microstax.cli.context import Context
from microstax.cli.output import format_table, render

COMPLIANCE_QUERY = (
    "query Compliance { complianceSummary {"
    " platform { username role }"
    " teams { team roles { role members } }"
    " tokens { user name status createdAt expiresAt lastUsedAt }"
    " crossTeamRestores { snapshot fromTeam intoTeam environment sanitized requestedBy state createdAt }"
    " unsanitizedSnapshots { id team environment service createdBy createdAt expiresAt }"
    " promotions { id createdAt actorName tokenName teamSlug targetId }"
    " } }"
)


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    group = subparsers.add_parser("org", parents=[common], help="organisation-wide views")
    commands = group.add_subparsers(dest="command", metavar="COMMAND")
    compliance = commands.add_parser(
        "compliance",
        parents=[common],
        help="who can access what",
        description="Team members by role, API tokens and their last use, snapshots restored across teams, "
        "unsanitized snapshots retained and baselines promoted, for the teams you review.",
    )
    compliance.set_defaults(handler=compliance_command)


def compliance_command(args: argparse.Namespace, ctx: Context) -> int:
    summary = ctx.client().execute(COMPLIANCE_QUERY)["complianceSummary"]
    ctx.out(render(summary, ctx.output, table=_tables))
    return 0


def _section(title: str, rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    body = format_table(rows, columns) if rows else "  none"
    return f"{title}\n{body}"


def _tables(summary: dict[str, Any]) -> str:
    members = [
        {"team": team["team"], "role": role["role"], "members": ", ".join(role["members"])}
        for team in summary["teams"]
        for role in team["roles"]
    ]
    tokens = [
        {
            **t,
            "createdAt": when(t["createdAt"]),
            "expiresAt": when(t["expiresAt"]) or "never",
            "lastUsedAt": when(t["lastUsedAt"]) or "never",
        }
        for t in summary["tokens"]
    ]
    restores = [{**r, "createdAt": when(r["createdAt"])} for r in summary["crossTeamRestores"]]
    retained = [
        {**s, "createdAt": when(s["createdAt"]), "expiresAt": when(s["expiresAt"]) or "never"}
        for s in summary["unsanitizedSnapshots"]
    ]
    promotions = [
        {
            **p,
            "createdAt": when(p["createdAt"]),
            "actor": p["actorName"] + (f" (token {p['tokenName']})" if p["tokenName"] else ""),
        }
        for p in summary["promotions"]
    ]
    parts = []
    if summary["platform"]:
        parts.append(_section("PLATFORM-WIDE ACCESS", summary["platform"], [("username", "USER"), ("role", "ROLE")]))
    parts += [
        _section("TEAM MEMBERS BY ROLE", members, [("team", "TEAM"), ("role", "ROLE"), ("members", "MEMBERS")]),
        _section(
            "API TOKENS",
            tokens,
            [
                ("user", "USER"),
                ("name", "TOKEN"),
                ("status", "STATUS"),
                ("createdAt", "CREATED"),
                ("expiresAt", "EXPIRES"),
                ("lastUsedAt", "LAST USED"),
            ],
        ),
        _section(
            "SNAPSHOTS RESTORED ACROSS TEAMS",
            restores,
            [
                ("snapshot", "SNAPSHOT"),
                ("fromTeam", "FROM"),
                ("intoTeam", "INTO"),
                ("environment", "ENVIRONMENT"),
                ("sanitized", "SANITIZED"),
                ("requestedBy", "BY"),
                ("createdAt", "WHEN"),
                ("state", "STATE"),
            ],
        ),
        _section(
            "UNSANITIZED SNAPSHOTS RETAINED",
            retained,
            [
                ("id", "SNAPSHOT"),
                ("team", "TEAM"),
                ("environment", "SOURCE"),
                ("service", "SERVICE"),
                ("createdBy", "BY"),
                ("createdAt", "CREATED"),
                ("expiresAt", "EXPIRES"),
            ],
        ),
        _section(
            "BASELINES PROMOTED",
            promotions,
            [("id", "#"), ("createdAt", "WHEN"), ("actor", "BY"), ("teamSlug", "TEAM"), ("targetId", "ENVIRONMENT")],
        ),
    ]
    return "\n\n".join(parts)
