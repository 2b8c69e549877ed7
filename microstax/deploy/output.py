"""YAML for the rendered deployment: one stream (``-``) or one file per object, in apply order.

The YAML carries what a reviewer needs next to the objects: the Secret the pods expect (keys only)
and, above each RBAC rule, why MicroStax needs it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import yaml

from . import rbac
from .render import DeployOptions

Obj = dict[str, Any]


def secret_instructions(opts: DeployOptions, *, prefix: str = "# ") -> str:
    """The Secret the pods mount (as YAML comments by default): its keys and a command that creates it."""
    keys = opts.secret_keys()
    lines = [
        f"MicroStax control plane — namespace {opts.namespace}, image {opts.image}, host {opts.host}.",
        f"The pods read their secrets from the Secret {opts.secret_name!r} (not rendered here), keys:",
        *(f"  {key:<24} -> {setting}" for setting, key in keys.items()),
        "Create it before applying, e.g.:",
        f"  kubectl -n {opts.namespace} create secret generic {opts.secret_name} \\",
        *(
            f"    --from-file={key}=./{key}" + (" \\" if i < len(keys) - 1 else "")
            for i, key in enumerate(keys.values())
        ),
    ]
    return "".join(f"{prefix}{line}\n" for line in lines)


class _Dumper(yaml.SafeDumper):
    """No ``&id001`` anchors for shared sub-objects: each manifest reads on its own."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _dump(obj: Obj) -> str:
    text = yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)
    if obj.get("kind") != "ClusterRole":
        return text
    # One comment per rule, above it: rules are dumped in the order of rbac.RULES.
    out: list[str] = []
    reasons = iter(rbac.RULES)
    for line in text.splitlines(keepends=True):
        if line.startswith("- apiGroups:"):
            for why in textwrap.wrap(next(reasons).why, 110):
                out.append(f"# {why}\n")
        out.append(line)
    return "".join(out)


def to_yaml(opts: DeployOptions, objects: list[Obj]) -> str:
    """All objects as one multi-document stream, the Secret instructions on top."""
    return secret_instructions(opts) + "".join(f"---\n{_dump(obj)}" for obj in objects)


def write_files(opts: DeployOptions, objects: list[Obj], directory: Path) -> list[Path]:
    """One file per object, numbered so ``kubectl apply -f DIR`` keeps the apply order."""
    directory.mkdir(parents=True, exist_ok=True)
    # Not .yaml: `kubectl apply -f DIR` skips it.
    (directory / "README.txt").write_text(secret_instructions(opts, prefix=""))
    written = []
    for index, obj in enumerate(objects):
        path = directory / f"{index:02d}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
        path.write_text(_dump(obj))
        written.append(path)
    return written
