"""The microstax CLI against a live MicroStax server: auth and blueprints, with a real API token."""

from __future__ import annotations

import json

from microstax.teams import actions
from tests.fixtures.blueprints import BROKEN, SHOP_V1, SHOP_V1_MAP_STYLE, SHOP_V2


def test_auth_verify_names_the_user(cli, owner_token):
    code, out, _ = cli("auth", "verify", token=owner_token)
    assert code == 0 and "olivia" in out


def test_a_bad_token_is_a_clear_error(cli, db):
    code, out, err = cli("auth", "verify", token="msx_wrong")
    assert code == 1 and out == "" and "error:" in err and "Traceback" not in err


def test_blueprint_create_publish_and_list(cli, owner_token, tmp_path):
    for name, text in (("v1.yaml", SHOP_V1), ("same.yaml", SHOP_V1_MAP_STYLE), ("v2.yaml", SHOP_V2)):
        (tmp_path / name).write_text(text)
    code, out, _ = cli(
        "--output",
        "json",
        "blueprint",
        "create",
        "--team",
        "payments",
        "--name",
        "shop",
        "--file",
        str(tmp_path / "v1.yaml"),
        token=owner_token,
    )
    created = json.loads(out)
    assert code == 0 and created["version"] == 1 and created["id"].startswith("bp_")

    code, out, _ = cli("blueprint", "publish", created["id"], "--file", str(tmp_path / "same.yaml"))
    assert code == 0 and "unchanged: identical to v1" in out
    code, out, _ = cli("blueprint", "publish", created["id"], "--file", str(tmp_path / "v2.yaml"), "-m", "bump")
    assert code == 0 and "v2" in out

    code, out, _ = cli("blueprint", "list", "--team", "payments")
    assert code == 0 and "shop" in out and " 2 " in out


def test_blueprint_create_reports_problems_at_their_lines(cli, owner_token, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    code, out, err = cli(
        "blueprint", "create", "--team", "payments", "--name", "shop", "--file", str(path), token=owner_token
    )
    assert code == 1 and out == ""
    assert f"{path}:5:" in err and f"{path}:6:" in err and "INVALID_BLUEPRINT" in err


def test_viewer_cannot_create_through_the_cli(cli, team, viewer, tmp_path):
    token = actions.create_api_token(actor=viewer, name="cli")[1]
    path = tmp_path / "v1.yaml"
    path.write_text(SHOP_V1)
    code, _, err = cli("blueprint", "create", "--team", "payments", "--name", "shop", "--file", str(path), token=token)
    assert code == 1 and "PERMISSION_DENIED" in err
