"""Percentiles as the KPI pages state them: nearest rank (the smallest value with at least q of the values at
or below it), so a percentile is always a value that was measured."""

import math
from collections.abc import Iterable


def nearest_rank(values: Iterable[float], fraction: float) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(fraction * len(ordered)))
    return float(ordered[rank - 1])
