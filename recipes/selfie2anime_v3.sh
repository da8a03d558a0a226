#!/usr/bin/env bash
# Reproduces checkpoints/selfie2anime_v3 (shipped until v4), from the photos and anime images,
# stage by stage (its model card, "Recipe", says what each stage is and why):
#
#     recipes/selfie2anime_v3.sh PHOTO_DIR ANIME_DIR RUNS_DIR             # run, or continue
#     recipes/selfie2anime_v3.sh --dry_run PHOTO_DIR ANIME_DIR RUNS_DIR   # print the commands only
#
# PHOTO_DIR, ANIME_DIR: selfie2anime's photo/ and anime/ (the model's held-out photos, listed in
# checkpoints/selfie2anime_v2/holdout_photos.txt, are left out). RUNS_DIR: the prepared sets, the
# run folders and the result, RUNS_DIR/v3/. Resumable as recipes/selfie2anime_v2.sh is: a finished
# stage leaves RUNS_DIR/.stageN.done; prepare.py redoes nothing for a set already prepared.
#
# First the training set (RUNS_DIR/data) and its seeded sample of 600 photos (RUNS_DIR/data600,
# prepare.py --photo_sample), then stages 0-5 of recipes/selfie2anime_v2.sh on the training set
# (v3 starts from its stylised end; v2 itself comes out too), then: 6 the sample's pseudo-pair
# targets, drawn by the stylised end; 7 the pair run, 150 steps from the stylised end's G and D;
# 8 250 more steps from step 150 with a fresh Adam (as v3's run had it, its machine having been
# lost there), exported to float16 TFLite. Stages 7-8 run in float32, as v3's did.
set -euo pipefail

source "$(dirname -- "${BASH_SOURCE[0]}")/stages.sh"
photo_arguments "$@"
for folder in "$PHOTOS" "$ANIME"; do
  if [[ $DRY_RUN == 0 && ! -d "$folder" ]]; then
    echo "$0: $folder is not a folder" >&2
    exit 2
  fi
done

prepare() {  # prepare OUTPUT [FLAGS...]: prepare.py's exit 3 (some images skipped) is no failure
  run "$PYTHON" prepare.py --photo_dir="$PHOTOS" --anime_dir="$ANIME" --output_dir="$1" \
    --exclude_list=checkpoints/selfie2anime_v2/holdout_photos.txt "${@:2}" || [[ $? == 3 ]]
}

if [[ $DRY_RUN == 0 ]]; then mkdir -p "$RUNS"; fi
echo "# the training set and its seeded 600-photo sample"
prepare "$RUNS/data"
prepare "$RUNS/data600" --photo_sample=600 --sample_seed=0
bash recipes/selfie2anime_v2.sh "${FORWARD[@]}" "$RUNS/data" "$RUNS"

PAIRS=(--dataset_dir="$RUNS/data600" "${PAIR_FLAGS[@]}")

if stage 6 "the sample's targets: the stylised end's drawings, filtered, skin colour, lines"; then
  run "$PYTHON" make_pairs.py --dataset_dir="$RUNS/data600" --model="$RUNS/stylised_end" \
    --skin_colour=1.0 --skin_lightness=0.5 --line_strength=0.8
  finished 6
fi
if stage 7 "the pair run: 150 steps from the stylised end's G and D"; then
  run "$PYTHON" train.py "${PAIRS[@]}" --init_from="$RUNS/stylised_end" --model_dir="$RUNS/pairs" \
    --epochs=3
  end_folder "$RUNS/pairs" 3 "$RUNS/pairs150"
  finished 7
fi
if stage 8 "250 more steps from step 150, a fresh Adam: v3, exported to float16 TFLite"; then
  run "$PYTHON" train.py "${PAIRS[@]}" --init_from="$RUNS/pairs150" --model_dir="$RUNS/pairs400" \
    --epochs=5
  end_folder "$RUNS/pairs400" 5 "$RUNS/v3"
  run "$PYTHON" export.py --model_dir="$RUNS/v3" --output_dir="$RUNS/v3" --formats=tflite \
    --quantize=float16
  finished 8
fi
echo "# done: $RUNS/v3"
