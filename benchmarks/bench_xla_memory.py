"""XLA's own memory figures for one DenseNet SGD training step on JAX, with
and without `memory_efficient`, and the process' RSS right after compiling it.

For each mode a fresh process builds a 1000-class classifier, compiles one
jitted SGD step (`stateless_call`, gradients, update; parameters donated)
ahead of time and prints XLA's `memory_analysis()`: the temporary buffer
size is the step's peak working memory as XLA planned it, activations
included. RSS is read before and after compiling; `--keep-compiler-memory`
turns off `densenet_hub.models.compiler_memory` for comparison.

    KERAS_BACKEND=jax python benchmarks/bench_xla_memory.py --depth 121 --batch 8
"""

import argparse
import json
import math
import os
import re
import subprocess
import sys

from densenet_hub.profiling.configs import DEPTHS


def _rss_mb():
    with open("/proc/self/status") as status:
        return int(re.search(r"VmRSS:\s+(\d+)", status.read()).group(1)) / 1024


def measure(spec):
    """Runs in the subprocess: one row, as a dict."""
    import jax
    import keras
    import numpy as np

    from densenet_hub.models import DenseNetBackbone
    from densenet_hub.models import DenseNetImageClassifier

    if spec["keep_compiler_memory"]:
        from densenet_hub.models import compiler_memory

        compiler_memory.LONG_COMPILE_SECONDS = math.inf
    size, batch = spec["size"], spec["batch"]
    backbone = DenseNetBackbone(
        DEPTHS[spec["depth"]],
        image_shape=(size, size, 3),
        memory_efficient=spec["memory_efficient"],
    )
    model = DenseNetImageClassifier(backbone, num_classes=1000)
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    images = np.zeros((batch, size, size, 3), "float32")
    labels = np.zeros((batch,), "int32")

    def loss(trainable, non_trainable):
        outputs, updated = model.stateless_call(trainable, non_trainable, images, training=True)
        return keras.losses.sparse_categorical_crossentropy(labels, outputs).mean(), updated

    def step(trainable, non_trainable):
        gradient = jax.grad(loss, has_aux=True)
        gradients, updated = gradient(trainable, non_trainable)
        return [w - 0.01 * g for w, g in zip(trainable, gradients)], updated

    before = _rss_mb()
    compiled = jax.jit(step, donate_argnums=(0, 1)).lower(trainable, non_trainable).compile()
    return {
        **spec,
        "temp_mb": compiled.memory_analysis().temp_size_in_bytes / 1e6,
        "rss_before_compile_mb": before,
        "rss_after_compile_mb": _rss_mb(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--depth", type=int, default=121, choices=sorted(DEPTHS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--modes", nargs="+", default=["normal", "memory_efficient"],
                        choices=("normal", "memory_efficient"))
    parser.add_argument("--keep-compiler-memory", action="store_true",
                        help="also measure each mode without handing freed compiler memory back")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(json.loads(args.child))))
        return
    print(f"DenseNet-{args.depth} SGD step, batch {args.batch}, {args.size}x{args.size}, "
          f"float32, JAX; each row a fresh process")
    print(f"{'mode':<18} {'compiler memory':<16} {'XLA temp MB':>12} "
          f"{'RSS before compile':>19} {'RSS after compile':>18}")
    for mode in args.modes:
        for keep in (False, True) if args.keep_compiler_memory else (False,):
            spec = {"depth": args.depth, "batch": args.batch, "size": args.size,
                    "memory_efficient": mode == "memory_efficient", "keep_compiler_memory": keep}
            env = dict(os.environ, KERAS_BACKEND="jax")
            done = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)],
                                  env=env, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"{mode:<18} failed: {done.stderr.strip().splitlines()[-1]}")
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{mode:<18} {'kept' if keep else 'handed back':<16} {row['temp_mb']:>12.0f} "
                  f"{row['rss_before_compile_mb']:>19.0f} {row['rss_after_compile_mb']:>18.0f}",
                  flush=True)


if __name__ == "__main__":
    main()
