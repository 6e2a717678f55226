"""The lineage picture as pure layout and drawing: no database, nodes and edges in, SVG out."""

from __future__ import annotations

import itertools
import re
from xml.etree import ElementTree

from registry.portal.lineage_graph import (
    COL_GAP,
    KIND_LAYER,
    NODE_H,
    NODE_W,
    Edge,
    Node,
    layer_of_hub_repo,
    layout,
    render_svg,
)

SVG = "{http://www.w3.org/2000/svg}"


def node(key: str, kind: str, **fields: object) -> Node:
    return Node(key=key, name=f"org/{key}", detail=f"1.0 · {kind}", layer=KIND_LAYER[kind], href=f"/v/{key}/", **fields)  # type: ignore[arg-type]


def chain() -> tuple[list[Node], list[Edge]]:
    """recipe → data → base → tuned → adapter, and tuned evaluated with a suite."""
    nodes = [
        node("adapter", "adapter"),
        node("suite", "eval_suite"),
        node("tuned", "checkpoint", current=True),
        node("base", "checkpoint"),
        node("web", "dataset"),
        node("recipe", "posttraining_recipe"),
    ]
    edges = [
        Edge("tuned", "base", "derived_from"),
        Edge("tuned", "web", "trained_on"),
        Edge("tuned", "recipe", "produced_by"),
        Edge("tuned", "suite", "evaluated_with"),
        Edge("adapter", "tuned", "derived_from"),
    ]
    return nodes, edges


