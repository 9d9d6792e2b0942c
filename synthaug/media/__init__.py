"""Images made by our own code (charts, scenes), rendered apart from the model, and the
questions whose answers are computed from their data; used by the multimodal steps and by
``synthaug verify``."""
