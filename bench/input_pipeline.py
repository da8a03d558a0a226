"""Input pipeline throughput beside the generator's, in one run: is the pipeline ever the bottleneck?

    python bench/input_pipeline.py --photo_dir=../shared/data/selfie2anime/photo \
        --anime_dir=../shared/data/selfie2anime/anime --count=300

Prepares `count` photos and anime images into a temporary folder (timed: images/s), then times
the input pipeline's batches as the train steps get them (`NumpyBatches` directly under JAX and
under TensorFlow on one replica, through tf.data's `make_dataset` for several replicas) and, on the same batch size, the generator's forward
pass alone (a train step costs several times more). A ratio above 1 means the pipeline outruns
even inference.
"""

import os
import pathlib
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from animegan_face.data.image_files import list_images  # noqa: E402
from animegan_face.data.pipeline import NumpyBatches, load_dataset_files, make_dataset  # noqa: E402
from animegan_face.data.preparation import prepare_dataset  # noqa: E402
from animegan_face.models.networks import build_generator  # noqa: E402

flags.DEFINE_string("photo_dir", None, "Photos.")
flags.DEFINE_string("anime_dir", None, "Anime images.")
flags.DEFINE_integer("count", 300, "Images taken from each folder.")
flags.DEFINE_integer("image_size", 256, "Image side.")
flags.DEFINE_integer("batch_size", 6, "Batch size.")
flags.DEFINE_integer("batches", 40, "Timed batches.")
flags.mark_flags_as_required(["photo_dir", "anime_dir"])
FLAGS = flags.FLAGS


def _subset(source, target, count):
    target.mkdir(parents=True)
    for path in list_images(source)[:count]:
        (target / path.name).symlink_to(path.resolve())


def _batches_per_s(iterator):
    next(iterator)  # decoding threads started
    started = time.perf_counter()
    for _ in range(FLAGS.batches):
        next(iterator)
    return FLAGS.batches / (time.perf_counter() - started)


def main(argv):
    del argv
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        _subset(FLAGS.photo_dir, root / "photo_in", FLAGS.count)
        _subset(FLAGS.anime_dir, root / "anime_in", FLAGS.count)
        started = time.perf_counter()
        report = prepare_dataset(root / "photo_in", root / "anime_in", root / "prepared",
                                 image_size=FLAGS.image_size, progress=False)
        prepare_rate = (report.photos_read + report.anime_read) / (time.perf_counter() - started)

        files = load_dataset_files(root / "prepared")
        with NumpyBatches(files, FLAGS.image_size, FLAGS.batch_size) as batches:
            numpy_rate = _batches_per_s(batches)
        pipeline_rate = _batches_per_s(iter(make_dataset(files, FLAGS.image_size, FLAGS.batch_size)))
        batch = next(iter(make_dataset(files, FLAGS.image_size, FLAGS.batch_size)))

    generator = tf.function(build_generator())
    photos = batch[0]
    generator(photos)
    started = time.perf_counter()
    for _ in range(5):
        np.asarray(generator(photos))
    generator_rate = 5 / (time.perf_counter() - started)

    print(f"{FLAGS.image_size}x{FLAGS.image_size}, batch {FLAGS.batch_size}, {os.cpu_count()} CPUs")
    print("| what | figure |")
    print("| --- | --- |")
    print(f"| dataset preparation (read, detect faces, smooth, write) | {prepare_rate:.1f} images/s |")
    for name, rate in (("input pipeline, numpy batches (JAX; TensorFlow on one replica)", numpy_rate),
                       ("input pipeline through tf.data (TensorFlow, several replicas)",
                        pipeline_rate)):
        print(f"| {name} | {rate:.2f} batches/s = {rate * FLAGS.batch_size * 2:.0f} "
              "images/s (photo + anime) |")
    print(f"| generator forward alone | {generator_rate:.2f} batches/s |")
    print(f"| pipeline / generator forward | {pipeline_rate / generator_rate:.1f}x |")
    print(f"| photos without a detected face | {len(report.photos_without_face)} of {report.photos_read} |")


if __name__ == "__main__":
    app.run(main)
