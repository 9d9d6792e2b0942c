"""Task-oriented dialogue data: user goals sampled from an ontology, dialogues written with
their belief-state annotation, the annotation checked against the goal."""
