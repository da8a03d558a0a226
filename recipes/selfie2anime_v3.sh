#!/usr/bin/env bash
# Reproduces the shipped model, checkpoints/selfie2anime_v3, from the photos and anime images,
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

DRY_RUN=0
FORWARD=()
if [[ "${1:-}" == "--dry_run" ]]; then
  DRY_RUN=1
  FORWARD=(--dry_run)
  shift
fi
if [[ $# -ne 3 ]]; then
  echo "usage: $0 [--dry_run] PHOTO_DIR ANIME_DIR RUNS_DIR" >&2
  exit 2
fi
PHOTOS=$(realpath -m -- "$1")
ANIME=$(realpath -m -- "$2")
RUNS=$(realpath -m -- "$3")
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-.venv/bin/python}
for folder in "$PHOTOS" "$ANIME"; do
  if [[ $DRY_RUN == 0 && ! -d "$folder" ]]; then
    echo "$0: $folder is not a folder" >&2
    exit 2
  fi
done

source recipes/stages.sh

prepare() {  # prepare OUTPUT [FLAGS...]: prepare.py's exit 3 (some images skipped) is no failure
  run "$PYTHON" prepare.py --photo_dir="$PHOTOS" --anime_dir="$ANIME" --output_dir="$1" \
    --exclude_list=checkpoints/selfie2anime_v2/holdout_photos.txt "${@:2}" || [[ $? == 3 ]]
}

if [[ $DRY_RUN == 0 ]]; then mkdir -p "$RUNS"; fi
echo "# the training set and its seeded 600-photo sample"
prepare "$RUNS/data"
prepare "$RUNS/data600" --photo_sample=600 --sample_seed=0
bash recipes/selfie2anime_v2.sh "${FORWARD[@]}" "$RUNS/data" "$RUNS"

# The card's flags of the pair stages, every one named so that the recipe stays v3's if the
# defaults change.
PAIRS=(--dataset_dir="$RUNS/data600" --generator=animegan_v2 --extractor=vgg16
       --face_extractor=vgg16 --extractor_weights=imagenet --face_extractor_weights=imagenet
       --mixed_precision=off --image_size=256 --crop_size=128 --batch_size=8 --init_epochs=0
       --steps_per_epoch=50 --color_scale=32 --pair_weight=1000 --con_weight=1.5 --face_weight=1.0
       --content_source=pair --nogradient_norms --seed=0)

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
