"""The service map's layered layout (apps/apm/graph_layout.py): pure functions, no database."""

from __future__ import annotations

import itertools
import random
import time

import pytest

from apps.apm import graph_layout
from apps.apm.graph_layout import Dummy, Spacing, crossings, layout


def generated_map(seed: int = 3, services: int = 30) -> tuple[list[str], list[tuple[str, str]]]:
    """A shop-like map: 3 entry services, calls one or more levels deeper, a few calls back (cycles), and
    databases, caches, queues and hosts called by the deeper services."""
    rng = random.Random(seed)
    names = [f"svc-{i:02d}" for i in range(services)]
    levels = [names[:3], names[3:10], names[10:20], names[20:]]
    edges: set[tuple[str, str]] = set()
    for depth, level in enumerate(levels[1:], start=1):
        for name in level:  # every service has a caller one level up, sometimes a second from further up
            edges.add((rng.choice(levels[depth - 1]), name))
            if rng.random() < 0.5:
                edges.add((rng.choice([n for lv in levels[:depth] for n in lv]), name))
    for caller, callee in rng.sample(sorted(edges), 4):  # calls back: cycles
        edges.add((callee, caller))
    for entry in levels[0][:2]:  # and longer ones: a service two or three calls deep calls an entry back
        path = [entry]
        while len(path) < 4 and (callees := sorted(t for s, t in edges if s == path[-1] and t not in path)):
            path.append(rng.choice(callees))
        if len(path) > 2:
            edges.add((path[-1], entry))
    dependencies = ["postgresql:shop", "redis", "kafka:orders", "api.stripe.com", "mysql:legacy"]
    for name in names[10:]:
        if rng.random() < 0.6:
            edges.add((name, rng.choice(dependencies)))
    return [*names, *dependencies], sorted(edges)


ENTRIES = ("svc-00", "svc-01", "svc-02")


def overlap(a: tuple[float, float], b: tuple[float, float], spacing: Spacing) -> bool:
    return abs(a[0] - b[0]) < spacing.node_width and abs(a[1] - b[1]) < spacing.node_height


def test_a_30_service_map_has_no_overlapping_nodes() -> None:
    nodes, edges = generated_map()
    spacing = Spacing()
    placed = layout(nodes, edges, spacing, entries=ENTRIES)
    assert set(placed.positions) == set(nodes)
    for (a, pa), (b, pb) in itertools.combinations(placed.positions.items(), 2):
        assert not overlap(pa, pb, spacing), (a, pa, b, pb)
    for name, (x, y) in placed.positions.items():  # inside the drawing
        assert spacing.node_width / 2 <= x <= placed.width - spacing.node_width / 2, name
        assert spacing.node_height / 2 <= y <= placed.height - spacing.node_height / 2, name


def test_layers_increase_along_every_edge_but_the_broken_back_edges() -> None:
    nodes, edges = generated_map()
    placed = layout(nodes, edges, entries=ENTRIES)
    assert placed.back_edges, "the generated map has cycles"
    assert placed.back_edges <= set(edges)
    for source, target in edges:
        if (source, target) in placed.back_edges:
            assert placed.layers[source] > placed.layers[target], (source, target)
        else:
            assert placed.layers[source] < placed.layers[target], (source, target)
    # the entry services are in the first column, even those called back from deeper in a cycle
    assert [placed.layers[n] for n in ENTRIES] == [0, 0, 0]
    assert max(placed.layers.values()) == 4  # three levels of services, then their dependencies
    # x follows the layer
    for name, (x, _) in placed.positions.items():
        assert x == pytest.approx(Spacing().margin + Spacing().node_width / 2 + placed.layers[name] * Spacing().column)


def test_every_edge_has_a_route_through_its_own_layers() -> None:
    nodes, edges = generated_map()
    placed = layout(nodes, edges)
    assert set(placed.routes) == set(edges)
    for source, target in edges:
        route = placed.routes[(source, target)]
        assert route[0] == placed.positions[source]
        assert route[-1] == placed.positions[target]
        assert len(route) == abs(placed.layers[source] - placed.layers[target]) + 1  # one bend per layer crossed
        xs = [x for x, _ in route]
        assert xs == sorted(xs, reverse=(source, target) in placed.back_edges)


