"""Communities of a knowledge graph, as GraphRAG finds them (Edge et al., 2024): hierarchical
Leiden (``graspologic_native``, the library GraphRAG's indexer calls) over the undirected
entity graph, each pair of entities weighted by the number of triples between them, and a
cluster larger than ``max_cluster_size`` clustered again on its own (one level deeper; Leiden
may find nothing to split in it). As GraphRAG does by
default, only the largest connected component is clustered unless told otherwise. Every
community of every level is kept; ``at_level`` picks the partition GraphRAG's global search
reads at a ``community_level``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import networkx as nx

# GraphRAG's defaults (graphrag/config/defaults.py: cluster_graph; the query's community_level)
MAX_CLUSTER_SIZE = 10
SEED = 0xDEADBEEF
COMMUNITY_LEVEL = 2


@dataclass(frozen=True)
class Community:
    """A cluster: its id, its level in the hierarchy, the cluster it was split from (None at
    level 0) and its entity keys, sorted."""

    id: int
    level: int
    parent: int | None
    entities: tuple[str, ...]


def detect_communities(
    graph: nx.MultiDiGraph,
    max_cluster_size: int = MAX_CLUSTER_SIZE,
    seed: int = SEED,
    largest_component: bool = True,
) -> list[Community]:
    """Every community of ``graph``, of every level, by id (at each level an entity is in at
    most one); the same graph and seed give the same communities."""
    from graspologic_native import hierarchical_leiden

    if largest_component and graph.number_of_nodes():
        # ties between equally large components go to the one with the smallest entity key
        components = nx.weakly_connected_components(graph)
        component = min(components, key=lambda c: (-len(c), min(c)))
        graph = graph.subgraph(component)
    weights = Counter(tuple(sorted((u, v))) for u, v in graph.edges())
    if not weights:
        return []
    edges = [(u, v, float(n)) for (u, v), n in sorted(weights.items())]
    clusters = hierarchical_leiden(edges, max_cluster_size=max_cluster_size, seed=seed)
    members: dict[int, list[str]] = {}
    placed: dict[int, tuple[int, int | None]] = {}
    for entry in clusters:
        members.setdefault(entry.cluster, []).append(entry.node)
        placed[entry.cluster] = (entry.level, entry.parent_cluster)
    return [
        Community(cluster, *placed[cluster], tuple(sorted(nodes)))
        for cluster, nodes in sorted(members.items())
    ]


def at_level(communities: list[Community], level: int | None) -> list[Community]:
    """The partition GraphRAG's global search reads at ``community_level`` = ``level``: each
    entity in its deepest community of a level at most ``level`` (``None``: the leaves)."""
    split = {c.parent for c in communities if c.parent is not None}
    return [
        c for c in communities
        if (level is None or c.level <= level) and (c.id not in split or c.level == level)
    ]  # fmt: skip
