"""Labeling classification data with an LLM: self-consistent labels, metrics and calibration,
CoAnnotating's LLM/human allocation, and symbol-tuning data."""
