"""The library side of export.py: the generator as SavedModel, TFLite and ONNX, each file checked.

Every file is written under a temporary name, run on check images, compared with the Keras
generator, and only then renamed into place: a failed or drifting export never leaves a broken
file and never harms an earlier one.

Interfaces (documented in docs/export.md):
    SavedModel `serving_default`: `images` float32 (N, H, W, 3) RGB in [-1, 1] -> `stylised`, same.
    SavedModel `serving_uint8`:   `images` uint8 (N, H, W, 3) RGB 0..255 -> `stylised` uint8.
    TFLite (every quantisation): one float32 input (1, H, W, 3) in [-1, 1] -> float32 output, same.
    ONNX (opset 17, `onnx_converter.py`): `images` float32 (N, H, W, 3) in [-1, 1] -> `stylised`, same.
H and W are fixed by `input_size`, or free (multiples of 4) when it is None.
"""

import contextlib
import dataclasses
import os
import pathlib
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

from animegan_face.data.demo_data import demo_photos
from animegan_face.data.image_files import center_crop_resize, from_uint8, list_images, read_image
from animegan_face.deployment.inference import load_stylizer
from animegan_face.deployment.onnx_converter import generator_to_onnx
from animegan_face.deployment.tflite_graph import tflite_graph

FORMATS = ("saved_model", "tflite", "onnx")
QUANTIZATIONS = ("none", "float16", "dynamic_int8", "int8")

# Largest and mean absolute difference from the Keras generator allowed on the check images
# (values in [-1, 1], a range of 2). float32 paths differ by rounding only; float16 by
# half-precision weights. int8 weights move single pixels far but the mean little. Full int8 also
# quantises activations, which this network (instance norm after every conv) tolerates badly:
# a mean difference of 0.12 on a briefly trained generator, so its bound is loose: it catches
# broken files, not that loss of quality. Random (untrained) weights are further off (int8 mean
# 0.28 at 256 px, 0.31 at 512; dynamic int8 0.11 / 0.14) and can fail both int8 checks.
TOLERANCES = {
    "saved_model": (1e-4, 1e-5),
    # XNNPACK's float32 sums in another order; through 30 instance norms a random generator
    # showed single pixels 2.5e-3 (256 px) and 1.3e-2 (512 px) off, means 1e-4 and 4e-4.
    "none": (0.02, 1e-3),
    "float16": (0.05, 0.005),
    "dynamic_int8": (1.0, 0.1),
    "int8": (2.0, 0.3),
    # onnxruntime and Keras both compute in float32 and differ by rounding only: conv sums and the
    # norms' means taken in other orders, amplified by ~40 normalisations and growing with the
    # pixels each norm averages. Random generators (astronaut crops, ONNX - Keras, v1 / v2):
    # 256 px max 7.9e-4 / 8.8e-5, mean 2.5e-5 / 1.6e-5; 512 px max 4.9e-3 / 6.1e-4, mean
    # 1.2e-4 / 1.3e-4: the bounds leave 4x at 512 px. They do not depend on the x86-64 CPU: against
    # a float64 run (v1, 256 px) onnxruntime is off by half as much as Keras (max 3.5e-4 against
    # 7.3e-4), so the difference is Keras' own float32 error, and Keras itself moves by under 7e-5
    # between oneDNN limited to SSE4.1, to AVX2, full AVX-512 and plain Eigen; onnxruntime gives
    # the same bits on 1 or 2 threads. Converter bugs move the mean 20x past the bound (one resize,
    # pad mode or epsilon wrong: mean 9e-3 to 0.57 at 64 px).
    "onnx": (0.02, 5e-4),
}


class ExportDriftError(RuntimeError):
    """An exported file differs from the Keras generator past its tolerance; nothing was written."""


