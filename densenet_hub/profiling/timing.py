"""Summary statistics of timings."""

import statistics


def summary(samples):
    """Median and relative spread ((max - min) / median) of a list of numbers."""
    median = statistics.median(samples)
    spread = (max(samples) - min(samples)) / median if median else 0.0
    return median, spread
