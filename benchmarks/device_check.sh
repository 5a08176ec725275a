#!/usr/bin/env bash
# The accelerator machine's run (docs/performance.md). That machine has Python 3.12, JAX, flax, optax, orbax,
# PyTorch and pytest, but no TensorFlow, ml-collections or registry, so ml-collections travels as a wheel:
#   bash benchmarks/device_check.sh wheels               # here: ml-collections for Python 3.12 into .whl/
#   bash benchmarks/device_check.sh run DIR [FLAGS...]   # there (.whl carried): benchmarks/device_check.py
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  wheels)
    version=$(sed -n 's/^ml-collections==//p' requirements.txt)
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_17_x86_64 -d .whl "ml-collections==$version"
    ls .whl ;;
  run)
    [ $# -ge 2 ] || { echo "error: usage: $0 run DIR [FLAGS...]" >&2; exit 1; }
    if compgen -G ".whl/*.whl" > /dev/null; then
      python3 -m pip install --quiet --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl
      export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
    fi
    # The project is not installed there: its checkout is the import path.
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
    exec python3 benchmarks/device_check.py --out "$2" "${@:3}" ;;
  *)
    echo "error: usage: $0 wheels | run DIR [FLAGS...]" >&2; exit 1 ;;
esac
