"""``microstax baseline|overlay …`` and ``env plan|promote|lineage`` against a live server on kubesim.

Provisioning runs synchronously at commit in tests, so a create returns once the environment is
ready. The baseline is the documented shop example without its seed script (the file is not here);
the overlay is the documented ``feat-checkout`` overlay (checkout changed; storefront calls checkout
without propagating the routing header, so it is promoted).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.blueprints import SHOP_V1

EXAMPLES = Path(__file__).resolve().parents[1] / "blueprints" / "examples"
BASELINE = "\n".join(line for line in (EXAMPLES / "shop-baseline.yaml").read_text().splitlines() if "init:" not in line)
OVERLAY_WITH_ID = (EXAMPLES / "feat-checkout-overlay.yaml").read_text()
OVERLAY = OVERLAY_WITH_ID.replace("  baselineId: env_base_123\n", "")
TAKEN = "the overlayId 'feat-checkout' is already used by a live sibling overlay on the same base; pick another key"


@pytest.fixture
def baseline_id(cli, owner_token, sandbox_cluster, blueprint) -> str:
    path = blueprint(BASELINE, "baseline.yaml")
    code, out, err = cli("-o", "json", "baseline", "create", "--team", "payments", "--file", path, token=owner_token)
    assert code == 0, err
    env = json.loads(out)["environment"]
    assert (env["mode"], env["state"]) == ("baseline", "ready"), env["stateReason"]
    return env["id"]


def _overlay(**changes: str) -> str:
    text = OVERLAY
    for old, new in changes.items():
        text = text.replace(old, new)
    return text


def test_baseline_create_waits_until_ready_and_is_listed(cli, owner_token, sandbox_cluster, blueprint):
    path = blueprint(BASELINE, "baseline.yaml")
    code, out, err = cli("baseline", "create", "--team", "payments", "--file", path, "--wait", token=owner_token)
    assert code == 0, err
    assert "payments/shop: ready" in out and "checkout" in out
    code, out, err = cli("baseline", "list", "--team", "payments", token=owner_token)
    assert code == 0, err
    assert out.splitlines()[0].split()[:3] == ["ID", "TEAM", "NAME"]
    assert "payments  shop" in out and "baseline" in out
    code, out, _ = cli("-o", "json", "baseline", "list", token=owner_token)
    [node] = json.loads(out)
    assert (node["name"], node["mode"], node["state"]) == ("shop", "baseline", "ready")


def test_overlay_create_get_list_lineage_and_a_conflict(cli, owner_token, baseline_id, blueprint):
    path = blueprint(OVERLAY, "overlay.yaml")
    code, out, err = cli("overlay", "create", "--baseline", baseline_id, "--file", path, "--wait", token=owner_token)
    assert code == 0, err
    assert "payments/feat-checkout: ready" in out
    code, out, err = cli("-o", "json", "overlay", "list", "--baseline", baseline_id, token=owner_token)
    assert code == 0, err
    [node] = json.loads(out)
    overlay_id = node["id"]
    assert node["parentId"] == baseline_id and node["plan"]["local"] == ["checkout", "storefront"]

    code, out, err = cli("env", "get", overlay_id, token=owner_token)
    assert code == 0, err
    assert "Derives from:" in out and baseline_id in out and "feat-checkout" in out
    rows = {
        line.split()[0]: line.split()[1:3] for line in out.splitlines() if line.startswith(("payments ", "checkout "))
    }
    assert rows == {"payments": ["inherited", "-"], "checkout": ["ready", "1/1"]}
    assert f"provided by {baseline_id}" in out

    code, out, err = cli("overlay", "list", "--baseline", baseline_id, token=owner_token)
    assert code == 0, err
    assert "OVERLAY ID" in out and "checkout, storefront" in out and overlay_id in out

    code, out, err = cli("env", "lineage", overlay_id, token=owner_token)
    assert code == 0, err
    assert out.index(baseline_id) < out.index(f"{overlay_id} feat-checkout (overlay, ready, overlay id feat-checkout)")
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("storefront ", "cart "))}
    assert rows["storefront"][1:] == [
        "ready",
        overlay_id,
        "(feat-checkout)",
        *"promoted: calls checkout and does not propagate the header".split(),
    ]
    assert rows["cart"][1:] == ["inherited", baseline_id, "(shop)", "inherited", "from", baseline_id]

    # the same overlayId under the same baseline is refused before anything is provisioned
    code, out, err = cli(
        "overlay", "create", "--baseline", baseline_id, "--file", path, "--name", "feat-checkout-2", token=owner_token
    )
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"OVERLAY_ID_TAKEN: {TAKEN} (a branch name works well)",
        "error: OVERLAY_CONFLICT (yaml): the overlay conflicts with its base (1 conflict); "
        "blocked before anything was provisioned",
    ]
    code, out, _ = cli("-o", "json", "overlay", "list", "--baseline", baseline_id, token=owner_token)
    assert [n["name"] for n in json.loads(out)] == ["feat-checkout"]


def test_overlay_base_from_the_file_the_older_spelling_and_no_base(
    cli, owner_token, viewer_token, baseline_id, blueprint
):
    with_id = blueprint(OVERLAY_WITH_ID.replace("env_base_123", baseline_id), "with-id.yaml")
    code, out, err = cli("overlay", "create", "--file", with_id, token=owner_token)
    assert code == 0, err
    assert f"overlay of {baseline_id} created" in out

    older = blueprint(_overlay(**{"feat-checkout": "feat-cart", "name: checkout": "name: cart"}), "cart.yaml")
    code, out, err = cli(
        "env",
        "overlay",
        "create",
        "--base",
        baseline_id,
        "--blueprint",
        older,
        "--name",
        "cart-work",
        token=owner_token,
    )
    assert code == 0, err
    code, out, _ = cli("-o", "json", "overlay", "list", "--baseline", baseline_id, token=owner_token)
    assert sorted((n["name"], n["routingKey"]) for n in json.loads(out)) == [
        ("cart-work", "feat-cart"),
        ("feat-checkout", "feat-checkout"),
    ]

    no_base = blueprint(_overlay(**{"feat-checkout": "feat-x"}), "no-base.yaml")
    code, out, err = cli("overlay", "create", "--file", no_base, token=owner_token)
    assert code == 1 and out == ""
    assert "error: no baseline: give --baseline ENV, or set routing.baselineId in" in err

    code, out, err = cli("overlay", "create", "--baseline", baseline_id, "--file", no_base, token=viewer_token)
    assert code == 1 and "PERMISSION_DENIED" in err


def test_env_plan_against_a_baseline_and_stand_alone(cli, owner_token, baseline_id, blueprint):
    path = blueprint(OVERLAY, "overlay.yaml")
    code, out, err = cli("env", "plan", "--file", path, "--baseline", baseline_id, token=owner_token)
    assert code == 0, err
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("SERVICE"))
    assert header.split() == ["SERVICE", "STATUS", "PROVIDER", "WHY"]
    rows = {line.split()[0]: line for line in lines[lines.index(header) + 1 :] if line and line[0] != " "}
    assert rows["checkout"].split()[1] == "changed" and "expose, image, propagateHeader changed" in rows["checkout"]
    assert "promoted: calls checkout and does not propagate the header" in rows["storefront"]
    assert rows["payments"].split()[1:3] == ["unchanged", baseline_id]
    assert f"inherited from {baseline_id}" in rows["payments"]
    summary = lines[-1]
    assert summary.startswith("2 local services (checkout, storefront), 5 inherited; full clone 7 pods, 700m CPU")
    assert " vs overlay 2 pods, 400m CPU, 512Mi memory: 71% saved" in summary

    code, out, _ = cli("-o", "json", "env", "plan", "--file", path, "--baseline", baseline_id, token=owner_token)
    data = json.loads(out)
    assert code == 0 and data["errors"] == [] and data["plan"]["local"] == ["checkout", "storefront"]

    # the base from routing.baselineId; --baseline wins over it, with a warning
    in_file = blueprint(OVERLAY_WITH_ID.replace("env_base_123", baseline_id), "with-id.yaml")
    code, out, err = cli("env", "plan", "--file", in_file, token=owner_token)
    assert code == 0 and err == "" and out.startswith(f"plan of {in_file} as an overlay of {baseline_id}\n")
    placeholder = blueprint(OVERLAY_WITH_ID, "placeholder.yaml")
    code, out, err = cli("env", "plan", "--file", placeholder, "--baseline", baseline_id, token=owner_token)
    assert code == 0 and f"as an overlay of {baseline_id}" in out
    assert err == f"warning: --baseline {baseline_id} overrides routing.baselineId env_base_123 of {placeholder}\n"

    # an invalid blueprint: its problems at their lines
    ghost = blueprint(_overlay(**{"    expose: true": "    expose: true\n    dependsOn: [ghost]"}), "ghost.yaml")
    code, out, err = cli("env", "plan", "--file", ghost, "--baseline", baseline_id, token=owner_token)
    assert code == 1 and out == ""
    assert f"{ghost}:12:17: MSX-E018 " in err and "error: INVALID_BLUEPRINT" in err

    # a blocked plan: once the overlay exists, its overlayId is taken
    code, _, err = cli("overlay", "create", "--baseline", baseline_id, "--file", path, token=owner_token)
    assert code == 0, err
    code, out, err = cli("env", "plan", "--file", path, "--baseline", baseline_id, token=owner_token)
    assert code == 1, err
    assert out.splitlines()[-2:] == [
        "blocked by 1 conflict:",
        f"  OVERLAY_ID_TAKEN: {TAKEN} (a branch name works well)",
    ]

    # no baseline anywhere: a stand-alone environment, every service added
    code, out, err = cli("env", "plan", "--file", blueprint(SHOP_V1, "shop.yaml"), token=owner_token)
    assert code == 0, err
    assert "as a stand-alone environment" in out
    statuses = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.startswith(("api ", "db "))}
    assert statuses == {"api": "added", "db": "added"}
    assert "new service" in out and out.splitlines()[-1].startswith("2 local services (api, db), 0 inherited")


def test_promote_needs_pinned_images(cli, owner_token, sandbox_cluster, blueprint):
    latest = blueprint(SHOP_V1.replace("api:1.0.0", "api:latest"), "latest.yaml")
    ids = []
    for path in (latest, blueprint(SHOP_V1, "pinned.yaml")):
        name = Path(path).stem
        code, out, err = cli(
            "-o", "json", "env", "create", "--team", "payments", "--name", name, "--file", path, token=owner_token
        )
        assert code == 0, err
        ids.append(json.loads(out)["environment"]["id"])
    code, out, err = cli("env", "promote", ids[0], token=owner_token)
    assert code == 1 and out == ""
    assert "error: UNPINNED_IMAGES (id): a baseline must run pinned images" in err and "api" in err
    code, out, err = cli("env", "promote", ids[1], token=owner_token)
    assert code == 0, err
    assert out.strip() == f"{ids[1]} payments/pinned: promoted; mode baseline"
    code, out, _ = cli("-o", "json", "baseline", "list", token=owner_token)
    assert [n["id"] for n in json.loads(out)] == [ids[1]]


def test_a_viewer_cannot_create_or_promote_baselines(cli, viewer_token, sandbox_cluster, blueprint):
    code, out, err = cli("baseline", "create", "--team", "payments", "--file", blueprint(BASELINE), token=viewer_token)
    assert code == 1 and out == ""
    assert "error: PERMISSION_DENIED" in err and "Traceback" not in err
