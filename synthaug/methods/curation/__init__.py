"""Curation as pipeline steps; the algorithms live in :mod:`synthaug.curate`."""
