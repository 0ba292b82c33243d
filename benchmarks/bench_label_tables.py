"""Reading the real chest X-ray label tables: `read_label_table` against
`pandas.read_csv` on the same file, in time and peak memory.

Each measurement runs in a fresh interpreter that has imported both
libraries first, the two readers taking turns; times (wall clock and CPU)
are the best of `--repeats` runs, memory the growth of the peak resident
set over what the imports left. The tables are the real
CheXpert `train.csv` and NIH `Data_Entry_2017_v2020.csv` from the
torchxrayvision wheel (fetched once by tests/helpers/real_tables.py), or
the files given.

    KERAS_BACKEND=jax python benchmarks/bench_label_tables.py
    python benchmarks/bench_label_tables.py --chexpert train.csv --nih Data_Entry_2017_v2020.csv
"""

import argparse
import json
import pathlib
import subprocess
import sys

TESTS = pathlib.Path(__file__).resolve().parents[1] / "tests"

CHILD = """
import json, resource, sys, time
import pandas
import densenet_hub.data

def resident_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20

path, reader, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
if reader == "pandas":
    read = lambda: pandas.read_csv(path)
else:
    read = lambda: densenet_hub.data.read_label_table(path, check_files=False, **options)
before = resident_mb()
start, start_cpu = time.perf_counter(), time.process_time()
result = read()
seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
print(json.dumps({
    "seconds": seconds, "cpu_seconds": cpu_seconds, "peak_mb": peak - before, "rows": len(result)
}))
"""


def run_once(path, reader, options):
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), reader, json.dumps(options)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(path, options, repeats):
    """pandas' and our best time, memory (first run) and row count; the two
    readers alternate, so a busy machine slows both alike."""
    runs = {"pandas": [], "ours": []}
    for _ in range(repeats):
        for reader, reader_options in (("pandas", {}), ("ours", options)):
            runs[reader].append(run_once(path, reader, reader_options))
    return {
        reader: {
            "seconds": min(run["seconds"] for run in done),
            "cpu_seconds": min(run["cpu_seconds"] for run in done),
            "peak_mb": done[0]["peak_mb"],
            "rows": done[0]["rows"],
        }
        for reader, done in runs.items()
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chexpert", type=pathlib.Path, help="CheXpert train.csv")
    parser.add_argument("--nih", type=pathlib.Path, help="NIH Data_Entry_2017_v2020.csv")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.chexpert is None or args.nih is None:
        sys.path.insert(0, str(TESTS))
        from helpers import real_tables

        args.chexpert = args.chexpert or real_tables.chexpert_train()
        args.nih = args.nih or real_tables.nih_data_entry()
    cases = [
        ("CheXpert train.csv", args.chexpert, {}),
        (
            "CheXpert, frontal, patient from path",
            args.chexpert,
            {"where": ["Frontal/Lateral=Frontal"], "group_from_path": r"patient\d+"},
        ),
        ("NIH Data_Entry_2017_v2020.csv", args.nih, {}),
        (
            "NIH, PA, age <= 100, Patient ID",
            args.nih,
            {"where": ["View Position=PA", "Patient Age<=100"], "group_column": "Patient ID"},
        ),
    ]
    print(
        "best of %d runs; CPU time is what a busy machine changes least\n" % args.repeats
        + f"{'table':38} {'rows':>7} {'wall: pandas':>12} {'ours':>6} {'ratio':>6} "
        f"{'CPU: pandas':>11} {'ours':>6} {'ratio':>6} {'MB: pandas':>10} {'ours':>5} {'ratio':>6}"
    )
    for name, path, options in cases:
        results = compare(path, options, args.repeats)
        theirs, ours = results["pandas"], results["ours"]
        columns = [f"{name:38} {ours['rows']:>7}"]
        for key, width in (("seconds", 12), ("cpu_seconds", 11), ("peak_mb", 10)):
            number = ".2f" if key != "peak_mb" else ".0f"
            columns.append(
                f"{theirs[key]:>{width}{number}} {ours[key]:>6{number}} "
                f"{ours[key] / theirs[key]:>5.2f}x"
            )
        print(" ".join(columns))


if __name__ == "__main__":
    main()
