#!/usr/bin/env bash
# Reproduces the shipped model, checkpoints/selfie2anime_v6, from the photos and anime images,
# stage by stage (its model card, "Recipe", says what each stage is and why):
#
#     recipes/selfie2anime_v6.sh PHOTO_DIR ANIME_DIR RUNS_DIR             # run, or continue
#     recipes/selfie2anime_v6.sh --dry_run PHOTO_DIR ANIME_DIR RUNS_DIR   # print the commands only
#
# Arguments, resuming and stages 0-13 are recipes/selfie2anime_v5.sh's, in the same RUNS_DIR (v5,
# the model v6 is compared with, comes out too). v6 is v5's run with the crack term on the skin
# and the Gram term doubled: 14 200 steps from v3's G and D (a fresh Adam) on stage 9's targets,
# v5's flags plus --crack_weight=3000 --gra_weight=7; 15 the mean of the run's three kept
# checkpoints (steps 100, 150 and 200), exported to float16 TFLite: RUNS_DIR/v6/.
set -euo pipefail

source "$(dirname -- "${BASH_SOURCE[0]}")/stages.sh"
photo_arguments "$@"

bash recipes/selfie2anime_v5.sh "${FORWARD[@]}" "$PHOTOS" "$ANIME" "$RUNS"

if stage 14 "200 steps from v3's G and D on v4's targets, v5's flags, crack term 3000, Gram 7"; then
  run "$PYTHON" train.py --dataset_dir="$RUNS/data600v3" "${PAIR_FLAGS[@]}" "${V4_SKIN[@]}" \
    --input_grain=0.03 --crack_weight=3000 --gra_weight=7 --init_from="$RUNS/v3" \
    --model_dir="$RUNS/v6_run" --epochs=4
  finished 14
fi
if stage 15 "the mean of the run's checkpoints at steps 100, 150 and 200: v6, float16 TFLite"; then
  average_last_three "$RUNS/v6_run" "$RUNS/v6"
  finished 15
fi
echo "# done: $RUNS/v6"
