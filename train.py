"""Trains the thesis model (or the AnimeGAN baseline): warm-up, then the GAN; resumes by itself.

    python train.py --photo_dir=PHOTOS --anime_dir=ANIME --model_dir=runs/face
    python train.py --model_dir=runs/face ...      # same command again after a crash: resumes
    python train.py --preset=animegan --dry_run    # print the resolved config and exit

Flags are read once into a `Config` (written to model_dir/config.json); see README.md for each.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from animegan_face.config import (  # noqa: E402
    DISTANCES, EXTRACTORS, FACE_EXTRACTORS, GENERATORS, PRECISIONS, PRESETS, STRATEGIES, Config,
    DataConfig, LossConfig, ModelConfig, TrainConfig)

FLAGS = flags.FLAGS
_defaults = PRESETS["thesis"]

flags.DEFINE_enum("preset", "thesis", sorted(PRESETS),
                  "Starting values: 'thesis' (all six terms) or 'animegan' (no skin/face terms). "
                  "Flags given explicitly override the preset.")
# data
flags.DEFINE_string("photo_dir", "", "Raw face photos; prepared into --dataset_dir on first use.")
flags.DEFINE_string("anime_dir", "", "Raw anime images; prepared with --photo_dir.")
flags.DEFINE_string("dataset_dir", "", "Prepared dataset (prepare.py); default MODEL_DIR/dataset.")
flags.DEFINE_integer("image_size", _defaults.data.image_size, "Training size, a multiple of 4.")
flags.DEFINE_integer("batch_size", _defaults.data.batch_size, "Global batch size.")
# schedule
flags.DEFINE_string("model_dir", None, "Checkpoints, logs, samples and config.json go here.")
flags.DEFINE_integer("epochs", _defaults.train.epochs, "GAN epochs after the warm-up.")
flags.DEFINE_integer("init_epochs", _defaults.train.init_epochs, "Warm-up epochs (content loss only).")
flags.DEFINE_integer("steps_per_epoch", 0, "Steps per epoch; 0: max(#photos, #anime) / batch.")
flags.DEFINE_float("g_lr", _defaults.train.g_lr, "Generator learning rate (Adam).")
flags.DEFINE_float("d_lr", _defaults.train.d_lr, "Discriminator learning rate (Adam).")
flags.DEFINE_float("init_lr", _defaults.train.init_lr, "Warm-up learning rate (Adam).")
# losses
for _term, _help in (("adv", "adversarial (G and D)"), ("con", "content"), ("gra", "Gram style"),
                     ("col", "colour"), ("skin", "skin colour"), ("face", "face feature")):
    flags.DEFINE_float(f"{_term}_weight", getattr(_defaults.loss, _term), f"Weight of the {_help} loss.")
flags.DEFINE_enum("distance", _defaults.loss.distance, DISTANCES, "Distance inside every loss term.")
flags.DEFINE_float("color_scale", _defaults.loss.color_scale,
                   "YUV of [0, 1] images is multiplied by this in the colour and skin terms "
                   "(1: AnimeGAN's reference scale; see README 'Loss scales').")
# flatness candidates (issue 24): off by default until a fixed-budget comparison chooses
for _term, _help in (("surface", "surface adversarial (D also judges guided-filtered images)"),
                     ("distill", "self-distillation onto G's own edge-preserving-smoothed output"),
                     ("region", "pull towards G's output with its k-means colour regions averaged")):
    flags.DEFINE_float(f"{_term}_weight", getattr(_defaults.loss, _term), f"Weight of the {_help} loss.")
flags.DEFINE_string("diffaugment", _defaults.loss.diffaugment,
                    "DiffAugment for everything the discriminator sees: '' (off) or a comma list "
                    "of color, translation, cutout.")
# networks
flags.DEFINE_enum("generator", _defaults.model.generator, GENERATORS,
                  "Generator: animegan_v1 (the thesis', 3.96 M parameters) or animegan_v2 "
                  "(2.14 M, lighter and faster, for phones).")
flags.DEFINE_enum("extractor", _defaults.model.extractor, EXTRACTORS, "Content/Gram extractor.")
flags.DEFINE_enum("face_extractor", _defaults.model.face_extractor, FACE_EXTRACTORS,
                  "Face-feature extractor ('none' turns the face loss off).")
flags.DEFINE_string("extractor_weights", _defaults.model.extractor_weights,
                    "'imagenet' (downloaded once by keras.applications), 'none', or a weights file.")
flags.DEFINE_string("face_extractor_weights", _defaults.model.face_extractor_weights,
                    "As --extractor_weights, for the face extractor.")
flags.DEFINE_integer("face_crop_size", _defaults.model.face_crop_size, "Face crop side for the face extractor.")
# execution
flags.DEFINE_enum("strategy", _defaults.train.strategy, STRATEGIES,
                  "auto: MirroredStrategy over all GPUs if any, else the default device; "
                  "multi_worker: several machines, from TF_CONFIG (see README).")
flags.DEFINE_enum("mixed_precision", "off", PRECISIONS,
                  "Compute dtype: off (float32), bfloat16 (CPUs with AVX-512-BF16 or AMX, TPUs, "
                  "recent GPUs) or float16 (GPUs, with loss scaling); losses stay float32.")
flags.DEFINE_bool("jit_compile", False, "XLA-compile the train steps (faster on GPU, ~2x slower on CPU).")
flags.DEFINE_integer("seed", _defaults.train.seed, "Random seed.")
flags.DEFINE_string("init_from", "", "Start a new run from this folder's generator.weights.h5 "
                    "(+ discriminator.weights.h5), e.g. checkpoints/selfie2anime_v2: warm-up skipped.")
flags.DEFINE_bool("dry_run", False, "Print the resolved config and exit.")
flags.mark_flag_as_required("model_dir")


def _value(name, preset_value):
    """An explicitly given flag wins over the preset."""
    return FLAGS[name].value if FLAGS[name].present else preset_value


def config_from_flags():
    preset = PRESETS[FLAGS.preset]
    data = DataConfig(
        photo_dir=FLAGS.photo_dir, anime_dir=FLAGS.anime_dir, dataset_dir=FLAGS.dataset_dir,
        image_size=FLAGS.image_size, batch_size=FLAGS.batch_size)
    model = ModelConfig(
        generator=_value("generator", preset.model.generator),
        extractor=_value("extractor", preset.model.extractor),
        extractor_weights=_value("extractor_weights", preset.model.extractor_weights),
        face_extractor=_value("face_extractor", preset.model.face_extractor),
        face_extractor_weights=_value("face_extractor_weights", preset.model.face_extractor_weights),
        face_crop_size=FLAGS.face_crop_size)
    loss = LossConfig(distance=_value("distance", preset.loss.distance),
                      color_scale=_value("color_scale", preset.loss.color_scale),
                      diffaugment=_value("diffaugment", preset.loss.diffaugment),
                      **{t: _value(f"{t}_weight", getattr(preset.loss, t))
                         for t in ("adv", "con", "gra", "col", "skin", "face", "surface", "distill",
                                   "region")})
    train = TrainConfig(
        model_dir=FLAGS.model_dir, epochs=FLAGS.epochs, init_epochs=FLAGS.init_epochs,
        steps_per_epoch=FLAGS.steps_per_epoch or None, g_lr=FLAGS.g_lr, d_lr=FLAGS.d_lr,
        init_lr=FLAGS.init_lr, strategy=FLAGS.strategy, mixed_precision=FLAGS.mixed_precision,
        jit_compile=FLAGS.jit_compile, seed=FLAGS.seed, init_from=FLAGS.init_from)
    return Config(data=data, model=model, loss=loss, train=train)


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
        raise app.UsageError("--strategy=multi_worker: set TF_CONFIG on every worker (see README)")
    print(config.to_json())
    if FLAGS.dry_run:
        return
    # Heavy imports only after the flags are valid. KERAS_BACKEND picks the training path (in
    # `train`); the JAX one never imports TensorFlow.
    from animegan_face.training import train
    from animegan_face.training.run_checks import NonFiniteError, SetupError

    try:
        epochs = train(config)
    except (SetupError, NonFiniteError) as error:  # each names the file, or the step and term
        sys.exit(f"train.py: {error}")
    print(f"Done: {epochs} epochs in {config.train.model_dir}", file=sys.stderr)


if __name__ == "__main__":
    app.run(main)