@pytest.mark.parametrize("seed", [3, 5, 8])
def test_fewer_crossings_than_random_orders(seed: int) -> None:
    nodes, edges = generated_map(seed)
    placed = layout(nodes, edges, entries=ENTRIES)
    ours = crossings(placed.order, placed.segments)
    rng = random.Random(1)
    shuffled = []
    for _ in range(30):
        order = [rng.sample(layer, len(layer)) for layer in placed.order]
        shuffled.append(crossings(order, placed.segments))
    assert ours < min(shuffled), (ours, sorted(shuffled)[:5])
    assert ours <= sum(shuffled) / len(shuffled) / 3, (ours, sum(shuffled) / len(shuffled))


def test_a_tree_is_drawn_without_crossings() -> None:
    edges = [("gateway", "users"), ("gateway", "orders"), ("orders", "payments"), ("orders", "stock"),
             ("users", "postgresql:users"), ("payments", "api.stripe.com"), ("stock", "postgresql:stock")]  # fmt: skip
    placed = layout([], edges)
    assert crossings(placed.order, placed.segments) == 0
    assert placed.layers == {
        "gateway": 0, "users": 1, "orders": 1, "postgresql:users": 2, "payments": 2, "stock": 2,
        "api.stripe.com": 3, "postgresql:stock": 3,
    }  # fmt: skip


def test_crossings_counts_pairs_in_opposite_orders() -> None:
    order = [["a", "b"], ["c", "d"]]
    assert crossings(order, [("a", "c"), ("b", "d")]) == 0
    assert crossings(order, [("a", "d"), ("b", "c")]) == 1
    assert crossings(order, [("a", "d"), ("a", "c"), ("b", "c")]) == 1


@pytest.mark.parametrize(
    "edges",
    [
        [(f"s{i}", f"s{(i + 1) % 30}") for i in range(30)],  # one ring of 30
        [(a, b) for a, b in itertools.permutations([f"n{i}" for i in range(10)], 2)],  # everyone calls everyone
        [("a", "b"), ("b", "a"), ("a", "a"), ("b", "c"), ("c", "b")],  # two-way calls and a self-call
    ],
    ids=["ring", "complete", "two-way"],
)
def test_cycles_do_not_hang(edges: list[tuple[str, str]]) -> None:
    began = time.monotonic()
    placed = layout([], edges)
    assert time.monotonic() - began < 5
    names = {n for edge in edges for n in edge}
    assert set(placed.positions) == names
    kept = {(s, t) for s, t in edges if s != t}
    for source, target in kept - placed.back_edges:
        assert placed.layers[source] < placed.layers[target]
    assert graph_layout.assign_layers(
        sorted(names), [(t, s) if (s, t) in placed.back_edges else (s, t) for s, t in kept]
    )


def test_only_calls_inside_a_cycle_are_reversed() -> None:
    # "worker" is deep but calls "gateway" without "gateway" reaching "worker": a real dependency, kept forward
    edges = [("web", "api"), ("api", "worker"), ("worker", "gateway"), ("api", "web")]
    placed = layout([], edges, entries=["web"])
    assert placed.back_edges == {("api", "web")}
    assert placed.layers == {"web": 0, "api": 1, "worker": 2, "gateway": 3}


def test_entries_stay_first_when_called_back() -> None:
    edges = [("gateway", "orders"), ("orders", "payments"), ("payments", "gateway"), ("cron", "payments")]
    without = layout([], edges)  # only "cron" is uncalled: the cycle is entered at "payments"
    assert without.layers["cron"] == 0
    assert without.back_edges == {("orders", "payments")}
    told = layout([], edges, entries=["gateway"])
    assert told.back_edges == {("payments", "gateway")}
    assert (told.layers["gateway"], told.layers["orders"], told.layers["payments"]) == (0, 1, 2)


def test_long_edges_get_a_bend_in_every_layer_they_cross() -> None:
    placed = layout([], [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")])
    bends = [item for layer in placed.order for item in layer if isinstance(item, Dummy)]
    assert [(d.edge, d.layer) for d in bends] == [(("a", "d"), 1), (("a", "d"), 2)]
    assert len(placed.routes[("a", "d")]) == 4


def test_empty_and_isolated_graphs() -> None:
    empty = layout([], [])
    assert (empty.positions, empty.routes, empty.width) == ({}, {}, 0)
    lonely = layout(["only"], [])
    assert lonely.layers == {"only": 0}
    assert lonely.width > 0
    assert lonely.height > 0


def test_the_layout_is_deterministic() -> None:
    nodes, edges = generated_map()
    first, second = layout(nodes, edges), layout(list(reversed(nodes)), list(reversed(edges)))
    assert first.positions == second.positions
