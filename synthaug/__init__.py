"""synthaug: synthesize, augment and curate training data for LLMs.

The public entry points are the ``synthaug`` command (``synthaug.cli``), YAML
recipes (``synthaug.recipe``) and, for Python users, ``synthaug.engine.Pipeline``
with the steps in ``synthaug.methods``.
"""

__version__ = "0.1.0"
