"""Students: small models trained and evaluated inside a loop (LLM2LLM, ``synthaug evaluate``).

A student trains on records and is scored on held-out records; methods and commands use it,
it imports nothing above the LLM layer. ``classifier``: sentence embeddings (the bundled
all-MiniLM-L6-v2 or an endpoint) + scikit-learn logistic regression (``augment`` extra);
``compare``: the same student on several training sets over seeds (``synthaug evaluate``);
``sft``: LoRA fine-tuning of the embedded SmolLM2-135M on ``messages`` records (``sft``
extra, imported on use).
"""

from .classifier import ClassifierStudent, Metrics, TrainedClassifier

__all__ = ["ClassifierStudent", "Metrics", "TrainedClassifier"]
