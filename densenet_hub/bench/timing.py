"""Alternating timing: every candidate runs once per round, in turn, so a
slow period of a noisy machine hits all of them alike."""

import statistics
import time


def alternate(candidates, rounds, min_seconds):
    """Times each candidate's `run()` in `rounds` interleaved rounds.

    Args:
        candidates: dict name -> zero-argument callable (already warmed up).
        rounds: rounds; each candidate is timed once per round.
        min_seconds: each timing repeats the call until this much time passed.

    Returns:
        dict name -> list of seconds per call, one entry per round.
    """
    seconds = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, run in candidates.items():
            calls = 0
            start = time.perf_counter()
            while True:
                run()
                calls += 1
                elapsed = time.perf_counter() - start
                if elapsed >= min_seconds:
                    break
            seconds[name].append(elapsed / calls)
    return seconds


def summary(samples):
    """Median and relative spread ((max - min) / median) of a list of numbers."""
    median = statistics.median(samples)
    spread = (max(samples) - min(samples)) / median if median else 0.0
    return median, spread
