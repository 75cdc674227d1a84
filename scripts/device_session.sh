#!/usr/bin/env bash
# The GPU work this project's CPU cannot do, as one prepared run for a lent device (the `device` tool: one H100/H200,
# 15 minutes in all, at most 10 a command), stages in order of need, each cut off at a shared deadline:
#   1. issue 16's last lever: a 64x64 camera-conditioned prior trained on the GPU (the recipe in
#      assets/prior/TRAINING.md at batch 128), then SDS on it for the mug at 64 px, seeds 0-2, next to today's
#      default on the same GPU; the trained prior comes back as one tar file;
#   2. scripts/bench_gpu_step.py at Stable Diffusion 2.1 size: every method eager, SDS compiled;
#   3. SDS on the new prior for the other five benchmark prompts, seed 0, as time allows.
# tiny-cuda-nn is not in it: the device cannot reach its sources, and its build alone takes longer than a lease.
#
# On the device (the image has torch; diffusers, tyro and trimesh travel as wheels: README, "The GPU work"):
#   bash scripts/device_session.sh                      # with carry [".whl"], timeout_s 600
# On a CPU, every stage at toy size, to check the script before spending device time on it:
#   SMOKE=1 PYTHON=.venv/bin/python OUT=/tmp/device_smoke bash scripts/device_session.sh
set -uo pipefail

PY=${PYTHON:-python3}
OUT=${OUT:-outputs/device_session}
WORK=${WORK:-/tmp/device_session}  # everything that does not come back ($OUT keeps 8 files at most)
DEADLINE=$((SECONDS + ${BUDGET_S:-540}))
TRAIN_MINUTES=${TRAIN_MINUTES:-3.5}
PROMPT="a cyan mug"
OTHERS=("a red cube" "a green sphere" "a blue cylinder" "a yellow cone" "a purple torus")
# A rerun on the same warm machine keeps the prior's checkpoint (in $WORK), so with a larger TRAIN_MINUTES it trains
# on; its SDS runs are scored afresh.
rm -rf "$WORK/ablate"
mkdir -p "$OUT" "$WORK"
LOG="$OUT/log.txt"
RESULTS="$OUT/results.txt"

log() { echo "[$(date +%T) +${SECONDS}s] $*" | tee -a "$LOG"; }
left() { echo $((DEADLINE - SECONDS)); }
# run NAME LIMIT_S CMD...: CMD under a timeout of LIMIT_S, cut to the deadline; its output goes to the log.
run() {
    local name=$1 limit=$2
    shift 2
    local budget
    budget=$(left)
    ((budget < limit)) && limit=$budget
    if ((limit < 10)); then log "$name: skipped, ${limit}s left"; return 1; fi
    log "$name: start (limit ${limit}s)"
    timeout "$limit" "$@" >>"$LOG" 2>&1
    local rc=$?
    log "$name: rc $rc"
    return $rc
}

if [[ -n ${SMOKE:-} ]]; then
    VIEWS=10; TRAIN=(--steps 2 --batch-size 4 --threads 2); DEVICE=cpu; OTHERS=("a red cube")
    STEPS=', "steps": 2'; GPU_STEP=(--tiny --repeats 1 --warmup 1); COMPILE=()
else
    VIEWS=4000; TRAIN=(--minutes "$TRAIN_MINUTES" --batch-size 128 --threads 8); DEVICE=cuda
    STEPS=''; GPU_STEP=(--repeats 5 --warmup 2); COMPILE=(--modes compile --methods sds)
fi

if [[ -z ${SMOKE:-} && -d .whl ]]; then  # the device image lacks these; a CPU run has its own venv
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        >>"$LOG" 2>&1 || { log "wheels: install failed"; exit 1; }
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >>"$LOG" 2>&1
$PY -c "import torch, diffusers; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), \
'diffusers', diffusers.__version__)" >>"$LOG" 2>&1 || { log "imports failed"; exit 1; }

# 1. The 64x64 camera-conditioned prior, trained from scratch; its data rendered here (400 MB, too big to carry).
PRIOR="$WORK/prior64cam"
run render 150 "$PY" scripts/render_world_data.py --views-per-shape "$VIEWS" --image-size 64 \
    --out "$WORK/world_geometry_64.pt"
run train_prior 330 "$PY" scripts/train_prior.py --image-size 64 --camera-conditioned --shape-weight mug=2 \
    --device "$DEVICE" "${TRAIN[@]}" --seed 7 --data "$WORK/world_geometry_64.pt" \
    --checkpoint "$WORK/prior_checkpoint_64cam.pt" --out "$PRIOR"
[[ -d $PRIOR ]] && tar -cf "$OUT/prior64cam.tar" -C "$WORK" prior64cam && log "prior: $OUT/prior64cam.tar"

# SDS runs in parallel: each is small, so the GPU has room for several.
ablate() {  # ablate NAME PROMPT OVERRIDES (`timeout 0` would mean no limit, hence the check)
    (($(left) >= 10)) || { log "$1: skipped"; return 1; }
    timeout "$(left)" "$PY" scripts/ablate.py "$1" "$2" "$3" --out "$WORK/ablate" --threads 2 >>"$LOG" 2>&1
}
overrides() {  # overrides SEED [on-prior]: the run's config overrides, on the new prior at 64 px if asked
    local train="\"seed\": $1$STEPS"
    [[ -z ${2:-} ]] && { echo "{\"train\": {$train}}"; return; }
    echo "{\"train\": {$train, \"resolution\": 64, \"resolution_final\": 64}, \"prior\": {\"model\": \"$PRIOR\"}}"
}
if [[ -d $PRIOR ]]; then
    log "mug: start"
    for seed in 0 1 2; do
        ablate "mug64cam_s$seed" "$PROMPT" "$(overrides $seed on-prior)" &
    done
    ablate mug_default_s0 "$PROMPT" "$(overrides 0)" &
    wait
    log "mug: done"
fi

# 2. One training step at Stable Diffusion 2.1 size.
run gpu_step_eager 120 "$PY" scripts/bench_gpu_step.py "${GPU_STEP[@]}" --modes eager
((${#COMPILE[@]})) && run gpu_step_compile 150 "$PY" scripts/bench_gpu_step.py "${GPU_STEP[@]}" "${COMPILE[@]}"

# 3. The other prompts on the new prior.
if [[ -d $PRIOR ]] && (($(left) > 60)); then
    log "others: start"
    for prompt in "${OTHERS[@]}"; do
        ablate "${prompt// /_}_64cam_s0" "$prompt" "$(overrides 0 on-prior)" &
    done
    wait
    log "others: done"
fi

[[ -f $WORK/ablate/results.txt ]] && cp "$WORK/ablate/results.txt" "$RESULTS"
for png in mug64cam_s0 mug_default_s0; do
    [[ -f $WORK/ablate/$png.png ]] && cp "$WORK/ablate/$png.png" "$OUT/"
done
log "done"
