"""Start-up cost (import, build, first prediction) of densenet_hub and
KerasHub, each measured in fresh processes, alternating."""

import json
import os
import pathlib
import statistics
import subprocess
import sys

import keras

from densenet_hub.profiling.configs import repeats
from densenet_hub.base.choices import BENCH_STARTUP_CANDIDATES as CANDIDATES

PHASES = ("import", "build", "first_prediction", "total")
CHILD = pathlib.Path(__file__).with_name("startup_child.py")


def measure_once(candidate, depth, size):
    """Runs one fresh process; returns its phase timings in seconds."""
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend(), TF_CPP_MIN_LOG_LEVEL="3")
    completed = subprocess.run(
        [sys.executable, str(CHILD), candidate, ",".join(map(str, repeats(depth))), str(size)],
        capture_output=True,
        text=True,
        env=env,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(
            f"bench startup: {candidate} failed (exit {completed.returncode}):\n"
            f"{completed.stderr[-2000:]}"
        )
    return json.loads(lines[-1])


def run(names, depth, size, repeats, print_fn=print):
    """Measures every candidate `repeats` times, alternating; prints medians.

    Returns:
        dict candidate -> dict phase -> median seconds.
    """
    samples = {name: {phase: [] for phase in PHASES} for name in names}
    for _ in range(repeats):
        for name in names:
            for phase, seconds in measure_once(name, depth, size).items():
                samples[name][phase].append(seconds)
    medians = {
        name: {phase: statistics.median(values) for phase, values in phases.items()}
        for name, phases in samples.items()
    }
    print_fn(
        f"Start-up, DenseNet-{depth} at {size}x{size}, backend "
        f"{keras.backend.backend()}, median of {repeats} fresh processes (seconds)"
    )
    reference = medians.get("keras_hub")
    header = "".join(f" {phase:>16s}" for phase in PHASES)
    print_fn(f"{'candidate':28s}{header}" + (f" {'x keras_hub':>12s}" if reference else ""))
    for name, phases in medians.items():
        line = f"{name:28s}" + "".join(f" {phases[phase]:16.2f}" for phase in PHASES)
        if reference:
            line += f" {phases['total'] / reference['total']:12.2f}"
        print_fn(line)
    return medians
