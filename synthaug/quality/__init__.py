"""Quality filters for synthesized data: similarity, novelty and deduplication."""
