#!/usr/bin/env bash
# Reproduces checkpoints/selfie2anime_v5 (shipped until v6), from the photos and anime images,
# stage by stage (its model card, "Recipe", says what each stage is and why):
#
#     recipes/selfie2anime_v5.sh PHOTO_DIR ANIME_DIR RUNS_DIR             # run, or continue
#     recipes/selfie2anime_v5.sh --dry_run PHOTO_DIR ANIME_DIR RUNS_DIR   # print the commands only
#
# Arguments, resuming and stages 0-11 are recipes/selfie2anime_v4.sh's, in the same RUNS_DIR (v4,
# the model v5 is compared with, comes out too). v5 is v4's run with grain on the generator's
# input: 12 200 steps from v3's G and D (a fresh Adam) on stage 9's targets, v4's flags plus
# --input_grain=0.03; 13 the mean of the run's three kept checkpoints (steps 100, 150 and 200),
# exported to float16 TFLite: RUNS_DIR/v5/.
set -euo pipefail

source "$(dirname -- "${BASH_SOURCE[0]}")/stages.sh"
photo_arguments "$@"

bash recipes/selfie2anime_v4.sh "${FORWARD[@]}" "$PHOTOS" "$ANIME" "$RUNS"

if stage 12 "200 steps from v3's G and D on v4's targets, v4's flags, grain 0.03 on G's input"; then
  run "$PYTHON" train.py --dataset_dir="$RUNS/data600v3" "${PAIR_FLAGS[@]}" "${V4_SKIN[@]}" \
    --input_grain=0.03 --init_from="$RUNS/v3" --model_dir="$RUNS/v5_run" --epochs=4
  finished 12
fi
if stage 13 "the mean of the run's checkpoints at steps 100, 150 and 200: v5, float16 TFLite"; then
  average_last_three "$RUNS/v5_run" "$RUNS/v5"
  finished 13
fi
echo "# done: $RUNS/v5"
