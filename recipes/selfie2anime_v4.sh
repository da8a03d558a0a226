#!/usr/bin/env bash
# Reproduces checkpoints/selfie2anime_v4 (shipped until v5), from the photos and anime images,
# stage by stage (its model card, "Recipe", says what each stage is and why):
#
#     recipes/selfie2anime_v4.sh PHOTO_DIR ANIME_DIR RUNS_DIR             # run, or continue
#     recipes/selfie2anime_v4.sh --dry_run PHOTO_DIR ANIME_DIR RUNS_DIR   # print the commands only
#
# Arguments, resuming and stages 0-8 are recipes/selfie2anime_v3.sh's (v4 goes on from v3, in the
# same RUNS_DIR). Then: 9 a second copy of the 600-photo sample (RUNS_DIR/data600v3) and its
# targets drawn by v3, skin cracks inpainted, skin at the photo's colour and lightness; 10 200
# steps from v3's G and D on them (a fresh Adam) with the skin colour term on the face's mean
# colour at weight 300; 11 the mean of the run's three kept checkpoints (steps 100, 150 and
# 200: the checkpoints of one run swing, their average does not), exported to float16 TFLite:
# RUNS_DIR/v4/.
set -euo pipefail

source "$(dirname -- "${BASH_SOURCE[0]}")/stages.sh"
photo_arguments "$@"

bash recipes/selfie2anime_v3.sh "${FORWARD[@]}" "$PHOTOS" "$ANIME" "$RUNS"

if stage 9 "the sample again, its targets drawn by v3: cracks inpainted, the photo's skin colour"; then
  run "$PYTHON" prepare.py --photo_dir="$PHOTOS" --anime_dir="$ANIME" --output_dir="$RUNS/data600v3" \
    --exclude_list=checkpoints/selfie2anime_v2/holdout_photos.txt --photo_sample=600 \
    --sample_seed=0 || [[ $? == 3 ]]
  run "$PYTHON" make_pairs.py --dataset_dir="$RUNS/data600v3" --model="$RUNS/v3" \
    --skin_line_depth=10 --skin_colour=1.0 --skin_lightness=1.0 --line_strength=0.8
  finished 9
fi
if stage 10 "200 steps from v3's G and D on those targets, the skin term on the face's mean colour"; then
  run "$PYTHON" train.py --dataset_dir="$RUNS/data600v3" "${PAIR_FLAGS[@]}" "${V4_SKIN[@]}" \
    --init_from="$RUNS/v3" --model_dir="$RUNS/v4_run" --epochs=4
  finished 10
fi
if stage 11 "the mean of the run's checkpoints at steps 100, 150 and 200: v4, float16 TFLite"; then
  average_last_three "$RUNS/v4_run" "$RUNS/v4"
  finished 11
fi
echo "# done: $RUNS/v4"
