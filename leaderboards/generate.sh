#!/usr/bin/env bash
# Regenerate the project's own leaderboards: every results record under leaderboards/<board>/records/
# and then leaderboards/<board>/board.md and board.html. Run it from the repository root:
#
#   leaderboards/generate.sh                    # everything: records, then boards (~47 min on 2 shared CPU cores)
#   leaderboards/generate.sh probes llmbar      # only these boards (probes, llmbar, rm-bench, pipeline)
#   BOARDS_ONLY=1 leaderboards/generate.sh      # only re-render the boards from the committed records
#
# Evaluations run in $SCRATCH (score caches, the pipeline's checkpoints); only results.json and
# scores.jsonl are copied into the repository (plus, for the pipeline, the small run and checkpoint
# metadata files the board's labels are read from). Rerunning resumes from the caches in $SCRATCH.
# See leaderboards/README.md for what each board ranks and how the records were made.
set -euo pipefail

RMBENCH=${RMBENCH:-.venv/bin/rmbench}
DATA=${DATA:-../shared/data}
SCRATCH=${SCRATCH:-/tmp/rmbench-leaderboards}
RESAMPLES=${RESAMPLES:-1000}   # bootstrap resamples of every board (the test re-renders with the same)
BOARD_SEED=0
SEED=0                         # random baseline and the untrained head's initialisation
# Per-source limits: the same for every entry of a board (a board refuses to mix data versions).
PROBES_LIMIT=200               # of the suite's 600 generated test pairs: 20 per subset
LLMBAR_LIMIT=20                # per LLMBar file: 100 pairs
RMB_LIMIT=3                    # per RM-Bench file (chat, code): 6 prompts, 54 comparisons each
# One thread: on two cores shared with other work, torch's second thread costs far more than it
# gives (measured: 2x slower classifier and judge, 7x slower implicit scoring). Scores are the same.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

if [[ ! -f pyproject.toml || ! -d leaderboards ]]; then
    echo "run this from the repository root: leaderboards/generate.sh" >&2
    exit 2
fi
BOARDS=("$@")
if [[ ${#BOARDS[@]} -eq 0 ]]; then
    BOARDS=(probes llmbar rm-bench pipeline)
fi

log() { printf '\n[%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# eval BOARD ENTRY ARGS...: score into $SCRATCH, then keep the two record files in the repository.
eval_entry() {
    local board=$1 entry=$2
    shift 2
    local work="$SCRATCH/$board/$entry" dest="leaderboards/$board/records/$entry"
    local start=$SECONDS
    log "$board/$entry: $RMBENCH eval $* --out $work"
    "$RMBENCH" eval "$@" --out "$work" --no-progress
    rm -rf "$dest"
    mkdir -p "$dest"
    cp "$work/results.json" "$work/scores.jsonl" "$dest/"
    log "$board/$entry: done in $((SECONDS - start)) s"
}

# The six entries of a suite board: three baselines and SmolLM2-135M-Instruct three ways.
suite_board() {
    local board=$1 bow_train=$2
    shift 2
    local suite=("$@")  # --suite ... and its data flags, shared by every entry
    eval_entry "$board" baseline-random --reward baseline:random --seed "$SEED" "${suite[@]}"
    eval_entry "$board" baseline-length --reward baseline:length "${suite[@]}"
    eval_entry "$board" baseline-bow --reward baseline:bow --baseline-train "$bow_train" "${suite[@]}"
    eval_entry "$board" smollm2-classifier-untrained --reward pkg:smollm2 --allow-random-head --seed "$SEED" \
        "${suite[@]}"
    eval_entry "$board" smollm2-ref-free --reward pkg:smollm2 --ref none "${suite[@]}"
    eval_entry "$board" smollm2-judge --judge pkg:smollm2 --judge-mode pairwise "${suite[@]}"
}

records_probes() {
    mkdir -p "$SCRATCH"
    log "probes: bag-of-words training split"
    "$RMBENCH" data generate --suite probes --split train --n 2000 --seed 1 --out "$SCRATCH/probes-train.jsonl"
    suite_board probes "$SCRATCH/probes-train.jsonl" --suite probes --limit "$PROBES_LIMIT"
}

records_llmbar() {
    suite_board llmbar "$DATA/llamafactory/dpo_en_demo.json" \
        --suite llmbar --data-root "$DATA/llmbar" --limit "$LLMBAR_LIMIT"
}

records_rm_bench() {
    suite_board rm-bench "$DATA/llamafactory/dpo_en_demo.json" \
        --suite rm-bench --data-root "$DATA/rm-bench" --subsets chat,code --limit "$RMB_LIMIT"
}

records_pipeline() {
    local work="$SCRATCH/pipeline" dest=leaderboards/pipeline/records
    local start=$SECONDS
    log "pipeline: $RMBENCH pipeline trainers/pipelines/tiny-sft-rm-dpo.yaml --out $work"
    "$RMBENCH" pipeline trainers/pipelines/tiny-sft-rm-dpo.yaml --out "$work" --no-progress
    # Keep the records (results.json, scores.jsonl) and the metadata the board's labels come from:
    # each run's rmbench-run.json (run name, method) and each checkpoint's rmbench.json (its step).
    # No weights, no data, no caches.
    rm -rf "$dest"
    mkdir -p "$dest"
    (cd "$work" && find . -path '*/.cache' -prune -o -type f \
        \( -name results.json -o -name scores.jsonl -o -name rmbench-run.json -o -path './*/*/rmbench.json' \) \
        -print0 | sort -z | xargs -0 cp --parents -t "$OLDPWD/$dest")
    log "pipeline: done in $((SECONDS - start)) s"
}

# board BOARD [LEADERBOARD FLAGS...]: the committed board, Markdown and HTML, from the committed records.
board() {
    local board=$1
    shift
    local records="leaderboards/$board/records"
    if [[ ! -d $records ]]; then
        echo "no records for board $board under $records: run leaderboards/generate.sh $board" >&2
        exit 2
    fi
    for format in md html; do
        "$RMBENCH" leaderboard "$records" --resamples "$RESAMPLES" --seed "$BOARD_SEED" "$@" \
            --format "$format" --out "leaderboards/$board/board.$format"
    done
}

boards_for() {
    case $1 in
        pipeline)
            # the pipeline's records span several suites and data sets: one board each, as the
            # pipeline itself renders them
            board pipeline --split-versions
            local own="$SCRATCH/pipeline/leaderboard.md"
            if [[ -z ${BOARDS_ONLY:-} && -f $own ]]; then
                if cmp -s "$own" leaderboards/pipeline/board.md; then
                    log "pipeline: board.md is identical to the pipeline's own $own"
                else
                    log "WARNING: leaderboards/pipeline/board.md differs from the pipeline's own $own"
                fi
            fi
            ;;
        *) board "$1" ;;
    esac
}

total=$SECONDS
for name in "${BOARDS[@]}"; do
    case $name in
        probes | llmbar | rm-bench | pipeline) ;;
        *) echo "unknown board $name (probes, llmbar, rm-bench, pipeline)" >&2; exit 2 ;;
    esac
    if [[ -z ${BOARDS_ONLY:-} ]]; then
        "records_${name//-/_}"
    fi
    boards_for "$name"
done
log "all done in $((SECONDS - total)) s; sizes:"
for name in "${BOARDS[@]}"; do du -sh "leaderboards/$name"; done
du -sh leaderboards
