"""The README's main job: stylise photos with the shipped face model, on the CPU, in seconds.

    python demo.py --output_dir=runs/demo

Finds every face in the photos of --input (default: the public-domain photo in assets/), stylises
each with the shipped model (checkpoints/selfie2anime_v6, float16 TFLite, run by LiteRT: no
TensorFlow start-up) at the size it was trained at (its export_manifest.json says), pastes it
back, and writes OUTPUT_DIR/side_by_side.png (each photo beside its stylisation) and
OUTPUT_DIR/<photo>.png.
Give --model more than once to compare models: one column per model, in the order given, and
OUTPUT_DIR/<photo>_<k>.png for the k-th (from 1).
To train a model yourself, see demo_train.py (`make train-demo`) and docs/training.md.
"""

import os
import pathlib
import sys
import time

from absl import app, flags

from animegan_face.deployment.inference import SHIPPED_MODEL, SHIPPED_TFLITE

REPO = pathlib.Path(__file__).resolve().parent

flags.DEFINE_multi_string("model", [str(SHIPPED_TFLITE)],
                          "A generator (anything stylize.py takes); repeat to compare models.")
flags.DEFINE_string("input", str(REPO / "assets"), "A photo or a folder of photos.")
flags.DEFINE_string("output_dir", "runs/demo", "Where the pictures go.")
flags.DEFINE_integer("image_size", 0, "Face crop size fed to the model; 0: the shipped model's "
                     "training size (its export_manifest.json).")
FLAGS = flags.FLAGS


def _training_size():
    from animegan_face.deployment.provenance import model_image_size

    return model_image_size(SHIPPED_MODEL)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    started = time.time()
    import numpy as np

    from animegan_face.data.image_files import (ImageReadError, image_grid, list_images, read_image,
                                                write_image)
    from animegan_face.deployment import stylize
    from animegan_face.deployment.inference import ModelLoadError, load_stylizer

    source = pathlib.Path(FLAGS.input)
    paths = list_images(source) if source.is_dir() else [source]
    if not paths or not all(path.is_file() for path in paths):
        sys.exit(f"demo.py: --input: no photo at {source}")
    stylizers = []
    for model in FLAGS.model:
        try:
            stylizers.append(load_stylizer(model))
        except (ModelLoadError, FileNotFoundError) as error:
            sys.exit(f"demo.py: {error}")
    options = stylize.StylizeOptions(mode="face", image_size=FLAGS.image_size or _training_size())
    out = pathlib.Path(FLAGS.output_dir)
    print(f"Model{'s' if len(FLAGS.model) > 1 else ''} {', '.join(FLAGS.model)}, "
          f"faces stylised at {options.image_size} px")
    rows = []
    for path in paths:
        try:
            rgb = read_image(path)
        except ImageReadError as error:
            sys.exit(f"demo.py: {error}")
        row = [rgb]
        for k, stylizer in enumerate(stylizers, start=1):
            begun = time.time()
            result = stylize.stylize_image(stylizer, rgb, options)
            found = "no face found: whole frame stylised" if result.fell_back_to_full else (
                f"{result.faces} face{'s' if result.faces != 1 else ''}")
            name = f"{path.stem}.png" if len(stylizers) == 1 else f"{path.stem}_{k}.png"
            write_image(out / name, result.image)
            print(f"  {path.name}: {found}, {time.time() - begun:.1f} s -> {out / name}")
            row.append(result.image)
        rows.append(row)
    # One row per photo, all scaled to the width of the first.
    width = rows[0][0].shape[1]
    scaled = [[_resize_to_width(image, width) for image in row] for row in rows]
    height = max(row[0].shape[0] for row in scaled)
    padded = [[_pad_to_height(image, height) for image in row] for row in scaled]
    write_image(out / "side_by_side.png", image_grid([np.stack(column) for column in zip(*padded)]))
    columns = " | ".join(f"model {k}" for k in range(1, len(stylizers) + 1))
    columns = "stylised" if len(stylizers) == 1 else columns
    print(f"Wrote {out / 'side_by_side.png'} (photo | {columns}) in {time.time() - started:.1f} s")


def _resize_to_width(image, width):
    import cv2

    if image.shape[1] == width:
        return image
    return cv2.resize(image, (width, round(image.shape[0] * width / image.shape[1])),
                      interpolation=cv2.INTER_AREA)


def _pad_to_height(image, height):
    import numpy as np

    return np.pad(image, ((0, height - image.shape[0]), (0, 0), (0, 0)), constant_values=255)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    app.run(main)
