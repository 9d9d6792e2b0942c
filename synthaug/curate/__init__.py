"""Curation: deduplication, decontamination, filters, scores, diversity metrics, PII.

Each operation is plain code over texts here; ``synthaug.methods.curation``
wraps them as pipeline steps and ``synthaug.curate.commands`` as commands.
"""
