"""Knowledge graphs from triples: entity names normalised (``entities.py``), a networkx graph
whose edges keep each triple's provenance, and seeded multi-hop path sampling (``graph.py``)."""
