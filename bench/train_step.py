"""Seconds per GAN train step for several configurations, interleaved in one process.

    python bench/train_step.py --variants=vgg19,mobilenet
    python bench/train_step.py --variants=huber,l1,l2
    python bench/train_step.py --variants=vgg19,generator_v2
    python bench/train_step.py --variants=all_terms,no_con,no_gra,no_gra_con,no_col,no_skin,no_face
    python bench/train_step.py --variants=shipped_f32,shipped_bf16 --image_size=128 --batch_size=8

A term switched off (weight 0) is not computed at all (`objectives.generator_terms`), so each
"no_" row shows what that term costs. The adversarial term is not among them: at adv 0 the
discriminator would still run, on a zero loss.

All variants run at --image_size (256) and --batch_size (4) on the same fixed batch, with random
extractor weights (same speed as ImageNet ones, no download). Rounds alternate between the
variants so that machine noise hits them alike; the table gives each median and its ratio to the
first variant. The thesis' training-time ratios: MobileNet / VGG19 = 0.89, Huber / L1 = 1.057.
"""

import dataclasses
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from animegan_face.config import (  # noqa: E402
    Config, DataConfig, LossConfig, ModelConfig, TrainConfig)
from animegan_face.training.loop import set_precision_policy  # noqa: E402
from animegan_face.training.tf_training import build_trainers  # noqa: E402

# The thesis' networks, named: the defaults became the shipped model's (v2, VGG16) after the
# variants below were measured.
_RANDOM = ModelConfig(generator="animegan_v1", extractor="vgg19", face_extractor="resnet101",
                      extractor_weights="none", face_extractor_weights="none")
_SHIPPED = {"generator": "animegan_v2", "extractor": "vgg16", "face_extractor": "vgg16"}
_FLOAT32 = TrainConfig(mixed_precision="off")
# Each variant changes the thesis configuration (VGG19, ResNet101 faces, Huber, all six terms),
# in float32 unless it says otherwise.
VARIANTS = {
    "vgg19": {},
    "all_terms": {},
    "huber": {},
    "mobilenet": {"model": {"extractor": "mobilenet"}},
    "generator_v2": {"model": {"generator": "animegan_v2"}},  # the lighter AnimeGANv2 generator
    "l1": {"loss": {"distance": "l1"}},
    "l2": {"loss": {"distance": "l2"}},
    "no_face": {"loss": {"face": 0.0}},  # no ResNet101 is built either
    "no_skin": {"loss": {"skin": 0.0}},
    "no_col": {"loss": {"col": 0.0}},
    "no_con": {"loss": {"con": 0.0}},
    "no_gra": {"loss": {"gra": 0.0}},
    "no_gra_con": {"loss": {"gra": 0.0, "con": 0.0}},  # no VGG19 pass in the G update
    "animegan": {"loss": {"face": 0.0, "skin": 0.0}},
    # The shipped model's recipe (v2 generator, VGG16 content and face features), in float32 and
    # in bfloat16 compute (fast on CPUs with AVX-512-BF16 or AMX).
    "shipped_f32": {"model": _SHIPPED},
    "shipped_bf16": {"model": _SHIPPED, "train": {"mixed_precision": "bfloat16"}},
}

flags.DEFINE_integer("image_size", 256, "Image side.")
flags.DEFINE_integer("batch_size", 4, "Batch size.")
flags.DEFINE_integer("steps", 2, "Timed steps per round and variant.")
flags.DEFINE_integer("rounds", 3, "Interleaved rounds.")
flags.DEFINE_list("variants", ["vgg19", "mobilenet"], f"Any of {sorted(VARIANTS)}.")
FLAGS = flags.FLAGS


def variant_config(name, size, batch):
    change = VARIANTS[name]
    return Config(data=DataConfig(image_size=size, batch_size=batch),
                  model=dataclasses.replace(_RANDOM, **change.get("model", {})),
                  loss=dataclasses.replace(LossConfig(), **change.get("loss", {})),
                  train=dataclasses.replace(_FLOAT32, **change.get("train", {})))


def main(argv):
    del argv
    unknown = set(FLAGS.variants) - set(VARIANTS)
    if unknown:
        raise app.UsageError(f"--variants: unknown {sorted(unknown)}")
    size, batch = FLAGS.image_size, FLAGS.batch_size
    rng = np.random.default_rng(0)
    images = lambda: tf.constant(rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32))  # noqa: E731
    boxes = tf.constant([[0.2, 0.25, 0.8, 0.75]] * batch)
    photo = images()
    data = ((photo, boxes, images(), images(), images(), photo),)

    steps, first_step = {}, {}
    for name in FLAGS.variants:
        config = variant_config(name, size, batch)
        set_precision_policy(config)  # read when the layers are built
        _, gan = build_trainers(config)
        set_precision_policy(Config(train=_FLOAT32))
        steps[name] = tf.function(gan.train_step)
        started = time.perf_counter()
        float(steps[name](data)["g_total"])  # trace and first run
        first_step[name] = time.perf_counter() - started

    times = {name: [] for name in FLAGS.variants}
    for _ in range(FLAGS.rounds):
        for name in FLAGS.variants:
            for _ in range(FLAGS.steps):
                started = time.perf_counter()
                float(steps[name](data)["g_total"])  # waits for the step
                times[name].append(time.perf_counter() - started)

    base = FLAGS.variants[0]
    base_median = float(np.median(times[base]))
    print(f"GAN train step (D then G update), {size}x{size}, batch {batch}, {FLAGS.rounds} "
          f"interleaved rounds x {FLAGS.steps} steps, {os.cpu_count()} CPUs, TensorFlow {tf.__version__}")
    print(f"| variant | median s/step | ratio to {base} | first step (trace) s |")
    print("| --- | --- | --- | --- |")
    for name in FLAGS.variants:
        median = float(np.median(times[name]))
        print(f"| {name} | {median:.2f} | {median / base_median:.3f} | {first_step[name]:.1f} |")
    print(f"peak RSS of the process (all variants above): "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2:.2f} GiB")


if __name__ == "__main__":
    app.run(main)
