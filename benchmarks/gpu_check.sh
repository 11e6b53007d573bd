#!/usr/bin/env bash
# GPU checks, under 5 minutes on one GPU: the CUDA tests (marked gpu), the benchmark's
# agreement section (eval on CUDA against the CPU: FCN argmax pixels, TF32 and bf16 against
# the exact fp32 path) and its GPU timings at batch 1/8/32 with cudnn.benchmark, bf16 and
# torch.compile. Results go to benchmarks/results/run-cuda.{json,md} and gpu-check.log.
#
# The GPU machine reaches no package registry: it uses the torch of its image and, where
# p2pbench's other dependencies are missing, the wheels of WHEELHOUSE (default: wheelhouse/,
# made here by scripts/make_wheelhouse.sh and carried along).
set -euo pipefail
cd "$(dirname "$0")/.."
wheelhouse=${WHEELHOUSE:-wheelhouse}
log=benchmarks/results/gpu-check.log
py=${PYTHON:-python3}
if ! "$py" -c "import torch" 2>/dev/null && [ -x .venv/bin/python ]; then py=.venv/bin/python; fi
if ! "$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "gpu_check: no CUDA GPU visible to torch in $py; nothing to check" >&2
  exit 1
fi
if ! "$py" -c "import p2pbench, torchmetrics, torch_fidelity, cityscapesscripts, pytest" 2>/dev/null; then
  [ -d "$wheelhouse" ] || { echo "gpu_check: dependencies missing and no $wheelhouse/" >&2; exit 1; }
  "$py" -m pip install -q --no-index --find-links "$wheelhouse" --no-deps "$wheelhouse"/*.whl
  "$py" -m pip install -q --no-index --no-deps --no-build-isolation -e .
fi
mkdir -p benchmarks/results
status=0
{
  echo "== $(date -u +%FT%TZ) $("$py" -c 'import torch; print(torch.__version__, torch.cuda.get_device_name(0))')"
  echo "== pytest -m gpu"
  timeout 150 "$py" -m pytest -q -m gpu tests -p no:cacheprovider || status=1
  echo "== benchmark: agreement, peak, train, inference on cuda"
  timeout 240 "$py" -m benchmarks.run --device cuda --batch-sizes 1,8,32 \
    --only agreement,peak,train,inference || status=1
  exit $status
} 2>&1 | tee "$log"
