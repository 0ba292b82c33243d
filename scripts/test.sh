#!/usr/bin/env bash
# Sets up .venv (if missing) with every test dependency, then runs the test
# suite once per Keras backend: jax, torch and tensorflow. Fails if any backend
# fails or if a backend runs no test. Extra arguments go to pytest.
#
#   bash scripts/test.sh                 # all three backends
#   BACKENDS=jax bash scripts/test.sh    # one backend
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
# torch==2.13.0 is the CPU build; an unpinned torch would pull a CUDA build.
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0" -e ".[jax,tensorflow,test]"

status=0
for backend in ${BACKENDS:-jax torch tensorflow}; do
    echo "=== KERAS_BACKEND=$backend ==="
    set +e
    KERAS_BACKEND=$backend .venv/bin/python -m pytest -q -n 2 -p no:cacheprovider "$@"
    rc=$?
    set -e
    if [ $rc -eq 5 ]; then
        echo "KERAS_BACKEND=$backend ran no test" >&2
        status=1
    elif [ $rc -ne 0 ]; then
        echo "KERAS_BACKEND=$backend failed (pytest exit $rc)" >&2
        status=1
    fi
done
exit $status
