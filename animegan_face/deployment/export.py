"""The library side of export.py: the generator as SavedModel, TFLite and ONNX, each file checked.

Every file is written under a temporary name, run on check images, compared with the Keras
generator, and only then renamed into place: a failed or drifting export never leaves a broken
file and never harms an earlier one. Given an ``outputs.OwnedOutputs`` (``owned``), each file is
recorded as export.py's own before that rename, so that a rerun may replace it.

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
import re
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

from animegan_face.data.demo_data import demo_photos
from animegan_face.data.image_files import (center_crop_resize, from_uint8, list_images, printable,
                                            read_image)
from animegan_face.deployment.inference import load_stylizer
from animegan_face.deployment.onnx_converter import generator_to_onnx
from animegan_face.deployment.outputs import OutputError, OwnedOutputs
from animegan_face.deployment.tflite_graph import tflite_graph

FORMATS = ("saved_model", "tflite", "onnx")
RECORD = ".export_outputs.json"  # export.py's outputs.OwnedOutputs record in the output folder
QUANTIZATIONS = ("none", "float16", "dynamic_int8", "int8")

# The parity check: what a viewer would see, not one pixel. An export passes when the 99.9th
# percentile (PERCENTILE) of |exported - Keras| over the check images and its mean are both within
# its kind's bounds (values in [-1, 1], a range of 2; one uint8 step is 2/255 = 0.0078). The largest
# difference is printed and recorded but decides nothing: it is one value of one check image, and a
# float16 TFLite file of a v1 generator trained 2 epochs at 64 px was refused at 0.0502 against the
# former bound of 0.05 on it, with a mean of 0.0023. A broken conversion moves many values (a wrong
# padding a ring of pixels: over 1 % of a 256 px image), so the percentile still sees it.
#
# Measured by bench/export_parity.py on the 4 astronaut check crops at 64 / 128 / 256 px, as
# p99.9 / mean of |exported - Keras| (with the largest where it matters), for v1 and v2 with
# random weights, after 150 steps of fitting at 64 px, after train.py at 64 px (1 warm-up and 2 GAN
# epochs of 10 steps on the demo_data sets), v1 after 2 steps of a test's 32 px run, and v2
# trained (checkpoints/selfie2anime_v2 and a 4-epoch 128 px run). The largest of each kind:
#   TFLite float32: 1.4e-3 / 9.1e-5 (v1 random, 256 px); v2 at most 9e-6 / 1e-6.
#   TFLite float16: 0.0176 / 0.0023 (v1 after 2 steps, 256 px; largest 0.038), v1 random
#     0.0157 / 0.0020, after train.py 0.0110 / 0.0012, fitted 0.0075 / 7.6e-4; every v2 at most
#     0.0027 / 4.2e-4. It hardly grows with the size (v1 after 2 steps at 64 px: 0.0146 / 0.0020).
#     The v1 had mean 0.0023.
#   ONNX: 3.5e-4 / 2.3e-5 (v1 random, 256 px); v2 at most 2.8e-5 / 1.4e-5.
#   dynamic int8 (after train.py, 256 px): v1 0.35 / 0.045 (largest 0.77), v2 0.022 / 0.0026.
# What a broken file looks like (Keras with Gaussian noise of a fraction of its standard deviation
# added to one kernel, against Keras; v1 random, the middle convolution m_ir5_expand / the last,
# out_conv, alike within 10 %): noise 0.01: 0.03 / 0.004, 0.03: 0.09 / 0.012, 0.1: 0.29 / 0.040;
# v2 random alike (0.03: 0.05-0.09 / 0.008-0.013); v1 after train.py, 0.1: 0.16-0.20 / 0.019.
# A trained v2 shrugs off what breaks v1: after train.py, noise 0.01: 0.002 / 2.4e-4, 0.1:
# 0.021 / 0.0046 (out_layer_conv; block_c_3_expand_conv 0.014 / 0.0025), as small as float16
# rounding of a v1, so float16 passes it (float32 and ONNX refuse it). Converter bugs (a wrong
# resize, pad mode or epsilon) move the mean by 9e-3 to 0.57.
# The float16 bounds leave 2.3x (percentile) and 2.2x (mean) above the worst correct file and refuse
# 3 % noise on one layer of v1 or of a random v2. float32 and ONNX differ by rounding only and keep
# their earlier numbers, 14x and 57x above the worst p99.9 at 256 px (at 512 px float32 reached
# 1.3e-2 largest, 4e-4 mean); their means refuse 1 % noise on v1 and 10 % on a trained v2. The int8
# bounds are the earlier ones, now on the percentile (never above the largest): nothing that passed
# fails. Full int8 also quantises activations, which this network (an instance norm after every
# conv) tolerates badly (mean 0.12 on a briefly trained generator; random weights: int8 0.28 and
# dynamic int8 0.11 at 256 px), so those bounds catch broken files only. No bound depends on the
# x86-64 CPU: float16 and int8 errors come from rounding the weights, the same everywhere, and
# float32 kernels on other CPUs move the outputs by about 1e-5.
TOLERANCES = {
    "saved_model": (1e-4, 1e-5),  # the same TensorFlow kernels, in a graph: 0 / 0 measured
    "none": (0.02, 1e-3),
    "float16": (0.04, 0.005),
    "dynamic_int8": (1.0, 0.1),
    "int8": (2.0, 0.3),
    # onnxruntime and Keras both compute in float32 and differ by rounding only: conv sums and the
    # norms' means taken in other orders, amplified by ~40 normalisations and growing with the
    # pixels each norm averages (random v1 at 512 px: largest 4.9e-3, mean 1.2e-4). Against a
    # float64 run (v1, 256 px) onnxruntime is off by half as much as Keras, so the difference is
    # Keras' own float32 error, and Keras itself moves by under 7e-5 between oneDNN limited to
    # SSE4.1, to AVX2, full AVX-512 and plain Eigen; onnxruntime gives the same bits on 1 or 2
    # threads. Converter bugs move the mean 20x past the bound (one resize, pad mode or epsilon
    # wrong: mean 9e-3 to 0.57 at 64 px).
    "onnx": (0.02, 5e-4),
}
PERCENTILE = 99.9


def parity(exported, reference):
    """``(largest, PERCENTILE-th percentile, mean)`` of ``|exported - reference|`` over every value
    (NaN anywhere gives NaN, which no bound passes)."""
    difference = np.abs(np.asarray(exported, np.float64) - np.asarray(reference, np.float64))
    return (float(difference.max()), float(np.percentile(difference, PERCENTILE)),
            float(difference.mean()))


class ExportDriftError(RuntimeError):
    """An exported file differs from the Keras generator past its tolerance; nothing was written."""


@dataclasses.dataclass(frozen=True)
class ExportResult:
    path: pathlib.Path
    kind: str  # "saved_model" or a quantisation
    size_bytes: int
    max_difference: float  # printed and recorded, not checked
    percentile_difference: float  # the PERCENTILE-th percentile
    mean_difference: float
    tolerance: tuple  # (bound of the percentile, bound of the mean)

    def row(self):
        return (f"| {self.path.name} | {self.size_bytes / 2 ** 20:.2f} | {self.max_difference:.2e} | "
                f"{self.percentile_difference:.2e} | {self.mean_difference:.2e} | "
                f"{self.tolerance[0]:g} / {self.tolerance[1]:g} |")


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


def write_saved_model(generator, folder, input_size):
    """The SavedModel users load: the generator with its float and uint8 signatures."""
    serving = _Serving(generator, input_size)
    tf.saved_model.save(serving, str(folder), signatures={
        "serving_default": serving.serve, "serving_uint8": serving.serve_uint8})


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


def _replace(partial, final, owned):
    """Moves a finished export into place. Whatever holds ``final``'s name (an earlier export; with
    --overwrite also a user's file, folder or link) is replaced: by one rename when both are files
    (a link is replaced, never what it points to), else it is first retired to ``<final>.old`` and
    removed only once the new export is in place."""
    if os.path.lexists(final) and (_is_folder(partial) or _is_folder(final)):
        retired = final.with_name(final.name + ".old")
        _claim(retired, owned)
        os.replace(final, retired)
        os.replace(partial, final)
        _remove(retired)
        _release(retired, owned)
    else:
        os.replace(partial, final)
    _release(partial, owned)


def temporary_paths(output_dir, kind, input_size=None):
    """The names the export of ``kind`` will write under before its final name, given what is in
    ``output_dir`` now: its partial file or folder, and ``<final>.old`` where an earlier output
    must be retired (``_replace``). export.py refuses to start when one is taken by something that
    its record does not say it started."""
    final = pathlib.Path(output_dir) / output_name(kind, input_size)
    paths = [_partial_path(final, kind)]
    if os.path.lexists(final) and (kind == "saved_model" or _is_folder(final)):
        paths.append(final.with_name(final.name + ".old"))
    return paths


def _partial_path(final, kind):
    if kind == "saved_model":
        return final.with_name(final.name + ".partial")
    # ".partial.tflite", ".partial.onnx": still loadable by its suffix while it is checked.
    return final.with_name(final.stem + ".partial" + final.suffix)


def taken_by_others(path, owned):
    """None when ``path`` (a temporary name) is free or holds what ``owned`` (export.py's record)
    says export.py started; else why export.py must not remove it."""
    if not os.path.lexists(path) or owned is not None and owned.started(path):
        return None
    return (f"{printable(path.name)} exists, and export.py's record "
            f"({RECORD}) does not say that export.py wrote it: not removed; move it away (export.py "
            f"writes under that name while it works)")


def _claim(path, owned):
    """Frees the temporary name ``path`` for this export (removing a leftover that ``owned`` says
    export.py started) and records it as started before anything is written there."""
    refusal = taken_by_others(path, owned)
    if refusal:
        raise OutputError(refusal)
    _remove(path)
    if owned is not None:
        owned.start(path)


def _release(path, owned):
    if owned is not None:
        owned.finish(path)


# What export.py's temporary names look like: leftovers of a killed export that its record does
# not know are named, never removed.
_TEMPORARY_NAME = re.compile(r"(generator.*\.partial\.(tflite|onnx)|saved_model.*\.partial"
                             r"|(generator|saved_model).*\.old)", re.DOTALL)


def remove_partial_leftovers(output_dir, owned):
    """Deletes what a killed export left in ``output_dir``: the partial and retired names
    (``*.partial.tflite``, ``*.partial.onnx``, ``saved_model*.partial``, ``*.old``) that ``owned``,
    export.py's record there, says export.py started. Returns ``(removed, kept)``: the names
    removed, and the names that look like leftovers but that the record does not know (a user's
    files, never touched)."""
    output_dir = pathlib.Path(output_dir)
    removed = []
    for name in owned.started_names():
        path = output_dir / name
        # A name from the record must be a temporary name in this folder: never a path elsewhere.
        if _TEMPORARY_NAME.fullmatch(name) and path.name == name and os.path.lexists(path):
            _remove(path)
            removed.append(name)
        owned.forget_started(name)
    kept = sorted(path.name for path in output_dir.iterdir()
                  if _TEMPORARY_NAME.fullmatch(path.name)) if output_dir.is_dir() else []
    return removed, kept


def owned_outputs(output_dir):
    """export.py's record of what it wrote into ``output_dir`` (``outputs.OwnedOutputs``)."""
    return OwnedOutputs(output_dir, "export.py", RECORD, folders=True)


def _is_folder(path):
    """A real folder, not a link to one."""
    return path.is_dir() and not path.is_symlink()


def _remove(path):
    """Removes a file, a link (never what it points to) or a folder tree."""
    if _is_folder(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def _size(path):
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def output_name(kind, input_size=None):
    """The name in output_dir of the export of ``kind``: "saved_model", "onnx" or a quantisation."""
    size = f"_{input_size}" if input_size else ""
    if kind == "saved_model":
        return f"saved_model{size}"
    if kind == "onnx":
        return f"generator{size}.onnx"
    return f"generator{size}_{'float32' if kind == 'none' else kind}.tflite"


def keras_outputs(generator, check_images):
    """What every exported file is compared with: the Keras generator on each check image."""
    return np.concatenate([np.asarray(generator(image[None], training=False))
                           for image in check_images])


def _check(partial, final, kind, generator, check_images, owned):
    """Runs the written file, compares with Keras, and moves it into place if within tolerance.

    `partial` keeps the format's marks (a SavedModel folder, a .tflite suffix) so it loads as is.
    """
    try:
        # One image at a time: a batch of large images through two runtimes at once ran out of
        # memory (22 GB at 4 x 512 x 512).
        stylizer = load_stylizer(partial)
        exported = np.concatenate([stylizer(image[None]) for image in check_images])
        reference = keras_outputs(generator, check_images)
        result = ExportResult(final, kind, _size(partial), *parity(exported, reference),
                              TOLERANCES[kind])
        # "not <=" so that NaN fails too
        if not (result.percentile_difference <= result.tolerance[0]
                and result.mean_difference <= result.tolerance[1]):
            raise ExportDriftError(
                f"{final.name}: differs from the Keras generator by "
                f"{result.percentile_difference:.3g} at the {PERCENTILE:g}th percentile / mean {result.mean_difference:.3g} (largest "
                f"{result.max_difference:.3g}), past its tolerance {result.tolerance}; not written")
    except BaseException:
        _remove(partial)
        _release(partial, owned)
        raise
    if owned is not None:
        owned.record_file(final, partial)  # before the rename: a run killed in between owns it
    _replace(partial, final, owned)
    return result


def export_saved_model(generator, output_dir, check_images, input_size=None, owned=None):
    final = pathlib.Path(output_dir) / output_name("saved_model", input_size)
    partial = _partial_path(final, "saved_model")
    with _removed_on_failure(partial, owned):
        write_saved_model(generator, partial, input_size)
    return _check(partial, final, "saved_model", generator, check_images, owned)


def export_tflite(generator, output_dir, quantize, check_images, input_size=None,
                  representative_images=None, owned=None):
    final = pathlib.Path(output_dir) / output_name(quantize, input_size)
    partial = _partial_path(final, quantize)
    flatbuffer = tflite_bytes(generator, quantize, input_size, representative_images)
    with _removed_on_failure(partial, owned):
        partial.write_bytes(flatbuffer)
    return _check(partial, final, quantize, generator, check_images, owned)


def export_onnx(generator, output_dir, check_images, input_size=None, owned=None):
    final = pathlib.Path(output_dir) / output_name("onnx", input_size)
    partial = _partial_path(final, "onnx")
    model = generator_to_onnx(generator, input_size)
    with _removed_on_failure(partial, owned):
        partial.write_bytes(model.SerializeToString())
    return _check(partial, final, "onnx", generator, check_images, owned)


@contextlib.contextmanager
def _removed_on_failure(partial, owned):
    """Claims the name ``partial`` (``_claim``: a user's file there stops the export); a write that
    fails half-way (disk full, folder gone) leaves no partial file behind."""
    _claim(partial, owned)
    try:
        yield
    except BaseException:
        _remove(partial)
        _release(partial, owned)
        raise
