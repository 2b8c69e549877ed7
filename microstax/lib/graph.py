"""Dependency-graph helpers: finding cycles in ``dependsOn``."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping


def find_cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """One cycle per strongly connected component that has one, as a closed path ``[a, b, a]``.

    ``edges`` maps a node to the nodes it depends on; edges to unknown nodes are ignored (they
    are missing dependencies, reported elsewhere). Each cycle starts at the smallest name of
    its component and is a shortest way back to it, so the answer is the same on every run.
    Cycles are sorted by their first node. Iterative (Tarjan), so deep chains do not hit the
    recursion limit.
    """
    graph = {node: sorted({target for target in targets if target in edges}) for node, targets in edges.items()}
    cycles = []
    for component in _strongly_connected(_without_sinks(graph)):
        start = min(component)
        if len(component) > 1 or start in graph[start]:
            cycles.append(_shortest_cycle(graph, start, component))
    return sorted(cycles)


def _without_sinks(graph: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """The part of the graph that can reach a cycle: sinks peeled off until none are left.

    Dependency graphs are almost always acyclic, so this cheap pass usually leaves nothing for
    the costlier component search.
    """
    callers: dict[str, list[str]] = {}
    remaining = {node: len(targets) for node, targets in graph.items()}
    for node, targets in graph.items():
        for target in targets:
            callers.setdefault(target, []).append(node)
    sinks = [node for node, count in remaining.items() if count == 0]
    while sinks:
        node = sinks.pop()
        del remaining[node]
        for caller in callers.get(node, ()):
            remaining[caller] -= 1
            if remaining[caller] == 0:
                sinks.append(caller)
    return {node: [target for target in graph[node] if target in remaining] for node in sorted(remaining)}


def _strongly_connected(graph: Mapping[str, list[str]]) -> list[set[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            targets = graph[node]
            if position < len(targets):
                work.append((node, position + 1))
                target = targets[position]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


def _shortest_cycle(graph: Mapping[str, list[str]], start: str, component: set[str]) -> list[str]:
    """Breadth-first from ``start`` inside its component back to ``start``."""
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for target in graph[node]:
            if target == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if target in component and target not in came_from:
                came_from[target] = node
                queue.append(target)
    raise AssertionError("a strongly connected component with an edge always has a cycle")  # pragma: no cover
