"""Trains the thesis model (or the AnimeGAN baseline): warm-up, then the GAN; resumes by itself.

    python train.py --photo_dir=PHOTOS --anime_dir=ANIME --model_dir=runs/face
    python train.py --model_dir=runs/face ...      # same command again after a crash: resumes
    python train.py --preset=animegan --model_dir=runs/base --dry_run   # print the config, exit
    python train.py --preset=smoke --photo_dir=... --anime_dir=... --model_dir=runs/smoke

The defaults train selfie2anime_v2's networks and loss weights (ImageNet VGG16: without
internet, run `python fetch_weights.py vgg16` once); recipes/selfie2anime_v2.sh reproduces it
stage by stage, and the shipped selfie2anime_v6 continues it on pseudo-pairs (v3's to v6's
model cards; recipes/selfie2anime_v6.sh). Flags are read once into a `Config` (written to
model_dir/config.json). Each flag's default and help come from its field in
animegan_face/config.py: `python train.py --helpshort` lists them.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from animegan_face.config import PRESETS, config_from_options, options  # noqa: E402

FLAGS = flags.FLAGS
_DEFINE = {str: flags.DEFINE_string, int: flags.DEFINE_integer, float: flags.DEFINE_float,
           bool: flags.DEFINE_bool}


def define_config_flags():
    """One flag per config field, its default and help taken from the field (config.option)."""
    for option in options():
        default = None if option.required else option.default
        if option.choices:
            flags.DEFINE_enum(option.flag, default, option.choices, option.help)
        else:
            _DEFINE[option.kind](option.flag, default, option.help)
        if option.required:
            flags.mark_flag_as_required(option.flag)


flags.DEFINE_enum("preset", "thesis", sorted(PRESETS),
                  "Starting values of every option: 'thesis' (the defaults: the thesis' six terms "
                  "on the shipped model's networks), 'animegan' (no skin/face terms), "
                  "'thesis_networks' (AnimeGAN v1 generator, VGG19, ResNet101) or 'smoke' (random "
                  "extractors, 64 px, a few steps). Flags given explicitly override the preset.")
define_config_flags()
flags.DEFINE_bool("dry_run", False, "Print the resolved config and exit.")


def config_from_flags():
    """The run's Config: the flags given explicitly, the rest from --preset."""
    given = {option.flag: FLAGS[option.flag].value for option in options()
             if FLAGS[option.flag].present}
    return config_from_options(given, PRESETS[FLAGS.preset])


def main(argv):
    logging.set_verbosity(logging.WARNING)  # TensorFlow's INFO lines would bury the progress bars
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        config = config_from_flags()
    except ValueError as error:  # Config checks name the field, which is the flag's name
        raise app.UsageError(f"--{error}") from None
    for name in ("photo_dir", "anime_dir", "dataset_dir"):
        path = getattr(config.data, name)
        if path and not os.path.isdir(path):
            raise app.UsageError(f"--{name}: no such folder: {path}")
    if config.train.strategy == "multi_worker" and not os.environ.get("TF_CONFIG"):
        raise app.UsageError("--strategy=multi_worker: set TF_CONFIG on every worker (see "
                             "docs/training.md, 'Train on several machines')")
    print(config.to_json())
    if FLAGS.dry_run:
        return
    # Heavy imports only after the flags are valid. KERAS_BACKEND picks the training path (in
    # `train`); the JAX one never imports TensorFlow.
    from animegan_face.models.extractors import WeightsUnavailableError
    from animegan_face.training import train
    from animegan_face.training.run_checks import NonFiniteError, SetupError

    try:
        epochs = train(config)
    # each names the file, the step and term, or (offline, no weights) `fetch_weights.py vgg16`
    except (SetupError, NonFiniteError, WeightsUnavailableError) as error:
        sys.exit(f"train.py: {error}")
    print(f"Done: {epochs} epochs in {config.train.model_dir}", file=sys.stderr)


if __name__ == "__main__":
    app.run(main)
