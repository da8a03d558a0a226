"""Custom Keras layers of the AnimeGAN networks.

Each layer is written with `keras.ops`, keeps every constructor argument in `get_config()`, and
works for any input size known only at run time (needed for variable-size SavedModel/TFLite export:
`UpSampling2D(interpolation="bilinear")` fails there, a resize with a computed size does not).
"""

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="animegan_face")
class ReflectionPad2D(layers.Layer):
    """Pads height and width by reflection (edge pixel not repeated), like `tf.pad(mode="REFLECT")`.

    Args:
        padding: `(top, bottom, left, right)` in pixels.
    """

    def __init__(self, padding=(1, 1, 1, 1), **kwargs):
        super().__init__(**kwargs)
        self.padding = tuple(int(p) for p in padding)

    def call(self, inputs):
        top, bottom, left, right = self.padding
        return ops.pad(inputs, [[0, 0], [top, bottom], [left, right], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        top, bottom, left, right = self.padding
        batch, height, width, channels = input_shape
        return (
            batch,
            None if height is None else height + top + bottom,
            None if width is None else width + left + right,
            channels,
        )

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


@keras.saving.register_keras_serializable(package="animegan_face")
class Resize2D(layers.Layer):
    """Bilinear resize by a fixed factor of the run-time height and width.

    Args:
        scale: 2.0 doubles each side (Upsample), 0.5 halves it (Downsample, floor for odd sizes).
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, inputs):
        height, width = inputs.shape[1], inputs.shape[2]
        if height is not None and width is not None:
            size = (int(height * self.scale), int(width * self.scale))
            # antialias off: AnimeGAN's reference resizes plain bilinear in both directions.
            return ops.image.resize(inputs, size, interpolation="bilinear", antialias=False)
        # Size known only at run time (variable-size SavedModel/TFLite): keras.ops.image.resize
        # rejects a tensor size in graph mode, tf.image.resize takes it. Only TensorFlow traces
        # with unknown sizes; JAX and PyTorch always see concrete shapes.
        import tensorflow as tf

        shape = tf.shape(inputs)
        size = tf.cast(tf.cast(shape[1:3], tf.float32) * self.scale, tf.int32)
        return tf.image.resize(inputs, size, method="bilinear")

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return (
            batch,
            None if height is None else int(height * self.scale),
            None if width is None else int(width * self.scale),
            channels,
        )

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