@dataclasses.dataclass(frozen=True)
class ExportResult:
    path: pathlib.Path
    kind: str  # "saved_model" or a quantisation
    size_bytes: int
    max_difference: float
    mean_difference: float
    tolerance: tuple

    def row(self):
        return (f"| {self.path.name} | {self.size_bytes / 2 ** 20:.2f} | {self.max_difference:.2e} | "
                f"{self.mean_difference:.2e} | {self.tolerance[0]:g} / {self.tolerance[1]:g} |")


class _Serving(tf.Module):
    """The generator and its two serving signatures, for the SavedModel users load."""

    def __init__(self, generator, input_size):
        super().__init__()
        self.generator = generator
        shape = (None, input_size, input_size, 3) if input_size else (None, None, None, 3)

        @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32, name="images")])
        def serve(images):
            return {"stylised": self.generator(images, training=False)}

        @tf.function(input_signature=[tf.TensorSpec(shape, tf.uint8, name="images")])
        def serve_uint8(images):
            fake = self.generator(tf.cast(images, tf.float32) / 127.5 - 1.0, training=False)
            pixels = tf.round(tf.clip_by_value((fake + 1.0) * 127.5, 0.0, 255.0))
            return {"stylised": tf.cast(pixels, tf.uint8)}

        self.serve = serve
        self.serve_uint8 = serve_uint8


def _write_converter_input(generator, folder, input_size):
    """A batch-1 SavedModel written by keras.export.ExportArchive, which the TFLite converter can
    freeze (from a plain tf.Module it left the Keras 3 variables as unset resource variables; the
    archive stores them twice, so it is used for conversion only).

    It traces `tflite_graph(generator)`: the same weights, with the norms, reflection paddings and
    halvings written in ops that LiteRT's XNNPACK delegate takes (`tflite_graph.py`; before and
    after in bench/RESULTS.md).
    """
    size = input_size or None
    graph = tflite_graph(generator)
    archive = keras.export.ExportArchive()
    archive.track(graph)
    archive.add_endpoint(
        name="serving_default",
        fn=lambda images: {"stylised": graph(images, training=False)},
        input_signature=[tf.TensorSpec((1, size, size, 3), tf.float32, name="images")])
    archive.write_out(str(folder), verbose=False)


def tflite_bytes(generator, quantize, input_size=None, representative_images=None):
    """Converts the generator to a TFLite flatbuffer (batch 1) with the given quantisation.

    Converted through a temporary SavedModel of a batch-1 signature.
    """
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}, got {quantize!r}")
    if quantize == "int8" and not input_size:
        # Measured: with free H and W the fully-quantised graph returned wrong sizes.
        raise ValueError("int8 quantisation needs a fixed --input_size")
    if quantize == "int8" and (representative_images is None or len(representative_images) == 0):
        raise ValueError("int8 quantisation needs representative photos (--representative_dir)")
    with tempfile.TemporaryDirectory() as folder:
        _write_converter_input(generator, folder, input_size)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        if quantize == "float16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif quantize == "dynamic_int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        elif quantize == "int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([image[None]] for image in representative_images)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        return converter.convert()


def check_photos(folder, size, count):
    """Up to `count` photos of `folder` centre-cropped to size x size, float32 in [-1, 1]; without a
    folder, crops of the shipped astronaut photo (real image content, unlike noise)."""
    if folder:
        paths = list_images(folder)[:count]
        if not paths:
            raise ValueError(f"{folder} holds no images")
        photos = [center_crop_resize(read_image(path), size)[0] for path in paths]
    else:
        photos = demo_photos(min(count, 8), size)
    return from_uint8(np.stack(photos))


def _replace(partial, final):
    """Moves a finished export into place; an earlier export there is removed only afterwards."""
    if final.is_dir():
        retired = final.with_name(final.name + ".old")
        shutil.rmtree(retired, ignore_errors=True)
        os.replace(final, retired)
        os.replace(partial, final)
        shutil.rmtree(retired)
    else:
        os.replace(partial, final)


