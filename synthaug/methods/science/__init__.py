"""Science and education data pipelines (the survey's §3.6): SciGLM's self-reflective
annotation, T-SciQ's teaching signals, Galactica's formats, and a packaged seed set of science
questions with gold answers."""
