"""Cycle finding in the effective dependency graph."""

from __future__ import annotations

from microstax.lib.graph import find_cycles


def test_an_acyclic_graph_has_no_cycles():
    assert find_cycles({"a": ["b", "c"], "b": ["c"], "c": []}) == []


def test_each_cycle_starts_at_its_smallest_name_and_is_closed():
    assert find_cycles({"b": ["c"], "c": ["a"], "a": ["b"]}) == [["a", "b", "c", "a"]]


def test_one_shortest_cycle_is_reported_per_strongly_connected_component():
    edges = {"a": ["b", "c"], "b": ["a"], "c": ["b"], "x": ["y"], "y": ["x"], "z": ["z"], "q": ["a"]}

    assert find_cycles(edges) == [["a", "b", "a"], ["x", "y", "x"], ["z", "z"]]


def test_edges_to_unknown_nodes_are_ignored():
    assert find_cycles({"a": ["missing"]}) == []


def test_a_long_cycle_does_not_hit_the_recursion_limit():
    size = 5000
    edges = {f"n{i:05}": [f"n{(i + 1) % size:05}"] for i in range(size)}

    [cycle] = find_cycles(edges)

    assert len(cycle) == size + 1
    assert cycle[0] == cycle[-1] == "n00000"
