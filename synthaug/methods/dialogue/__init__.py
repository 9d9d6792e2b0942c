"""Dialogue data: multi-turn conversations generated from sampled scenarios."""
