"""Lineage as a picture: nodes and edges laid out left to right in kind layers (recipes, data,
checkpoints, adapters, eval suites), drawn as an SVG string. Pure functions: every label is
escaped here, so the result is safe to insert into a page as it is."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

# Kind layers, left to right: what a version is made with comes before it.
LAYERS = ("Recipes", "Data and environments", "Checkpoints", "Adapters", "Eval suites")
KIND_LAYER = {
    "pretraining_recipe": 0,
    "posttraining_recipe": 0,
    "dataset": 1,
    "rl_environment": 1,
    "checkpoint": 2,
    "adapter": 3,
    "eval_suite": 4,
}
RELATION_LABEL = {
    "derived_from": "derived from",
    "trained_on": "trained on",
    "produced_by": "produced by",
    "evaluated_with": "evaluated with",
}

NODE_W, NODE_H = 168, 62
COL_GAP, ROW_GAP = 76, 18
WAYPOINT_H = 4  # the slot a line takes in a column it crosses
PAD, HEADER = 12, 26
NAME_CHARS, DETAIL_CHARS = 22, 26  # what fits in a node at the fonts below (site.css)
SHRINK = 0.8  # a wide picture shrinks to fit the page down to this scale, then scrolls


@dataclass(frozen=True)
class Node:
    key: str  # unique; never starts with "~" (the layout's waypoints do)
    name: str  # org/slug, or the Hub repo id
    detail: str  # the version and kind, or the Hub repo type
    layer: int
    status: str = ""  # the state, or the pinned revision
    href: str = ""
    current: bool = False
    note: str = ""  # said in the text list only (a Hub repo's declared license)

    @property
    def label(self) -> str:
        return " · ".join(part for part in (f"{self.name} {self.detail}", self.status) if part)


@dataclass(frozen=True)
class Edge:
    child: str  # node keys: child --relation--> parent
    parent: str
    relation: str

    @property
    def label(self) -> str:
        return RELATION_LABEL.get(self.relation, self.relation.replace("_", " "))


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    position: dict[str, tuple[int, int]]  # node key (or waypoint key) → top-left corner
    column: dict[str, int]
    routes: list[list[str]]  # per edge: child, the waypoints it passes in the columns between, parent
    headers: list[tuple[int, str]] = field(default_factory=list)  # x of a layer's first column, its name

    def middle(self, key: str) -> int:
        return self.position[key][1] + (WAYPOINT_H if key.startswith("~") else NODE_H) // 2


def layer_of_hub_repo(repo_type: str, relation: str) -> int:
    """A Hub repo's layer: datasets with the data, models with the checkpoints; the relation
    decides when the type is not known."""
    if repo_type == "dataset":
        return KIND_LAYER["dataset"]
    if repo_type == "model" or relation == "derived_from":
        return KIND_LAYER["checkpoint"]
    by_relation = {"trained_on": "dataset", "produced_by": "pretraining_recipe", "evaluated_with": "eval_suite"}
    return KIND_LAYER[by_relation.get(relation, "checkpoint")]


def _ranks(nodes: Sequence[Node], edges: Sequence[Edge]) -> dict[str, int]:
    """Inside a layer, a parent stands left of its child (a base checkpoint before its fine-tune)."""
    layer = {n.key: n.layer for n in nodes}
    same = [(e.child, e.parent) for e in edges if layer[e.child] == layer[e.parent] and e.child != e.parent]
    rank = dict.fromkeys(layer, 0)
    for _ in range(len(nodes)):  # longest path; the bound stops at a cycle instead of looping
        changed = False
        for child, parent in same:
            if rank[child] < rank[parent] + 1 <= len(nodes):
                rank[child] = rank[parent] + 1
                changed = True
        if not changed:
            break
    return rank


def layout(nodes: Sequence[Node], edges: Sequence[Edge]) -> Layout:
    """Columns by (layer, rank within the layer). An edge across several columns gets a waypoint in
    each column between, a slot of its own, so it runs between boxes, never through one. Inside a
    column, boxes and waypoints are ordered by where their neighbours stand (barycentre sweeps) to
    keep lines from crossing; columns are centred on each other."""
    rank = _ranks(nodes, edges)
    slots = sorted({(n.layer, rank[n.key]) for n in nodes})
    column = {n.key: slots.index((n.layer, rank[n.key])) for n in nodes}
    columns: list[list[str]] = [[] for _ in slots]
    for node in sorted(nodes, key=lambda n: (n.name, n.detail, n.key)):
        columns[column[node.key]].append(node.key)
    neighbours: dict[str, list[str]] = defaultdict(list)
    routes = []
    for i, e in enumerate(edges):
        start, end = column[e.child], column[e.parent]
        step = 1 if end > start else -1
        route = [e.child]
        for c in range(start + step, end, step) if start != end else ():
            waypoint = f"~{i}:{c}"
            column[waypoint] = c
            columns[c].append(waypoint)
            route.append(waypoint)
        route.append(e.parent)
        for a, b in itertools.pairwise(route):
            neighbours[a].append(b)
            neighbours[b].append(a)
        routes.append(route)
    for sweep in (range(len(columns)), range(len(columns) - 1, -1, -1)) * 2:
        index = {key: i for col in columns for i, key in enumerate(col)}
        for c in sweep:
            columns[c].sort(key=_barycentre(neighbours, index, column, c))
            index.update({key: i for i, key in enumerate(columns[c])})

    def height(col: list[str]) -> int:
        return sum((WAYPOINT_H if key.startswith("~") else NODE_H) + ROW_GAP for key in col) - ROW_GAP

    body = max((height(col) for col in columns), default=0)
    position: dict[str, tuple[int, int]] = {}
    for c, col in enumerate(columns):
        x = PAD + c * (NODE_W + COL_GAP)
        y = PAD + HEADER + (body - height(col)) // 2
        for key in col:
            position[key] = (x, y)
            y += (WAYPOINT_H if key.startswith("~") else NODE_H) + ROW_GAP
    headers, named = [], set()
    for c, (layer, _) in enumerate(slots):
        if layer not in named:
            named.add(layer)
            headers.append((PAD + c * (NODE_W + COL_GAP), LAYERS[layer]))
    width = PAD * 2 + len(slots) * (NODE_W + COL_GAP) - COL_GAP if slots else PAD * 2
    return Layout(width, PAD * 2 + HEADER + body, position, column, routes, headers)


def _barycentre(
    neighbours: dict[str, list[str]], index: dict[str, int], column: dict[str, int], c: int
) -> Callable[[str], tuple[float, int]]:
    def key(item: str) -> tuple[float, int]:
        around = [index[k] for k in neighbours[item] if column[k] != c]
        return (sum(around) / len(around) if around else index[item], index[item])

    return key


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _edge_path(layout: Layout, route: list[str], *, near_child: bool) -> tuple[str, float, float]:
    """A line from the child to the parent (the arrow points at the parent) through its waypoints:
    a curve across each gap between columns, straight across each column it passes. Also where
    its label goes: the middle of the gap next to the child (`near_child`) or next to the parent."""
    child, parent = route[0], route[-1]
    if layout.column[child] == layout.column[parent]:  # only in a cycle: bow out to the right
        x = layout.position[child][0] + NODE_W
        cy, py = layout.middle(child), layout.middle(parent)
        bow = x + COL_GAP // 2
        return f"M{x},{cy} C{bow},{cy} {bow},{py} {x},{py}", x + COL_GAP * 3 / 8, (cy + py) / 2
    rightwards = layout.column[parent] > layout.column[child]

    def side(key: str, *, leaving: bool) -> int:
        x = layout.position[key][0]
        return x + NODE_W if leaving == rightwards else x

    x, y = side(child, leaving=True), layout.middle(child)
    parts, gaps = [f"M{x},{y}"], []
    for key in route[1:]:
        nx, ny = side(key, leaving=False), layout.middle(key)
        mid = (x + nx) / 2
        parts.append(f"C{mid:g},{y} {mid:g},{ny} {nx},{ny}")
        gaps.append((mid, (y + ny) / 2))
        x, y = nx, ny
        if key != parent:  # a waypoint: straight across its column
            x = side(key, leaving=True)
            parts.append(f"L{x},{y}")
    label_x, label_y = gaps[0] if near_child else gaps[-1]
    return " ".join(parts), label_x, label_y


def render_svg(
    nodes: Sequence[Node],
    edges: Sequence[Edge],
    *,
    title: str,
    description: str,
    hidden_ancestors: int = 0,
    hidden_descendants: int = 0,
) -> str:
    """The graph as an inline SVG element; registry nodes link to their pages, Hub repos to the Hub."""
    box = layout(nodes, edges)
    notes = [
        f"+{count} more link{'s' if count != 1 else ''} {way} the lineage not shown"
        for count, way in ((hidden_ancestors, "up"), (hidden_descendants, "down"))
        if count
    ]
    height = box.height + 20 * len(notes)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage-svg" width="{box.width}" height="{height}" '
        f'style="min-width:{int(box.width * SHRINK)}px;max-width:{box.width}px" '
        f'viewBox="0 0 {box.width} {height}" role="group" aria-labelledby="lineage-title" '
        'aria-describedby="lineage-desc">',
        f'<title id="lineage-title">{escape(title)}</title>',
        f'<desc id="lineage-desc">{escape(description)}</desc>',
        '<defs><marker id="lineage-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5b6473"/></marker></defs>',
    ]
    for x, name in box.headers:
        out.append(f'<text class="lineage-layer" x="{x}" y="{PAD + 12}" aria-hidden="true">{escape(name)}</text>')
    # A label sits next to the end of its edge that fewer edges share, so fans do not pile labels up.
    ends = Counter([e.child for e in edges] + [e.parent for e in edges])
    for edge, route in zip(edges, box.routes, strict=True):
        path, mx, my = _edge_path(box, route, near_child=ends[edge.child] < ends[edge.parent])
        out.append(
            f'<g class="lineage-edge" aria-hidden="true"><path d="{path}" fill="none" stroke="#8a94a6" '
            'stroke-width="1.5" marker-end="url(#lineage-arrow)"/>'
            f'<text x="{mx:g}" y="{my - 5:g}" text-anchor="middle">{escape(edge.label)}</text></g>'
        )
    for node in nodes:
        out.append(_node_svg(node, *box.position[node.key]))
    for i, note in enumerate(notes):
        out.append(f'<text class="lineage-more" x="{PAD}" y="{box.height + 14 + 20 * i}">{escape(note)}</text>')
    out.append("</svg>")
    return "".join(out)


def _node_svg(node: Node, x: int, y: int) -> str:
    classes = "lineage-node" + (" lineage-current" if node.current else "")
    shape = (
        f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6" '
        f'fill="{"#e8eefc" if node.current else "#ffffff"}" stroke="{"#2855c7" if node.current else "#8a94a6"}" '
        f'stroke-width="{2.5 if node.current else 1}"/>'
        f'<text x="{x + 10}" y="{y + 20}" class="lineage-name">{escape(_clip(node.name, NAME_CHARS))}</text>'
        f'<text x="{x + 10}" y="{y + 37}" class="lineage-detail">{escape(_clip(node.detail, DETAIL_CHARS))}</text>'
        f'<text x="{x + 10}" y="{y + 53}" class="lineage-detail">{escape(_clip(node.status, DETAIL_CHARS))}</text>'
    )
    tooltip = f"<title>{escape(node.label)}{' (this version)' if node.current else ''}</title>"
    if node.href and not node.current:
        # Named by its <title> (the whole label); the box may show it clipped.
        return f'<a class="{classes}" href="{escape(node.href)}">{tooltip}{shape}</a>'
    return f'<g class="{classes}">{tooltip}{shape}</g>'
