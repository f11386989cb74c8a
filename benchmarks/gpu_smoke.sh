#!/usr/bin/env bash
# A short train, verify and analyse on CUDA: prints seconds per training step and questions per
# second of verification. Without CUDA it says so and exits 0.
#
#   benchmarks/gpu_smoke.sh              # on the GPU when there is one
#   DEVICE=cpu benchmarks/gpu_smoke.sh   # the same steps on the CPU (to compare, or to test it)
#
# STEPS (default 300) and QUESTIONS (default 1000000) set the size.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-300}
QUESTIONS=${QUESTIONS:-1000000}

if [ "$DEVICE" != "cpu" ] && ! "$PY" -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
    echo "gpu_smoke: no CUDA device on this machine; nothing to measure (DEVICE=cpu runs it on the CPU)"
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$PY" - "$work/add" "$DEVICE" "$STEPS" <<'EOF'
import sys
from algolens.runs import recipe_config, train_run
out, device, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
config = recipe_config("add", None, {"steps": steps, "device": device}, {"task": {"n_digits": 5}}, {})
result = train_run(out, config, progress=False)
print(f"train: {result.steps} steps, {result.seconds / result.steps * 1000:.1f} ms per step")
EOF

"$PY" - "$work/add" "$DEVICE" "$QUESTIONS" <<'EOF'
import sys, time
from algolens.runs import load
from algolens.tasks.base import resolve_device
from algolens.verify import verify
run = load(sys.argv[1])
run.model.to(resolve_device(sys.argv[2]))
n = int(sys.argv[3])
start = time.perf_counter()
res = verify(run.model, run.task, n, "uniform", seed=0)
seconds = time.perf_counter() - start
print(f"verify: {res.questions:,} questions in {seconds:.1f} s, {res.questions / seconds:,.0f} q/s, "
      f"{res.failures:,} failures")
EOF

start=$(date +%s.%N)
"$PY" -m algolens analyse "$work/add" --questions 500 --out "$work/report" --no-progress --device "$DEVICE" >/dev/null
end=$(date +%s.%N)
"$PY" -c "import sys; print(f'analyse: report in {float(sys.argv[2]) - float(sys.argv[1]):.1f} s on {sys.argv[3]}')" "$start" "$end" "$DEVICE"
echo "gpu_smoke: ok on $DEVICE"
