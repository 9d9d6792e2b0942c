"""The engine: the step contract, the streaming pipeline, checkpoints and the run summary."""

from .pipeline import Pipeline, RunResult
from .resources import RunResources
from .step import MapStep, SourceStep, Step, StepContext, WholeStep

__all__ = [
    "MapStep",
    "Pipeline",
    "RunResources",
    "RunResult",
    "SourceStep",
    "Step",
    "StepContext",
    "WholeStep",
]
