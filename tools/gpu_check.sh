#!/usr/bin/env bash
# The GPU checks of the pixel pipeline and the dtype/recovery fixes, run on a
# lent CUDA machine through the session's device tool (see BENCHMARKS.md,
# "On a GPU"). That machine has torch, torchvision, timm and JAX with CUDA but
# no Keras: carry its wheels in .whl/ (keras, optree, namex).
#   bash tools/gpu_check.sh            # writes $OUT/<backend>.log and .xml
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
nvidia-smi -L
python3 -c "import torch, jax, keras; print('torch', torch.__version__, torch.cuda.is_available(), 'jax', jax.__version__, jax.devices(), 'keras', keras.__version__)"
TESTS=(
    tests/preprocessing/test_pillow_exact.py
    tests/preprocessing/test_image_converter.py
    tests/presets/test_bfloat16_presets.py
    tests/models/test_failed_calls.py
    tests/convert/test_torch_mapping.py
)
for backend in jax torch; do
    echo "=== KERAS_BACKEND=$backend ==="
    # keras_hub and TensorFlow (tf.data) are not on that machine.
    KERAS_BACKEND=$backend timeout 240 python3 -m pytest -q -p no:cacheprovider -m "not slow" \
        -k "not keras_hub and not tf_data and not legacy_height and not from_config \
            and not crop_pct" --junitxml="$OUT/$backend.xml" "${TESTS[@]}" 2>&1 | tee "$OUT/$backend.log" | tail -25
done
