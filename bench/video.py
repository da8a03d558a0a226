"""Video frames per second through stylize.py's video path, each runtime side by side.

    python bench/video.py --model=checkpoints/selfie2anime_v3 \
        --model=checkpoints/selfie2anime_v3/generator_float16.tflite --exports=onnx --size=512

Writes a short clip (--frames crops of the shipped astronaut photo, --size x --size, MPEG-4), then
stylises it whole with `stylize.stylize_video`, as `stylize.py --input=clip.mp4` does (decode,
full-frame stylisation, encode), once per runtime and round, the runtimes interleaved round by
round. Runtimes: each --model as `load_stylizer` runs it (a model_dir or .weights.h5 in Keras, a
.tflite in LiteRT, ...) and, for the first Keras model, each of --exports written by export.py's
checked exporters into a temporary folder (`onnx`, or a TFLite quantisation: `none` (float32),
`float16`). Prints frames/s (median over --rounds) and each runtime's ratio to the first.
"""

import os
import pathlib
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

# Not `export` (TensorFlow) at the top: stylize_video's decoding worker re-runs this script's top
# level (multiprocessing starts its workers by importing the main script), as it re-runs
# stylize.py's, whose top is light.
from animegan_face.deployment import stylize  # noqa: E402
from animegan_face.data.demo_data import demo_photos  # noqa: E402
from animegan_face.deployment.inference import KerasStylizer, load_stylizer  # noqa: E402

flags.DEFINE_multi_string("model", None, "A generator in any form load_stylizer takes; repeat "
                          "to compare.")
flags.DEFINE_list("exports", [], "Exports of the first Keras --model to time too: onnx, none "
                  "(float32 TFLite), float16 (TFLite).")
flags.DEFINE_integer("size", 512, "Frame side, a multiple of 4.")
flags.DEFINE_integer("frames", 24, "Frames in the clip.")
flags.DEFINE_integer("rounds", 2, "Interleaved rounds; each stylises the whole clip once per runtime.")
flags.mark_flag_as_required("model")
FLAGS = flags.FLAGS
_EXPORTS = ("onnx", "none", "float16")


def write_clip(path, frames, size, fps=25):
    """`frames` size x size crops of the astronaut photo (each holding the face) as an MPEG-4 clip."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size, size))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    for rgb in demo_photos(frames, size):
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()


def runtimes(models, exports, size, folder):
    """{label: stylizer}: the models as given, then the exports of the first Keras one."""
    found = {model: load_stylizer(model) for model in models}
    if exports:
        keras_model = next((s for s in found.values() if isinstance(s, KerasStylizer)), None)
        if keras_model is None:
            raise app.UsageError("--exports needs a Keras --model (a model_dir or .weights.h5)")
        from animegan_face.deployment import export

        photos = export.check_photos("", size, 2)
        for kind in exports:
            if kind == "onnx":
                result = export.export_onnx(keras_model.generator, folder, photos)
            else:
                result = export.export_tflite(keras_model.generator, folder, kind, photos)
            found[f"{result.path.name} (exported)"] = load_stylizer(result.path)
    return found


def frames_per_second(found, clip, output, rounds):
    """{label: [frames/s of each round]}, the runtimes interleaved round by round."""
    options = stylize.StylizeOptions(mode="full", max_side=0)
    first = cv2.VideoCapture(str(clip))
    ok, bgr = first.read()
    first.release()
    for stylizer in found.values():  # warm-up: traces, allocates, sizes tensors
        stylize.stylize_image(stylizer, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), options)
    rates = {label: [] for label in found}
    for _ in range(rounds):
        for label, stylizer in found.items():
            started = time.perf_counter()
            frames = stylize.stylize_video(stylizer, clip, output, options).frames
            rates[label].append(frames / (time.perf_counter() - started))
    return rates


def main(argv):
    del argv
    unknown = set(FLAGS.exports) - set(_EXPORTS)
    if unknown:
        raise app.UsageError(f"--exports: unknown {sorted(unknown)}, known: {_EXPORTS}")
    if FLAGS.size % 4:
        raise app.UsageError(f"--size must be a multiple of 4, got {FLAGS.size}")
    with tempfile.TemporaryDirectory() as folder:
        folder = pathlib.Path(folder)
        clip = folder / "clip.mp4"
        write_clip(clip, FLAGS.frames, FLAGS.size)
        found = runtimes(FLAGS.model, FLAGS.exports, FLAGS.size, folder)
        rates = frames_per_second(found, clip, folder / "stylised.mp4", FLAGS.rounds)
    print(f"\n{FLAGS.frames} frames of {FLAGS.size}x{FLAGS.size}, full-frame stylisation with "
          f"decoding and encoding; median of {FLAGS.rounds} rounds; {os.cpu_count()} CPUs")
    print("| runtime | frames/s | ms / frame | ratio of frames/s to the first |")
    print("| --- | --- | --- | --- |")
    base = float(np.median(next(iter(rates.values()))))
    for label, values in rates.items():
        rate = float(np.median(values))
        print(f"| {label} | {rate:.2f} | {1000 / rate:.0f} | {rate / base:.2f} |")


if __name__ == "__main__":
    app.run(main)
