"""A knowledge graph of triples (networkx ``MultiDiGraph``): nodes are entity keys with the
name shown for them, edges are triples with their relation and provenance; multi-hop paths
are sampled from it, and a path's answer is checked to be the only entity its start and
relations lead to."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx

from .entities import canonical_names, entity_key

Hop = dict[str, Any]  # a triple: subject, relation, object (+ provenance fields)


def relation_key(relation: str) -> str:
    """How relations are compared: lowercase, ``_`` as a space, single spaces."""
    return " ".join(relation.replace("_", " ").casefold().split())


def build_graph(triples: list[Hop]) -> nx.MultiDiGraph:
    """The graph of ``triples`` (dicts with ``subject``, ``relation``, ``object`` and any
    provenance): entity names merged by ``entity_key`` and shown by their most frequent
    spelling; a triple repeating one already in (same subject, relation and object keys)
    adds its provenance to that edge's ``sources``; self-loops and empty names are left out."""
    names = canonical_names(n for t in triples for n in (t["subject"], t["object"]))
    graph = nx.MultiDiGraph()
    seen: dict[tuple[str, str, str], tuple[str, str, int]] = {}
    for triple in triples:
        subject, obj = entity_key(triple["subject"]), entity_key(triple["object"])
        relation = relation_key(triple["relation"])
        if not subject or not obj or not relation or subject == obj:
            continue
        if (subject, relation, obj) in seen:
            u, v, k = seen[(subject, relation, obj)]
            graph.edges[u, v, k]["sources"].append(triple)
            continue
        graph.add_node(subject, name=names[subject])
        graph.add_node(obj, name=names[obj])
        key = graph.add_edge(subject, obj, relation=relation, sources=[triple])
        seen[(subject, relation, obj)] = (subject, obj, key)
    return graph


def hop_of(graph: nx.MultiDiGraph, u: str, v: str, k: int) -> Hop:
    """An edge as a path hop: its first source triple as written, with its provenance."""
    return dict(graph.edges[u, v, k]["sources"][0])


def simple_paths(graph: nx.MultiDiGraph, hops: int) -> Iterator[list[tuple[str, str, int]]]:
    """Every path of ``hops`` edges visiting no entity twice, in a fixed order."""

    def extend(path: list[tuple[str, str, int]], visited: list[str]):
        if len(path) == hops:
            yield list(path)
            return
        here = visited[-1]
        for _, there, key in sorted(graph.out_edges(here, keys=True)):
            if there not in visited:
                yield from extend([*path, (here, there, key)], [*visited, there])

    for start in sorted(graph.nodes):
        yield from extend([], [start])


def reached(graph: nx.MultiDiGraph, start: str, relations: list[str]) -> set[str]:
    """The entities ``start`` leads to following ``relations`` (keys) in order."""
    frontier = {start}
    for relation in relations:
        frontier = {
            v
            for u in frontier
            for _, v, data in graph.out_edges(u, data=True)
            if data["relation"] == relation
        }
    return frontier


def sample_paths(
    graph: nx.MultiDiGraph, hops: list[int], count: int, seed: int, max_paths: int = 100_000
) -> list[list[Hop]]:
    """Up to ``count`` paths, the hop counts in ``hops`` taken in turn, each path's end the
    only entity its start and relations lead to (so the end is the question's one answer)."""
    pools: list[list[list[tuple[str, str, int]]]] = []
    for number, length in enumerate(hops):
        pool = []
        for path in simple_paths(graph, length):
            relations = [graph.edges[e]["relation"] for e in path]
            if reached(graph, path[0][0], relations) == {path[-1][1]}:
                pool.append(path)
            if len(pool) >= max_paths:
                break
        random.Random(seed + number).shuffle(pool)
        pools.append(pool)
    chosen: list[list[Hop]] = []
    while len(chosen) < count and any(pools):
        for pool in pools:
            if pool and len(chosen) < count:
                chosen.append([hop_of(graph, *edge) for edge in pool.pop()])
    return chosen


def save_graph(graph: nx.MultiDiGraph, path: str | os.PathLike[str]) -> None:
    """The graph as node-link JSON (networkx's), written through a temp file and renamed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    data = nx.node_link_data(graph, edges="edges")
    temp.write_text(json.dumps(data, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(temp, target)
