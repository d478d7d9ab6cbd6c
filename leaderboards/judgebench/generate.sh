#!/usr/bin/env bash
# JudgeBench board: the five reward models whose per-pair outputs JudgeBench publishes
# (github ScalerLab/JudgeBench, outputs/, commit e2c52c284e735e139b3daa61c206ee208f36c461),
# imported with `rmbench import judgebench`, beside rmbench's length and random baselines
# scored on the same 350 GPT-4o pairs. Only results.json + scores.jsonl are copied here.
#   JB=/path/to/JudgeBench leaderboards/judgebench/generate.sh   # records and board
#   BOARDS_ONLY=1 leaderboards/judgebench/generate.sh              # the board from the committed records
# DATA (default ../shared/data) holds judgebench/dataset=judgebench,response_model=gpt-4o-2024-05-13.jsonl.
set -euo pipefail
R=leaderboards/judgebench/records
SCRATCH=${SCRATCH:-/tmp/rmbench-leaderboards/judgebench}
D=${DATA:-../shared/data}/judgebench
if [[ -z ${BOARDS_ONLY:-} ]]; then
    : "${JB:?set JB to a checkout of github.com/ScalerLab/JudgeBench}"
    mkdir -p "$R" "$SCRATCH"
    for m in Ray2333_GRM-Gemma-2B-rewardmodel-ft:GRM-Gemma-2B Skywork_Skywork-Reward-Gemma-2-27B:Skywork-Reward-Gemma-2-27B \
             Skywork_Skywork-Reward-Llama-3.1-8B:Skywork-Reward-Llama-3.1-8B internlm_internlm2-20b-reward:InternLM2-20B-Reward \
             internlm_internlm2-7b-reward:InternLM2-7B-Reward; do
        f=${m%%:*}; n=${m##*:}
        .venv/bin/rmbench import judgebench \
            "$JB/outputs/dataset=judgebench,response_model=gpt-4o-2024-05-13,judge_name=reward_model,judge_model=$f.jsonl" \
            --suite judgebench --data-root "$D" --model "$n" --out "$SCRATCH/$n" --overwrite
    done
    for b in length random; do
        .venv/bin/rmbench eval --reward baseline:$b --suite judgebench --data-root "$D" --out "$SCRATCH/baseline-$b"
    done
    for d in "$SCRATCH"/*/; do
        e=$(basename "$d"); mkdir -p "$R/$e"; cp "$d/results.json" "$d/scores.jsonl" "$R/$e/"
    done
fi
.venv/bin/rmbench leaderboard "$R" --resamples 1000 --seed 0 --format md --out leaderboards/judgebench/board.md
.venv/bin/rmbench leaderboard "$R" --resamples 1000 --seed 0 --format html --out leaderboards/judgebench/board.html
