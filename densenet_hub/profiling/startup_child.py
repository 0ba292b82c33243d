"""One start-up measurement, run as a script in a fresh process:
import, build a DenseNet, first prediction. Prints one JSON line.

Usage: python startup_child.py CANDIDATE REPEATS SIZE, REPEATS the
comma-separated `stackwise_num_repeats` (run by file path, so that nothing is
imported before the clock starts; the parent reads the depth table).
"""

import time

START = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402


def main(candidate, stackwise_num_repeats, size):
    phases = {}
    mark = START
    if candidate == "keras_hub":
        import keras_hub as library
    else:
        import densenet_hub as library
    phases["import"] = time.perf_counter() - mark
    mark = time.perf_counter()
    model = library.models.DenseNetBackbone(
        stackwise_num_repeats=stackwise_num_repeats, image_shape=(size, size, 3)
    )
    if candidate.startswith("densenet_hub+"):
        runtime = candidate.split("+", 1)[1]
        from densenet_hub.runtime import accelerate

        predict = accelerate(model, runtime=runtime).predict_on_batch
    else:
        predict = model.predict_on_batch
    phases["build"] = time.perf_counter() - mark
    mark = time.perf_counter()
    np.asarray(predict(np.zeros((1, size, size, 3), "float32")))
    phases["first_prediction"] = time.perf_counter() - mark
    phases["total"] = time.perf_counter() - START
    print(json.dumps(phases))


if __name__ == "__main__":
    main(sys.argv[1], [int(n) for n in sys.argv[2].split(",")], int(sys.argv[3]))
