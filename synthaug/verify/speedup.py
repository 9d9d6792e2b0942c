"""Whether one program is significantly faster than another, from repeated timings (PIE).

PIE counts an edit as an optimization when it is correct and at least 1.1 times faster;
here the speed-up is the ratio of median wall times over repeated sandbox runs, and it
must also be significant: a one-sided Mann-Whitney U test (normal approximation with
continuity and tie corrections) that the original's times exceed the edit's, p < alpha.
"""

from __future__ import annotations

import math
import statistics


def mann_whitney_greater(slower: list[float], faster: list[float]) -> float:
    """One-sided p-value that ``slower``'s values tend to exceed ``faster``'s."""
    n1, n2 = len(slower), len(faster)
    if not n1 or not n2:
        return 1.0
    values = sorted((v, i) for i, v in enumerate([*slower, *faster]))
    ranks = [0.0] * (n1 + n2)
    ties = 0.0
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and values[end + 1][0] == values[start][0]:
            end += 1
        for k in range(start, end + 1):
            ranks[values[k][1]] = (start + end) / 2 + 1
        size = end - start + 1
        ties += size**3 - size
        start = end + 1
    u = sum(ranks[:n1]) - n1 * (n1 + 1) / 2
    n = n1 + n2
    variance = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if variance <= 0:
        return 1.0
    z = (u - n1 * n2 / 2 - 0.5) / math.sqrt(variance)
    return 0.5 * math.erfc(z / math.sqrt(2))


def speedup_test(
    original: list[float], edited: list[float], min_speedup: float, alpha: float
) -> dict[str, float | bool]:
    """``speedup`` (median ratio), ``p_value`` and ``significant`` (both rules hold)."""
    speedup = statistics.median(original) / max(statistics.median(edited), 1e-9)
    p_value = mann_whitney_greater(original, edited)
    return {
        "speedup": round(speedup, 4),
        "p_value": round(p_value, 6),
        "significant": speedup >= min_speedup and p_value < alpha,
    }
