"""Pure helpers of the snapshot interfaces: the lineage picture and the salt redaction."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from snapshots.queries import HIDDEN, redacted_source
from snapshots.svg import Node, snapshot_lineage_svg

SVG = "{http://www.w3.org/2000/svg}"


def test_lineage_has_a_box_per_restore_and_arrows_from_the_snapshot():
    source = Node("env_a", "payments/shop", "service db · postgres", "ready")
    snapshot = Node("snap_a", "snap_a", "sanitized · shop-dev v2", "ready")
    restores = [Node(f"env_{i}", f"payments/preview-{i}", "db · olivia", "succeeded") for i in range(3)]
    root = ET.fromstring(snapshot_lineage_svg(source, snapshot, restores))
    groups = {g.get("class"): [] for g in root.iter(f"{SVG}g")}
    for g in root.iter(f"{SVG}g"):
        groups[g.get("class")].append(g.get("data-id"))
    assert groups == {"source": ["env_a"], "snapshot": ["snap_a"], "restore": ["env_0", "env_1", "env_2"]}
    assert "restored 3 times" in root.get("aria-label")
    assert int(root.get("height")) >= 3 * 62


def test_lineage_without_restores_says_so():
    svg = snapshot_lineage_svg(Node("e", "t/e", "db", "ready"), Node("s", "s", "raw", "failed"), [])
    assert "Not restored anywhere yet." in svg and 'data-state="failed"' in svg


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("name: x\nsalt: 0123456789abcdef  # from vault\n", "name: x\nsalt: '<redacted>'  # from vault\n"),
        ('{name: x, salt: "0123456789abcdef", rules: []}\n', "{name: x, salt: '<redacted>', rules: []}\n"),
        ("name: x\nsalt: |\n  0123456789abcdef\n", HIDDEN),
        ("name: x\nstrict: true\n", "name: x\nstrict: true\n"),
        ("not: [valid", "not: [valid"),
    ],
)
def test_the_salt_is_redacted_or_the_text_hidden(source, shown):
    assert redacted_source(source) == shown
