"""Dialogue data: task-oriented dialogues (user goals from an ontology, belief-state
annotations checked against the goal) and child-directed conversations (TinyDialogues)."""
