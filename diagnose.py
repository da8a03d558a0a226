"""Prints how strongly each weighted loss term pulls on a run's generator, on a real batch.

    python diagnose.py --model_dir=runs/mine                       # the run's own settings
    python diagnose.py --model_dir=runs/mine --color_scales=1,255  # compare colour-term scales

For the run's latest checkpoint, or the weights it starts from (--init_from) before its first
one (networks and extractors as config.json says), and a fixed batch of
its dataset, prints per term ||d(weight * term)/d G(p)|| and ||d(weight * term)/d theta_G|| (see
animegan_face/loss/diagnostics.py), averaged over --batches batches. Training logs the same norms to
TensorBoard each GAN epoch (`grad_norm/...`). Nothing in the run folder is changed.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

flags.DEFINE_string("model_dir", None, "A training run folder (config.json, checkpoints/).")
flags.DEFINE_list("color_scales", [], "Measure with these color_scale values instead of the run's.")
flags.DEFINE_list("distances", [], "Measure with these distances instead of the run's.")
flags.DEFINE_integer("batches", 2, "Batches of 8 to average over.", lower_bound=1)
flags.DEFINE_integer("image_size", 0, "Image size; 0: the run's.")
flags.mark_flag_as_required("model_dir")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    import dataclasses
    import json

    from animegan_face.config import Config
    from animegan_face.training.run_folder import RunFolder

    run = RunFolder(FLAGS.model_dir)
    try:
        config = Config.from_json(run.config_path.read_text())
    except OSError as error:
        sys.exit(f"diagnose.py: --model_dir: {error}")
    # A run with nothing to measure fails here, before TensorFlow is imported and the networks
    # are built (a minute at full size).
    if not run.has_checkpoints() and not config.train.init_from:
        sys.exit(f"diagnose.py: no checkpoint in {run.checkpoints_dir}, and no --init_from")
    from animegan_face.loss import diagnostics
    from animegan_face.training.keras_checkpoint import training_checkpoint
    from animegan_face.training.loop import (
        diagnostic_batch, resolve_dataset, resume, set_precision_policy)
    from animegan_face.training.run_checks import SetupError
    from animegan_face.training.tf_training import build_trainers

    if FLAGS.image_size:
        config = dataclasses.replace(
            config, data=dataclasses.replace(config.data, image_size=FLAGS.image_size))
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, photo_dir="",
                                                                   anime_dir=""))
    set_precision_policy(config)
    try:
        files = resolve_dataset(config)
    except SetupError as error:
        sys.exit(f"diagnose.py: {error}")
    warmup, gan = build_trainers(config)
    checkpoint = training_checkpoint(run.checkpoints_dir, gan.generator, gan.discriminator,
                                     warmup.optimizer, gan.g_optimizer, gan.d_optimizer)
    try:  # the latest checkpoint, else the legacy one, else the weights --init_from starts from
        latest, _, _ = resume(run, checkpoint, config)
    except SetupError as error:
        sys.exit(f"diagnose.py: {error}")
    latest = latest or config.train.init_from
    size = config.data.image_size
    batches = [diagnostic_batch(_subset(files, k), size) for k in range(FLAGS.batches)]
    variants = [(scale, distance)
                for scale in (FLAGS.color_scales or [config.loss.color_scale])
                for distance in (FLAGS.distances or [config.loss.distance])]
    print(f"{latest}, {len(batches)} batches of 8 at {size} px, {config.train.mixed_precision} "
          f"compute; weights {json.dumps(dataclasses.asdict(config.loss))}")
    for scale, distance in variants:
        loss = dataclasses.replace(config.loss, color_scale=float(scale), distance=distance)
        measured = [diagnostics.term_gradient_norms(
            gan.generator, gan.discriminator, gan.content_extractor, gan.face_extractor, batch,
            loss, config.model.face_crop_size) for batch in batches]
        mean = {key: float(np.mean([m[key] for m in measured])) for key in measured[0]}
        print(f"\ncolor_scale={float(scale):g}, distance={distance}")
        print(diagnostics.format_norms(mean))


def _subset(files, k, count=8):
    """The files with photos and anime shifted by k batches, so each batch holds other images."""
    import dataclasses

    shift = k * count * 4
    photos = (files.photos[shift:] + files.photos[:shift])
    boxes = np.roll(files.photo_boxes, -shift, axis=0) if shift else files.photo_boxes
    return dataclasses.replace(files, photos=photos, photo_boxes=boxes,
                               anime=files.anime[shift:] + files.anime[:shift],
                               smooth=files.smooth[shift:] + files.smooth[:shift])


if __name__ == "__main__":
    app.run(main)
