"""Preference and alignment data: multi-response sampling, feedback, judges, critique and revision,
self-play and verified pairs (the survey's preference-alignment family)."""
