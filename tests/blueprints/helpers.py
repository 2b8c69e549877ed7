"""Helpers for the blueprint core tests: the documented examples and problem lookups."""

from __future__ import annotations

from pathlib import Path

from blueprints.problems import Problem
from blueprints.validation import ValidationResult

EXAMPLES = Path(__file__).parent / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


def problems_with(result: ValidationResult, code: str) -> list[Problem]:
    """The problems of ``result`` that carry ``code``."""
    return [p for p in result.problems if p.code == code]


def one(result: ValidationResult, code: str) -> Problem:
    """The single problem with ``code``; fails listing all problems otherwise."""
    found = problems_with(result, code)
    assert len(found) == 1, f"expected one {code}, got: {[p.format() for p in result.problems]}"
    return found[0]


def example(name: str) -> str:
    """The text of a copied documentation example (tests never read /work/shared)."""
    return (EXAMPLES / name).read_text(encoding="utf-8")
