"""Load a trained generator from any of its forms and run it: `load_stylizer(path)(images)`.

Accepted paths:
    a training model_dir (holds generator.weights.h5; its config.json names the architecture),
    a `.weights.h5` file of either generator architecture (the one its weights fit),
    a `.keras` file of the generator, a SavedModel folder written by export.py, a `.tflite` file,
    a `.onnx` file written by export.py (run with onnxruntime on the CPU).
Every stylizer maps float32 (N, H, W, 3) images in [-1, 1] to the same shape in [-1, 1]; H and W
must be multiples of 4 (fixed-size exports: exactly their size).

What is checked at load, so that a file that is not a generator fails there, in one line: a
`.keras` model must have the variables of one of `config.GENERATORS`; a SavedModel, `.tflite` or
`.onnx` file must take float32 (N or 1, H, W, 3) images and give back a test image's shape with
finite values in [-1, 1] (`check_round_trip`). A SavedModel and a `.keras` file can carry code
that runs when they are loaded or called: load only files you trust (docs/reliability.md).
"""

import contextlib
import os
import pathlib
import warnings

import numpy as np

from animegan_face.config import GENERATORS
from animegan_face.training.run_folder import RunFolder

# The shipped face model (its model card is the folder's README.md): what demo.py, web.py and
# stylize.py run when no --model is given. Shipping another model changes these lines.
SHIPPED_MODEL = pathlib.Path(__file__).resolve().parents[2] / "checkpoints" / "selfie2anime_v6"
SHIPPED_TFLITE = SHIPPED_MODEL / "generator_float16.tflite"


class ModelLoadError(ValueError):
    """The path exists but is not a generator this project can run; says which and why."""

    def __init__(self, path, reason):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _check_images(images, fixed_size=None):
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected images of shape (N, H, W, 3), got {images.shape}")
    height, width = images.shape[1:3]
    if fixed_size is not None and (height, width) != fixed_size:
        raise ValueError(f"this model was exported for {fixed_size[0]}x{fixed_size[1]} inputs, "
                         f"got {height}x{width}")
    if height % 4 or width % 4:
        raise ValueError(f"height and width must be multiples of 4, got {height}x{width}")
    return images


class KerasStylizer:
    """The Keras generator (weights from training or a .keras file), run as a tf.function."""

    def __init__(self, generator):
        import tensorflow as tf

        self.generator = generator
        self.fixed_size = None
        self._run = tf.function(lambda x: generator(x, training=False), reduce_retracing=True)

    def __call__(self, images):
        return np.asarray(self._run(_check_images(images)))


class SavedModelStylizer:
    """A SavedModel from export.py, through its `serving_default` signature."""

    def __init__(self, path):
        import tensorflow as tf

        try:
            loaded = tf.saved_model.load(str(path))
            self._signature = loaded.signatures["serving_default"]
        except (OSError, ValueError, KeyError) as error:
            raise ModelLoadError(path, f"not a SavedModel with a serving_default signature ({error})")
        spec = self._signature.structured_input_signature[1].get("images")
        if spec is None or spec.shape.rank != 4 or spec.shape[-1] != 3:
            raise ModelLoadError(path, "its serving signature does not take `images` (N, H, W, 3)")
        self._keep = loaded
        height, width = spec.shape[1], spec.shape[2]
        self.fixed_size = (height, width) if height is not None and width is not None else None

    def __call__(self, images):
        images = _check_images(images, self.fixed_size)
        return np.asarray(self._signature(images=images)["stylised"])


class TFLiteStylizer:
    """A .tflite file, run with LiteRT (`ai-edge-litert`, the successor of tf.lite.Interpreter)."""

    def __init__(self, path, num_threads=None):
        from ai_edge_litert.interpreter import Interpreter

        try:
            with native_stderr_only_on_error():
                self._interpreter = Interpreter(model_path=str(path),
                                                num_threads=num_threads or os.cpu_count())
        except (ValueError, RuntimeError) as error:
            raise ModelLoadError(path, f"not a readable TFLite model ({error})")
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1 or inputs[0]["shape"][-1] != 3 \
                or outputs[0]["shape"][-1] != 3 or len(inputs[0]["shape"]) != 4:
            raise ModelLoadError(path, "not an image-to-image generator (one (N, H, W, 3) input "
                                       "and output expected)")
        self._input, self._output = inputs[0], outputs[0]
        signature = self._input.get("shape_signature", self._input["shape"])
        dynamic = any(int(d) < 0 for d in signature[1:3])
        self.fixed_size = None if dynamic else (int(signature[1]), int(signature[2]))
        self._allocated_shape = None

    def __call__(self, images):
        images = _check_images(images, self.fixed_size)
        results = []
        for image in images:  # the converted graph has batch 1
            shape = (1,) + image.shape
            if shape != self._allocated_shape:
                self._interpreter.resize_tensor_input(self._input["index"], shape)
                with native_stderr_only_on_error():  # the XNNPACK delegate is made here
                    self._interpreter.allocate_tensors()
                self._allocated_shape = shape
            self._interpreter.set_tensor(self._input["index"], image[None])
            self._interpreter.invoke()
            results.append(self._interpreter.get_tensor(self._output["index"])[0])
        return np.stack(results).astype(np.float32)


