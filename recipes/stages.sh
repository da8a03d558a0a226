# The stage helpers of the recipes (sourced, not run): a recipe calls `arguments` first, which
# sets DRY_RUN (1: print the commands only), FORWARD and FOLDERS, and sets RUNS (where its runs and
# stage markers live) before it calls the others.

arguments() {  # arguments USAGE "$@": [--dry_run] then as many folders as USAGE names, made
  # absolute; then into the repository's root, where the recipes' commands run
  local usage=$1
  shift
  DRY_RUN=0
  FORWARD=()  # --dry_run again, for a recipe that this one runs first
  if [[ "${1:-}" == "--dry_run" ]]; then
    DRY_RUN=1
    FORWARD=(--dry_run)
    shift
  fi
  if [[ $# -ne $(wc -w <<< "$usage") ]]; then
    echo "usage: $0 [--dry_run] $usage" >&2
    exit 2
  fi
  FOLDERS=()
  local folder
  for folder in "$@"; do FOLDERS+=("$(realpath -m -- "$folder")"); done
  cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
  PYTHON=${PYTHON:-.venv/bin/python}
}

photo_arguments() {  # photo_arguments "$@": `arguments` for the recipes that start from the
  # photos (v3 and the ones that run it first), naming the folders PHOTOS, ANIME and RUNS
  arguments "PHOTO_DIR ANIME_DIR RUNS_DIR" "$@"
  PHOTOS=${FOLDERS[0]}
  ANIME=${FOLDERS[1]}
  RUNS=${FOLDERS[2]}
}

# The model cards' flags of the pair runs (v3's and v4's), every one named so that a recipe stays
# its model's if the defaults change; a recipe adds --dataset_dir and the run's own flags.
PAIR_FLAGS=(--generator=animegan_v2 --extractor=vgg16 --face_extractor=vgg16
            --extractor_weights=imagenet --face_extractor_weights=imagenet --mixed_precision=off
            --image_size=256 --crop_size=128 --batch_size=8 --init_epochs=0 --steps_per_epoch=50
            --color_scale=32 --pair_weight=1000 --con_weight=1.5 --face_weight=1.0
            --content_source=pair --nogradient_norms --seed=0)
# v4's skin colour term (its card: on the face's mean colour, weight 300), kept by v5.
V4_SKIN=(--skin_weight=300 --skin_statistic=mean)

run() {  # prints the command (shell-quoted), then runs it unless --dry_run
  printf '%q ' "$@" | sed 's/ $//'
  echo
  if [[ $DRY_RUN == 0 ]]; then "$@"; fi
}

stage() {  # stage N DESCRIPTION: 0 (run it) unless RUNS_DIR/.stageN.done says it is finished
  if [[ -e "$RUNS/.stage$1.done" ]]; then
    echo "# stage $1 ($2): done, skipped"
    return 1
  fi
  echo "# stage $1: $2"
}

finished() {  # marks stage N finished
  if [[ $DRY_RUN == 0 ]]; then touch "$RUNS/.stage$1.done"; fi
}

end_folder() {  # end_folder RUN EPOCH DEST: the run's checkpoint of EPOCH as a model folder
  local checkpoint="$1/checkpoints/keras-ckpt-$2"
  run mkdir -p "$3"
  if [[ $DRY_RUN == 0 && ! -f "$checkpoint/counters.json" ]]; then
    echo "$0: no finished checkpoint of epoch $2 in $1/checkpoints" >&2
    exit 1
  fi
  run cp "$checkpoint/generator.weights.h5" "$checkpoint/discriminator.weights.h5" \
    "$1/config.json" "$3/"
}

average_last_three() {  # average_last_three RUN DEST: the mean of RUN's checkpoints of epochs 2,
  # 3 and 4 (steps 100, 150, 200 at 50 steps an epoch: the three a run keeps) as DEST's generator,
  # with RUN's config, exported to float16 TFLite. Two interpolate.py calls: (a + b) / 2 blended
  # with c at 1/3 is the mean of the three.
  local epoch
  for epoch in 2 3 4; do
    end_folder "$1" $epoch "$1/epoch$epoch"
  done
  run mkdir -p "$2"
  run "$PYTHON" interpolate.py --model_a="$1/epoch2" --model_b="$1/epoch3" \
    --alpha=0.5 --output="$1/epochs23.weights.h5"
  run "$PYTHON" interpolate.py --model_a="$1/epochs23.weights.h5" \
    --model_b="$1/epoch4" --alpha=0.3333333333333333 \
    --output="$2/generator.weights.h5"
  run cp "$1/config.json" "$2/"
  run "$PYTHON" export.py --model_dir="$2" --output_dir="$2" --formats=tflite \
    --quantize=float16
}
