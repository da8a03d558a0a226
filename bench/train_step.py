"""Seconds per GAN train step, VGG19 vs MobileNet content extractor, interleaved in one run.

    python bench/train_step.py --image_size=256 --batch_size=4 --steps=3 --rounds=2

Random extractor weights (same speed as ImageNet ones, no download). The face loss runs with the
ResNet101 face extractor at the default 128 px crop. Prints the median step time of each, their
ratio (the thesis reports MobileNet / VGG19 = 0.89 in training time), and the process' peak RSS.
"""

import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from animegan_face.config import Config, DataConfig, ModelConfig  # noqa: E402
from animegan_face.training import build_trainers  # noqa: E402

flags.DEFINE_integer("image_size", 256, "Image side.")
flags.DEFINE_integer("batch_size", 4, "Batch size.")
flags.DEFINE_integer("steps", 3, "Timed steps per round and extractor.")
flags.DEFINE_integer("rounds", 2, "Interleaved rounds.")
flags.DEFINE_list("extractors", ["vgg19", "mobilenet"], "Content extractors to compare.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    size, batch = FLAGS.image_size, FLAGS.batch_size
    rng = np.random.default_rng(0)
    images = lambda: tf.constant(rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32))  # noqa: E731
    boxes = tf.constant([[0.2, 0.25, 0.8, 0.75]] * batch)
    data = ((images(), boxes, images(), images(), images()),)

    steps, build_seconds, first_step = {}, {}, {}
    for name in FLAGS.extractors:
        started = time.perf_counter()
        config = Config(data=DataConfig(image_size=size, batch_size=batch),
                        model=ModelConfig(extractor=name, extractor_weights="none",
                                          face_extractor_weights="none"))
        _, gan = build_trainers(config)
        steps[name] = tf.function(gan.train_step)
        build_seconds[name] = time.perf_counter() - started
        started = time.perf_counter()
        steps[name](data)  # trace and first run
        first_step[name] = time.perf_counter() - started

    times = {name: [] for name in FLAGS.extractors}
    for _ in range(FLAGS.rounds):
        for name in FLAGS.extractors:
            for _ in range(FLAGS.steps):
                started = time.perf_counter()
                logs = steps[name](data)
                float(logs["g_total"])  # wait for the result
                times[name].append(time.perf_counter() - started)

    base = FLAGS.extractors[0]
    print(f"GAN train step, {size}x{size}, batch {batch}, {FLAGS.rounds} rounds x {FLAGS.steps} steps, "
          f"{os.cpu_count()} CPUs, TensorFlow {tf.__version__}")
    print(f"| extractor | median s/step | ratio to {base} | first step (trace) s |")
    print("| --- | --- | --- | --- |")
    for name in FLAGS.extractors:
        median = float(np.median(times[name]))
        print(f"| {name} | {median:.2f} | {median / float(np.median(times[base])):.3f} | "
              f"{first_step[name]:.1f} |")
    print(f"peak RSS of the process (all models above): "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2:.2f} GiB")


if __name__ == "__main__":
    app.run(main)
