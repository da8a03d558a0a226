# The stage helpers of the recipes (sourced, not run): a recipe sets DRY_RUN (1: print the
# commands only) and RUNS (where its runs and stage markers live) before it calls them.

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