def parse(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(svg)  # noqa: S314 - our own output, parsed to check it is well-formed


def test_kinds_are_laid_out_left_to_right_recipes_data_checkpoints_adapters_evals() -> None:
    nodes, edges = chain()
    box = layout(nodes, edges)
    x = {key: pos[0] for key, pos in box.position.items()}
    assert x["recipe"] < x["web"] < x["base"] < x["tuned"] < x["adapter"] < x["suite"]
    assert [name for _, name in box.headers] == [
        "Recipes",
        "Data and environments",
        "Checkpoints",
        "Adapters",
        "Eval suites",
    ]
    assert x["tuned"] - x["base"] == NODE_W + COL_GAP, "a fine-tune stands one column right of its base"
    assert box.width == max(x.values()) + NODE_W + 12


def test_nodes_of_a_column_do_not_overlap_and_fit_in_the_picture() -> None:
    nodes = [node("tuned", "checkpoint")] + [node(f"d{i}", "dataset") for i in range(7)]
    edges = [Edge("tuned", f"d{i}", "trained_on") for i in range(7)]
    box = layout(nodes, edges)
    ys = sorted(box.position[f"d{i}"][1] for i in range(7))
    assert all(b - a >= NODE_H for a, b in itertools.pairwise(ys))
    assert all(y >= 0 and y + NODE_H <= box.height for y in ys)
    assert min(ys) < box.position["tuned"][1] < max(ys), "a lone node is centred against its column"


def test_every_edge_is_drawn_with_its_relation_and_the_current_version_is_highlighted_not_linked() -> None:
    nodes, edges = chain()
    root = parse(render_svg(nodes, edges, title="Lineage of org/tuned 1.0", description="six nodes"))
    assert root.get("role") == "group"
    assert root.find(f"{SVG}title").text == "Lineage of org/tuned 1.0"
    assert root.find(f"{SVG}desc").text == "six nodes"
    labels = [t.text for g in root.iter(f"{SVG}g") if g.get("class") == "lineage-edge" for t in g.iter(f"{SVG}text")]
    assert sorted(labels) == ["derived from", "derived from", "evaluated with", "produced by", "trained on"]
    links = {a.get("href"): a.find(f"{SVG}title").text for a in root.iter(f"{SVG}a")}
    assert set(links) == {"/v/adapter/", "/v/suite/", "/v/base/", "/v/web/", "/v/recipe/"}
    assert links["/v/base/"] == "org/base 1.0 · checkpoint"
    current = [g for g in root.iter(f"{SVG}g") if "lineage-current" in (g.get("class") or "")]
    assert len(current) == 1
    assert current[0].find(f"{SVG}rect").get("stroke") == "#2855c7"


def test_arrows_point_at_the_parent_leftwards_or_rightwards() -> None:
    nodes, edges = chain()
    svg = render_svg(nodes, edges, title="t", description="d")
    box = layout(nodes, edges)
    paths = re.findall(r'<path d="(M[^"]+)" fill="none"', svg)
    ends = {tuple(map(float, p.split()[-1].split(","))) for p in paths}
    bx, by = box.position["base"]
    sx, sy = box.position["suite"]
    assert (bx + NODE_W, by + NODE_H // 2) in ends, "derived_from ends on the right side of the base, to the left"
    assert (sx, sy + NODE_H // 2) in ends, "evaluated_with ends on the left side of the suite, to the right"


def test_an_edge_across_columns_passes_between_the_boxes_not_through_them() -> None:
    nodes, edges = chain()
    box = layout(nodes, edges)
    produced_by = box.routes[edges.index(Edge("tuned", "recipe", "produced_by"))]
    waypoints = produced_by[1:-1]
    assert [box.column[w] for w in waypoints] == [2, 1], "one waypoint in each column between, right to left"
    for waypoint in waypoints:
        y = box.middle(waypoint)
        for key, (_, top) in box.position.items():
            if not key.startswith("~") and box.column[key] == box.column[waypoint]:
                assert not top <= y <= top + NODE_H, f"{waypoint} runs through {key}"
    svg = render_svg(nodes, edges, title="t", description="d")
    assert svg.count(" L") >= 2, "straight across the columns it passes"


def test_labels_are_escaped_everywhere() -> None:
    evil = Node(
        key="x",
        name='<script>alert("x")</script>',
        detail="1 & 2 ' \"",
        layer=KIND_LAYER["dataset"],
        href='/v/"><script>/',
    )
    current = Node(key="c", name="org/c", detail="1", layer=KIND_LAYER["checkpoint"], current=True)
    svg = render_svg(
        [evil, current], [Edge("c", "x", "trained_on")], title="<b>title</b>", description="</desc><script>"
    )
    assert "<script>" not in svg
    assert "<b>" not in svg
    root = parse(svg)  # still well-formed XML: nothing broke out of an attribute or a text node
    assert root.find(f"{SVG}desc").text == "</desc><script>"
    assert any(a.get("href") == '/v/"><script>/' for a in root.iter(f"{SVG}a"))


def test_long_names_are_clipped_in_the_box_and_kept_whole_in_the_tooltip() -> None:
    long = "org/" + "a" * 60
    svg = render_svg([Node(key="c", name=long, detail="1", layer=2, current=True)], [], title="t", description="d")
    root = parse(svg)
    name = next(t for t in root.iter(f"{SVG}text") if t.get("class") == "lineage-name")
    assert name.text.endswith("…")
    assert len(name.text) < 30
    assert any(long in (t.text or "") for t in root.iter(f"{SVG}title"))


def test_what_the_bounds_cut_is_said_in_the_picture() -> None:
    nodes, edges = chain()
    plain = render_svg(nodes, edges, title="t", description="d")
    cut = render_svg(nodes, edges, title="t", description="d", hidden_ancestors=3, hidden_descendants=1)
    assert "more" not in plain
    assert "+3 more links up the lineage not shown" in cut
    assert "+1 more link down the lineage not shown" in cut
    assert int(parse(cut).get("height")) == int(parse(plain).get("height")) + 40


def test_a_cycle_is_drawn_without_looping() -> None:
    nodes = [node("a", "checkpoint"), node("b", "checkpoint")]
    svg = render_svg(
        nodes, [Edge("a", "b", "derived_from"), Edge("b", "a", "derived_from")], title="t", description="d"
    )
    assert svg.count('class="lineage-edge"') == 2


def test_hub_repos_take_the_layer_of_what_they_hold() -> None:
    assert layer_of_hub_repo("dataset", "trained_on") == KIND_LAYER["dataset"]
    assert layer_of_hub_repo("model", "derived_from") == KIND_LAYER["checkpoint"]
    assert layer_of_hub_repo("", "trained_on") == KIND_LAYER["dataset"]
    assert layer_of_hub_repo("", "evaluated_with") == KIND_LAYER["eval_suite"]