def remove_partial_leftovers(output_dir):
    """Deletes what a killed export left in `output_dir` (its partial and retired names:
    `*.partial.tflite`, `*.partial.onnx`, `saved_model*.partial`, `saved_model*.old`); returns
    their names. Nothing else there is touched."""
    output_dir = pathlib.Path(output_dir)
    if not output_dir.is_dir():
        return []
    removed = []
    for path in sorted(output_dir.iterdir()):
        ours = (path.name.startswith("generator") and path.name.endswith((".partial.tflite",
                                                                          ".partial.onnx"))
                or path.name.startswith("saved_model") and path.suffix in (".partial", ".old"))
        if ours:
            _remove(path)
            removed.append(path.name)
    return removed


def _remove(path):
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _size(path):
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def _check(partial, final, kind, generator, check_images):
    """Runs the written file, compares with Keras, and moves it into place if within tolerance.

    `partial` keeps the format's marks (a SavedModel folder, a .tflite suffix) so it loads as is.
    """
    try:
        # One image at a time: a batch of large images through two runtimes at once ran out of
        # memory (22 GB at 4 x 512 x 512).
        stylizer = load_stylizer(partial)
        exported = np.concatenate([stylizer(image[None]) for image in check_images])
        reference = np.concatenate([np.asarray(generator(image[None], training=False))
                                    for image in check_images])
        difference = np.abs(exported - reference)
        result = ExportResult(final, kind, _size(partial), float(difference.max()),
                              float(difference.mean()), TOLERANCES[kind])
        # "not <=" so that NaN fails too
        if not (result.max_difference <= result.tolerance[0]
                and result.mean_difference <= result.tolerance[1]):
            raise ExportDriftError(
                f"{final.name}: differs from the Keras generator by max {result.max_difference:.3g}"
                f" / mean {result.mean_difference:.3g}, past its tolerance {result.tolerance}; "
                "not written")
    except BaseException:
        _remove(partial)
        raise
    _replace(partial, final)
    return result


def export_saved_model(generator, output_dir, check_images, input_size=None):
    final = pathlib.Path(output_dir) / (f"saved_model_{input_size}" if input_size else "saved_model")
    partial = final.with_name(final.name + ".partial")
    _remove(partial)
    serving = _Serving(generator, input_size)
    with _removed_on_failure(partial):
        tf.saved_model.save(serving, str(partial), signatures={
            "serving_default": serving.serve, "serving_uint8": serving.serve_uint8})
    return _check(partial, final, "saved_model", generator, check_images)


def export_tflite(generator, output_dir, quantize, check_images, input_size=None,
                  representative_images=None):
    label = "float32" if quantize == "none" else quantize
    name = f"generator_{input_size}_{label}.tflite" if input_size else f"generator_{label}.tflite"
    final = pathlib.Path(output_dir) / name
    # ".partial.tflite": still loadable by its suffix while it is checked.
    partial = final.with_name(final.stem + ".partial.tflite")
    flatbuffer = tflite_bytes(generator, quantize, input_size, representative_images)
    with _removed_on_failure(partial):
        partial.write_bytes(flatbuffer)
    return _check(partial, final, quantize, generator, check_images)


def export_onnx(generator, output_dir, check_images, input_size=None):
    final = pathlib.Path(output_dir) / (f"generator_{input_size}.onnx" if input_size else "generator.onnx")
    # ".partial.onnx": still loadable by its suffix while it is checked.
    partial = final.with_name(final.stem + ".partial.onnx")
    model = generator_to_onnx(generator, input_size)
    with _removed_on_failure(partial):
        partial.write_bytes(model.SerializeToString())
    return _check(partial, final, "onnx", generator, check_images)


@contextlib.contextmanager
def _removed_on_failure(partial):
    """A write that fails half-way (disk full, folder gone) leaves no partial file behind."""
    try:
        yield
    except BaseException:
        _remove(partial)
        raise