class OnnxStylizer:
    """A .onnx file from export.py, run with onnxruntime's CPU execution provider on `num_threads`
    (default: every core), its idle threads spinning only if `allow_spinning`."""

    def __init__(self, path, num_threads=None, allow_spinning=False):
        import onnxruntime
        from onnxruntime.capi import onnxruntime_pybind11_state as errors

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = num_threads or os.cpu_count()
        # Idle pool threads sleep instead of spinning between ops. Where other processes share the
        # cores (a phone, a desktop, the development machine) a spinning thread burns the time
        # slice its partner needs: v2 at 256 px took 1.23x Keras' time without spinning, 1.57x
        # with it, interleaved on a loaded 2-core machine (bench/RESULTS.md).
        options.add_session_config_entry("session.intra_op.allow_spinning",
                                         "1" if allow_spinning else "0")
        try:
            self._session = onnxruntime.InferenceSession(str(path), options,
                                                         providers=["CPUExecutionProvider"])
        # onnxruntime's own exception classes, which derive from Exception alone
        except (errors.InvalidProtobuf, errors.InvalidGraph, errors.InvalidArgument, errors.Fail,
                errors.NotImplemented, errors.RuntimeException) as error:
            raise ModelLoadError(path, f"not a readable ONNX model ({error})")
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1 or len(inputs[0].shape) != 4 \
                or inputs[0].shape[-1] != 3 or outputs[0].shape[-1] != 3:
            raise ModelLoadError(path, "not an image-to-image generator (one (N, H, W, 3) input "
                                       "and output expected)")
        if inputs[0].type != "tensor(float)":
            raise ModelLoadError(path, f"its input is {inputs[0].type}, not float32 images (export "
                                       "float16 models with export.py: their inputs stay float32)")
        batch = inputs[0].shape[0]
        if isinstance(batch, int) and batch != 1:
            raise ModelLoadError(path, f"its input has a fixed batch of {batch}: export with a free "
                                       "batch (or batch 1)")
        self._one_at_a_time = batch == 1
        self._input, self._output = inputs[0].name, outputs[0].name
        height, width = inputs[0].shape[1:3]  # a dimension name (str) where free
        fixed = isinstance(height, int) and isinstance(width, int)
        self.fixed_size = (height, width) if fixed else None

    def __call__(self, images):
        images = _check_images(images, self.fixed_size)
        if self._one_at_a_time:
            return np.concatenate([self._session.run([self._output], {self._input: image[None]})[0]
                                   for image in images])
        return self._session.run([self._output], {self._input: images})[0]


@contextlib.contextmanager
def native_stderr_only_on_error():
    """Holds back what native code writes to stderr (LiteRT's "INFO: Created TensorFlow Lite
    XNNPACK delegate" on every load) and lets it through only if the block raises."""
    import sys
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _load_keras_generator(path, architecture=None, output_filter=None):
    """A Keras generator from a .keras file, or from a .weights.h5 file of `architecture`
    (None: whichever of `config.GENERATORS` the weights fit), ending in `output_filter` (see
    `networks.build_generator`)."""
    import keras

    from animegan_face.models.networks import build_generator

    if path.suffix == ".keras":
        try:
            model = keras.models.load_model(path)
        except (ValueError, OSError, TypeError) as error:
            raise ModelLoadError(path, f"not a loadable .keras model ({error})")
        if model.input_shape[-1] != 3 or model.output_shape[-1] != 3:
            raise ModelLoadError(path, "not an image-to-image generator")
        _check_generator_variables(model, path)
        return model
    failures = []
    for name in [architecture] if architecture else GENERATORS:
        generator = build_generator(name, output_filter=output_filter)
        # Keras warns about every part that does not fit before it raises: only the warnings of
        # the architecture that fits are shown.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                generator.load_weights(path)
            except (ValueError, OSError, KeyError) as error:
                failures.append(f"{name}: {str(error).splitlines()[0].split('. ')[0]}")
                continue
        for warning in caught:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        return generator
    raise ModelLoadError(path, f"weights do not fit the AnimeGAN generator ({'; '.join(failures)})")


