"""The CPUs this process may use: its affinity mask (taskset, cpusets, Slurm), not the whole machine."""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """How many CPUs the scheduler lets this process run on (at least 1)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1
