"""How long `densenet-hub --help`, `--version` and a usage error take in a
fresh interpreter, against `python -c pass` (the floor any command pays).

Each case runs `python -m densenet_hub ...` in a new process, alternating
the cases, `--repeats` times; medians and their ratio to `python -c pass`
are printed. `--source DIR` times another copy of the package (put first on
PYTHONPATH), e.g. an older commit for a before/after comparison:

    .venv/bin/python benchmarks/bench_cold_start.py
    mkdir -p /tmp/before && git archive HEAD~1 densenet_hub | tar -x -C /tmp/before
    .venv/bin/python benchmarks/bench_cold_start.py --source /tmp/before

KERAS_BACKEND is left as the caller has it (unset, as on a new machine,
makes an eager backend choice import a backend).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

CASES = {
    "python -c pass": ["-c", "pass"],
    "densenet-hub --help": ["-m", "densenet_hub", "--help"],
    "densenet-hub --version": ["-m", "densenet_hub", "--version"],
    "densenet-hub predict --help": ["-m", "densenet_hub", "predict", "--help"],
    "densenet-hub predict (usage error)": ["-m", "densenet_hub", "predict"],
}


def _time_once(arguments, env):
    started = time.perf_counter()
    # Outside the clone: `python -m` puts the working folder first on the path.
    subprocess.run(
        [sys.executable, *arguments], env=env, cwd=tempfile.gettempdir(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs of each case (default 7)")
    parser.add_argument(
        "--source", default=None, help="a folder holding the densenet_hub package to time"
    )
    args = parser.parse_args()
    env = dict(os.environ)
    if args.source:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.source, env.get("PYTHONPATH")]))
    times = {name: [] for name in CASES}
    for _ in range(args.repeats):
        for name, arguments in CASES.items():
            times[name].append(_time_once(arguments, env))
    floor = statistics.median(times["python -c pass"])
    print(f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND', '(unset)')}, "
          f"{args.repeats} runs each, source {args.source or 'installed'}")  # fmt: skip
    print(f"{'case':<36} {'median s':>9} {'min s':>7} {'x python':>9}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<36} {median:>9.3f} {min(values):>7.3f} {median / floor:>9.1f}")


if __name__ == "__main__":
    main()