def _check_generator_variables(model, path):
    """ModelLoadError unless `model` has the variables (shapes) of one of GENERATORS."""
    from animegan_face.models.networks import generator_of_shapes

    shapes = [tuple(weight.shape) for weight in model.weights]
    if generator_of_shapes(shapes) is not None:
        return
    count = sum(int(np.prod(shape)) for shape in shapes)
    raise ModelLoadError(path, f"not one of the generators {', '.join(GENERATORS)} ({len(shapes)} "
                               f"variables, {count:,} parameters)")


# The round trip's test image: a smooth gradient in [-1, 1] of this size (or the export's size);
# not square, so that a model swapping height and width shows.
_ROUND_TRIP_SIZE = (16, 24)
# A generator ends in tanh; quantised exports round it (float16: 1.0 at most; int8: steps of
# 1/128), so a margin of one such step and more. A model that is no generator is far outside.
_RANGE_MARGIN = 0.01


def check_round_trip(stylizer, path):
    """ModelLoadError unless `stylizer` turns a test image into finite values in [-1, 1] of the
    same shape: what a generator does, and what a file that merely has the right signature may not."""
    height, width = stylizer.fixed_size or _ROUND_TRIP_SIZE
    ramp = np.linspace(-1.0, 1.0, height * width * 3, dtype=np.float32)
    image = ramp.reshape(1, height, width, 3)
    try:
        out = np.asarray(stylizer(image))
    except Exception as error:  # pylint: disable=broad-except  # any runtime's failure, in one line
        raise ModelLoadError(path, f"fails on a {height}x{width} test image "
                                   f"({type(error).__name__}: {str(error).splitlines()[0]})") from None
    if out.shape != image.shape:
        raise ModelLoadError(path, f"not a generator: a {image.shape} test image came back as {out.shape}")
    if not np.all(np.isfinite(out)) or np.abs(out).max() > 1 + _RANGE_MARGIN:
        raise ModelLoadError(path, f"not a generator: its output on a test image spans "
                                   f"{np.nanmin(out):.3g}..{np.nanmax(out):.3g}, outside [-1, 1]")
    return stylizer


def load_keras_generator(path):
    """The Keras generator of a training model_dir, a `.weights.h5` or a `.keras` file;
    FileNotFoundError or ModelLoadError (naming the path) when there is none."""
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model not found: {path}")
    if path.is_dir():
        run = RunFolder(path)
        if not run.generator_path.is_file():
            raise ModelLoadError(path, "folder holds no generator.weights.h5 (not a training run)")
        # no readable config.json: _load_keras_generator tries each architecture
        return _load_keras_generator(run.generator_path, run.generator_architecture(),
                                     run.generator_output_filter())
    if path.name.endswith(".weights.h5") or path.suffix == ".keras":
        return _load_keras_generator(path)
    raise ModelLoadError(path, "expected a training model_dir, a .weights.h5 or a .keras file")


def load_stylizer(path):
    """The right stylizer for `path` (see the module docstring); ModelLoadError if it is not one."""
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model not found: {path}")
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            return check_round_trip(SavedModelStylizer(path), path)
        if RunFolder(path).generator_path.is_file():
            return KerasStylizer(load_keras_generator(path))
        raise ModelLoadError(path, "folder holds neither generator.weights.h5 (a training run) "
                                   "nor saved_model.pb (an export)")
    if path.suffix == ".tflite":
        return check_round_trip(TFLiteStylizer(path), path)
    if path.suffix == ".onnx":
        return check_round_trip(OnnxStylizer(path), path)
    if path.name.endswith(".weights.h5") or path.suffix == ".keras":
        return KerasStylizer(load_keras_generator(path))
    raise ModelLoadError(path, "unknown model format (expected a model_dir, SavedModel folder, "
                               ".tflite, .onnx, .keras or .weights.h5)")
