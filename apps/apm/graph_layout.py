"""A layered (Sugiyama-style) layout of a directed graph, for the service map. Pure functions, no Django.

Why layered: a service map is mostly a call hierarchy (entry services call deeper services, which call
databases, caches and hosts), so columns by call depth, left to right, make the direction of every call
readable at a glance and keep a 30-service map tidy where a force layout would tangle it. Why here and not
in the browser: it is deterministic (the same map for the same calls), testable, and needs no JS package.

The steps, one function each:

1. ``break_cycles``: calls can form cycles (A calls B, B calls A back). Inside each cycle, the calls back
   toward the entry services (by call depth from them) are reversed for layering only, and drawn as they are.
2. ``assign_layers``: longest-path layering. A node sits one layer right of its deepest caller, so every
   forward edge points right and an entry service is always in the first column.
3. ``split_long_edges``: an edge across several layers gets a dummy node in each layer it crosses, so the
   ordering step sees it and the drawing routes it between nodes instead of through them.
4. ``order_layers``: the barycenter heuristic. A few sweeps down and up, each sorting a layer by the mean
   position of its neighbours in the layer just placed, then swaps of neighbours that remove crossings; the
   ordering with the fewest crossings wins.
5. ``assign_coordinates``: x by layer; y by order, then each node pulled toward its neighbours (so edges
   run straight where they can) while keeping a minimum gap, so nodes never overlap.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from statistics import fmean

Edge = tuple[str, str]
Point = tuple[float, float]


@dataclass(frozen=True)
class Dummy:
    """A bend point of a long edge in one layer (never equal to a node name)."""

    edge: Edge
    layer: int


Item = str | Dummy  # what a layer holds


@dataclass(frozen=True)
class Spacing:
    node_width: float = 168
    node_height: float = 52
    dummy_height: float = 22  # a long edge's slot in a layer it crosses: room for its label
    layer_gap: float = 150  # between the columns of nodes, where the edges and most of their labels go
    row_gap: float = 22
    margin: float = 24

    @property
    def column(self) -> float:
        return self.node_width + self.layer_gap


@dataclass
class Layout:
    positions: dict[str, Point]  # centre of each node
    layers: dict[str, int]
    order: list[list[Item]]  # each layer top to bottom, dummies included
    segments: list[tuple[Item, Item]]  # edges between adjacent layers after splitting (for crossings)
    routes: dict[Edge, list[Point]]  # each edge from its source's centre through its bends to its target's
    back_edges: set[Edge] = field(default_factory=set)
    width: float = 0
    height: float = 0


def _unique_edges(nodes: Iterable[str], edges: Iterable[Edge]) -> tuple[list[str], list[Edge]]:
    """Nodes sorted (determinism), plus any only named by an edge; edges deduplicated, self-calls dropped."""
    edge_list = sorted({(s, t) for s, t in edges if s != t})
    names = sorted(set(nodes) | {n for edge in edge_list for n in edge})
    return names, edge_list


def _adjacency(nodes: Sequence[str], edges: Sequence[Edge]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    successors: dict[str, list[str]] = {n: [] for n in nodes}
    predecessors: dict[str, list[str]] = {n: [] for n in nodes}
    for source, target in edges:
        successors[source].append(target)
        predecessors[target].append(source)
    return successors, predecessors


def components(nodes: Sequence[str], edges: Sequence[Edge]) -> dict[str, str]:
    """Strongly connected components (Kosaraju, iterative: deep call chains cannot hit the recursion limit):
    each node mapped to a representative of its component. Every cycle lies within one component."""
    successors, predecessors = _adjacency(nodes, edges)
    finished: list[str] = []
    seen: set[str] = set()
    for root in nodes:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(successors[root]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                finished.append(node)
                stack.pop()
            elif child not in seen:
                seen.add(child)
                stack.append((child, iter(successors[child])))
    component: dict[str, str] = {}
    for root in reversed(finished):
        if root in component:
            continue
        component[root] = root
        todo = [root]
        while todo:
            for caller in predecessors[todo.pop()]:
                if caller not in component:
                    component[caller] = root
                    todo.append(caller)
    return component


def call_depth(nodes: Sequence[str], edges: Sequence[Edge], entries: Iterable[str] = ()) -> dict[str, int]:
    """Fewest calls from an entry (breadth first). Entries: the given ones and every node nobody calls; a
    cycle nobody enters starts at its node with the most calls out over calls in (then by name)."""
    successors, predecessors = _adjacency(nodes, edges)
    depth: dict[str, int] = {}

    def walk(seeds: list[str]) -> None:
        queue = deque(seed for seed in seeds if seed not in depth)
        depth.update(dict.fromkeys(queue, 0))
        while queue:
            node = queue.popleft()
            for child in successors[node]:
                if child not in depth:
                    depth[child] = depth[node] + 1
                    queue.append(child)

    walk(sorted(set(entries) & set(nodes)) + [n for n in nodes if not predecessors[n]])
    while len(depth) < len(nodes):
        walk([min((n for n in nodes if n not in depth), key=lambda n: (len(predecessors[n]) - len(successors[n]), n))])
    return depth


def break_cycles(nodes: Sequence[str], edges: Sequence[Edge], entries: Iterable[str] = ()) -> set[Edge]:
    """The edges to reverse for an acyclic graph: within a cycle (a strongly connected component), the calls
    that go back toward the entries, i.e. to a node no deeper (``call_depth``, ties by name) than the caller.

    Why this rule: only calls inside cycles are ever reversed (a call from a deep service into an otherwise
    unrelated one is a real dependency and stays forward), and within a cycle the entry side stays left, so
    "A's webhook calls the gateway back" does not push the gateway into a late column. Every kept call in a
    component goes strictly deeper by (depth, name), and calls between components follow their acyclic
    condensation, so the result has no cycle.
    """
    component = components(nodes, edges)
    depth = call_depth(nodes, edges, entries)
    return {(s, t) for s, t in edges if component[s] == component[t] and (depth[t], t) < (depth[s], s)}


def _acyclic(edges: Sequence[Edge], back: set[Edge]) -> list[Edge]:
    return [(t, s) if (s, t) in back else (s, t) for s, t in edges]


def assign_layers(nodes: Sequence[str], dag_edges: Sequence[Edge]) -> dict[str, int]:
    """Longest-path layering of an acyclic graph (Kahn's topological order): entries in layer 0, every
    other node one layer right of its deepest predecessor."""
    successors: dict[str, list[str]] = {n: [] for n in nodes}
    indegree = dict.fromkeys(nodes, 0)
    for source, target in dag_edges:
        successors[source].append(target)
        indegree[target] += 1
    layer = dict.fromkeys(nodes, 0)
    ready = [n for n in nodes if indegree[n] == 0]
    while ready:
        node = ready.pop()
        for child in successors[node]:
            layer[child] = max(layer[child], layer[node] + 1)
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    if any(indegree.values()):
        raise ValueError("assign_layers needs an acyclic graph: break the cycles first")
    return layer


def split_long_edges(
    dag_edges: Sequence[tuple[Edge, Edge]], layer: dict[str, int]
) -> tuple[dict[Edge, list[Item]], list[tuple[Item, Item]]]:
    """For each (original edge, its acyclic direction): the chain of items from the acyclic source to the
    acyclic target with a ``Dummy`` in every layer between, and all the chains' adjacent-layer segments."""
    chains: dict[Edge, list[Item]] = {}
    segments: list[tuple[Item, Item]] = []
    for original, (source, target) in dag_edges:
        chain: list[Item] = [source]
        chain += [Dummy(original, i) for i in range(layer[source] + 1, layer[target])]
        chain.append(target)
        chains[original] = chain
        segments += itertools.pairwise(chain)
    return chains, segments


def crossings(order: Sequence[Sequence[Hashable]], segments: Iterable[tuple[Hashable, Hashable]]) -> int:
    """Edge crossings of a layered drawing: pairs of segments between the same two layers whose ends are in
    opposite orders. (Quadratic per layer pair: a few hundred segments at most on a service map.)"""
    position = {item: (depth, index) for depth, items in enumerate(order) for index, item in enumerate(items)}
    by_layer: dict[int, list[tuple[int, int]]] = {}
    for a, b in segments:
        (layer_a, pos_a), (_, pos_b) = position[a], position[b]
        by_layer.setdefault(layer_a, []).append((pos_a, pos_b))
    total = 0
    for pairs in by_layer.values():
        for (a1, b1), (a2, b2) in itertools.combinations(pairs, 2):
            if (a1 - a2) * (b1 - b2) < 0:
                total += 1
    return total


def _sweep(order: list[list[Item]], neighbours: dict[Item, list[Item]], layers: Iterable[int], step: int) -> None:
    """Sort each layer (in the given sequence) by the mean position of its neighbours in layer ``i - step``;
    an item without such neighbours keeps its place (its own position is its key), and ties keep order."""
    for i in layers:
        reference = {item: index for index, item in enumerate(order[i - step])}

        def key(entry: tuple[int, Item], reference: dict[Item, int] = reference) -> float:
            index, item = entry
            near = [reference[n] for n in neighbours[item] if n in reference]
            return fmean(near) if near else float(index)

        order[i] = [item for _, item in sorted(enumerate(order[i]), key=key)]


def _transpose(
    order: list[list[Item]], predecessors: dict[Item, list[Item]], successors: dict[Item, list[Item]], rounds: int = 8
) -> None:
    """Swap neighbours in a layer while that removes crossings with the layers on both sides: the barycenter
    sorts by averages and misses such local improvements (the "transpose" step of Gansner et al.)."""

    def pairs_crossing(upper: Item, lower: Item, position: dict[Item, int]) -> int:
        # crossings between the edges of ``upper`` and of ``lower`` (upper above lower) with one side
        count = 0
        for neighbours in (predecessors, successors):
            for a in neighbours[upper]:
                count += sum(1 for b in neighbours[lower] if position[a] > position[b])
        return count

    for _ in range(rounds):
        improved = False
        position = {item: index for layer in order for index, item in enumerate(layer)}
        for layer in order:
            for k in range(len(layer) - 1):
                upper, lower = layer[k], layer[k + 1]
                if pairs_crossing(lower, upper, position) < pairs_crossing(upper, lower, position):
                    layer[k], layer[k + 1] = lower, upper
                    position[upper], position[lower] = k + 1, k
                    improved = True
        if not improved:
            return


def order_layers(initial: list[list[Item]], segments: Sequence[tuple[Item, Item]], sweeps: int = 6) -> list[list[Item]]:
    """The barycenter heuristic: ``sweeps`` rounds of a downward then an upward sweep; the ordering with the
    fewest crossings seen is kept (a later sweep can make things worse), and a crossing-free one ends early."""
    predecessors: dict[Item, list[Item]] = {item: [] for layer in initial for item in layer}
    successors: dict[Item, list[Item]] = {item: [] for layer in initial for item in layer}
    for a, b in segments:
        successors[a].append(b)
        predecessors[b].append(a)
    order = [list(layer) for layer in initial]
    best, best_crossings = [list(layer) for layer in order], crossings(order, segments)
    depth = len(order)
    for _ in range(sweeps):
        if best_crossings == 0:
            break
        _sweep(order, predecessors, range(1, depth), 1)
        _sweep(order, successors, range(depth - 2, -1, -1), -1)
        _transpose(order, predecessors, successors)
        found = crossings(order, segments)
        if found < best_crossings:
            best, best_crossings = [list(layer) for layer in order], found
    return best


def _height(item: Item, spacing: Spacing) -> float:
    return spacing.dummy_height if isinstance(item, Dummy) else spacing.node_height


def _place(items: list[Item], desired: list[float], spacing: Spacing) -> list[float]:
    """Centres as close to ``desired`` as the order and the minimum gaps allow: the mean of a top-down pass
    (push down) and a bottom-up pass (push up). Both keep every gap, so their mean does too."""
    gaps = [(_height(a, spacing) + _height(b, spacing)) / 2 + spacing.row_gap for a, b in itertools.pairwise(items)]
    down = list(desired)
    for k in range(1, len(items)):
        down[k] = max(down[k], down[k - 1] + gaps[k - 1])
    up = list(desired)
    for k in range(len(items) - 2, -1, -1):
        up[k] = min(up[k], up[k + 1] - gaps[k])
    return [(a + b) / 2 for a, b in zip(down, up, strict=True)]


def assign_coordinates(
    order: list[list[Item]], segments: Sequence[tuple[Item, Item]], spacing: Spacing, passes: int = 3
) -> dict[Item, Point]:
    """x by layer; y first stacked and centred per layer, then ``passes`` rounds of pulling each item toward
    the mean y of its neighbours in the previous (downward) or next (upward) layer."""
    neighbours_before: dict[Item, list[Item]] = {item: [] for layer in order for item in layer}
    neighbours_after: dict[Item, list[Item]] = {item: [] for layer in order for item in layer}
    for a, b in segments:
        neighbours_after[a].append(b)
        neighbours_before[b].append(a)
    y: dict[Item, float] = {}
    for items in order:
        top = 0.0
        for item in items:
            y[item] = top + _height(item, spacing) / 2
            top += _height(item, spacing) + spacing.row_gap
    tallest = max((y[items[-1]] for items in order if items), default=0.0)
    for items in order:  # centre each layer against the tallest
        if items:
            shift = (tallest - y[items[-1]]) / 2
            for item in items:
                y[item] += shift

    def pull(items: list[Item], neighbours: dict[Item, list[Item]]) -> None:
        desired = [fmean(y[n] for n in neighbours[i]) if neighbours[i] else y[i] for i in items]
        for item, value in zip(items, _place(items, desired, spacing), strict=True):
            y[item] = value

    for _ in range(passes):
        for items in order[1:]:
            pull(items, neighbours_before)
        for items in reversed(order[:-1]):
            pull(items, neighbours_after)
    top = min((y[item] - _height(item, spacing) / 2 for items in order for item in items), default=0.0)
    return {
        item: (spacing.margin + spacing.node_width / 2 + depth * spacing.column, y[item] - top + spacing.margin)
        for depth, items in enumerate(order)
        for item in items
    }


def layout(
    nodes: Iterable[str], edges: Iterable[Edge], spacing: Spacing | None = None, entries: Iterable[str] = ()
) -> Layout:
    """Lay out a directed graph left to right by call depth (see the module's docstring). ``entries``: nodes
    known to receive outside traffic (the start of the call depth besides the nodes nobody calls)."""
    spacing = spacing or Spacing()
    names, edge_list = _unique_edges(nodes, edges)
    back = break_cycles(names, edge_list, entries)
    dag = _acyclic(edge_list, back)
    layer = assign_layers(names, dag)
    chains, segments = split_long_edges(list(zip(edge_list, dag, strict=True)), layer)
    initial: list[list[Item]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for name in names:  # names in alphabetical order, then the dummies: a deterministic start
        initial[layer[name]].append(name)
    for chain in chains.values():
        for item in chain[1:-1]:
            assert isinstance(item, Dummy)
            initial[item.layer].append(item)
    order = order_layers(initial, segments)
    points = assign_coordinates(order, segments, spacing)
    routes = {}
    for edge, chain in chains.items():
        route = [points[item] for item in chain]
        routes[edge] = route[::-1] if edge in back else route  # from the edge's real source to its target
    width = spacing.margin * 2 + spacing.node_width + max(len(order) - 1, 0) * spacing.column if order else 0
    height = max((y + _height(item, spacing) / 2 for item, (_, y) in points.items()), default=0) + spacing.margin
    return Layout(
        positions={name: points[name] for name in names},
        layers=layer,
        order=order,
        segments=segments,
        routes=routes,
        back_edges=back,
        width=width,
        height=height,
    )
