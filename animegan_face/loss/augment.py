"""Random augmentations inside a train step: DiffAugment for what the discriminator sees, grain
for what the generator stylises.

DiffAugment (Zhao et al. 2020): differentiable augmentation of everything the discriminator sees.

With few training images a discriminator memorises them and its gradients stop teaching the
generator; DiffAugment applies the same random colour, translation and cutout policy to real and
generated images, in both the D and the G update, so D cannot tell them apart by memory and G
still gets a gradient (every operation is differentiable in the images). The authors report 2-4x
better FID with 1,000 images.

`keras.ops` only; randomness is stateless, drawn from an explicit integer seed (the train step
passes its step counter) by a counter-based hash, so a step is a pure function of its inputs, the
same on every backend.
Images are float (B, H, W, C) in [-1, 1], float32 (float64 kept).
"""

from keras import ops

from animegan_face.config import DIFFAUGMENT_PARTS
from animegan_face.loss import image_ops

TRANSLATION_RATIO = 0.125  # shift up to 1/8 of the side, as in DiffAugment
CUTOUT_RATIO = 0.5  # a square of half the side blanked to 0 (mid-grey)


def policy_parts(policy):
    """LossConfig.diffaugment ("color,translation" or "") -> ("color", "translation") or ()."""
    return tuple(part.strip() for part in policy.split(",")) if policy else ()


def _logical_shift(h, bits):
    return ops.bitwise_and(ops.right_shift(h, bits), (1 << (32 - bits)) - 1)


def hash32(values):
    """Chris Wellons' "lowbias32" integer hash of int32 values (as 32-bit patterns): int32 out.

    Wrapping int32 products and logical shifts, so TensorFlow, JAX and numpy's uint32 arithmetic
    give the same bits.
    """
    h = ops.cast(values, "int32")
    h = ops.bitwise_xor(h, _logical_shift(h, 16))
    h = h * 0x7FEB352D
    h = ops.bitwise_xor(h, _logical_shift(h, 15))
    h = h * _HASH_MULTIPLIER_2
    return ops.bitwise_xor(h, _logical_shift(h, 16))


_HASH_MULTIPLIER_2 = 0x846CA68B - (1 << 32)  # 0x846CA68B as a signed 32-bit value


def uniform(shape, seed, salt, dtype="float32"):
    """Stateless U[0, 1) draws of `shape` from an integer `seed` (a scalar, e.g. the step) and a
    fixed `salt` per operation: a counter-based generator (the hash of seed and element index),
    the same numbers on every backend. (Keras' own stateless draws need a Python int seed.)"""
    count = 1
    for side in shape:  # a side unknown when traced (a symbolic batch) makes the count a tensor
        count = count * side
    base = hash32(ops.cast(seed, "int32") + 1000003 * salt)
    bits = hash32(base + ops.arange(count, dtype="int32"))
    unit = ops.cast(ops.bitwise_and(bits, 0xFFFFFF), dtype) / float(1 << 24)
    return ops.reshape(unit, shape)


def diff_augment(images, seed, parts=DIFFAUGMENT_PARTS):
    """The DiffAugment policy applied to a batch, each image with its own draw.

    color: brightness + U(-0.5, 0.5), saturation x U(0, 2) about the pixel's channel mean,
      contrast x U(0.5, 1.5) about the image mean (the reference code's ranges, on [-1, 1]);
    translation: an integer shift of up to 1/8 of each side, the border pixels repeated;
    cutout: a square of half the side (centre anywhere in the image) set to 0.
    """
    images = ops.convert_to_tensor(images)
    dtype = image_ops.float_dtype(images)
    images = ops.cast(images, dtype)
    batch = ops.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    if height != width:
        raise ValueError(f"DiffAugment needs square images (training batches are), got {height}x{width}")
    if "color" in parts:
        brightness = uniform((batch, 1, 1, 1), seed, 1, dtype) - 0.5
        images = images + brightness
        channel_mean = ops.mean(images, axis=-1, keepdims=True)
        images = (images - channel_mean) * (uniform((batch, 1, 1, 1), seed, 2, dtype) * 2.0) + channel_mean
        image_mean = ops.mean(images, axis=(1, 2, 3), keepdims=True)
        images = (images - image_mean) * (uniform((batch, 1, 1, 1), seed, 3, dtype) + 0.5) + image_mean
    if "translation" in parts:
        images = _translate(images, seed, dtype, height)
    if "cutout" in parts:
        centres = uniform((batch, 2), seed, 6, dtype)
        half = CUTOUT_RATIO / 2.0
        boxes = ops.concatenate([centres - half, centres + half], axis=1)  # (y0, x0, y1, x1)
        images = images * (1.0 - image_ops.face_mask(boxes, height, width, dtype))
    return images


def normal(shape, seed, salt, dtype="float32"):
    """Stateless standard normal draws (Box-Muller on two `uniform` draws, salts `salt` and
    `salt + 1`): the same numbers on every backend, as `uniform`'s."""
    # 1 - u lies in (0, 1]: a finite radius, at most sqrt(2 * 24 * ln 2) = 5.8.
    radius = ops.sqrt(-2.0 * ops.log(1.0 - uniform(shape, seed, salt, dtype)))
    return radius * ops.cos(2.0 * 3.141592653589793 * uniform(shape, seed, salt + 1, dtype))


GRAIN_SALT = 7  # the salts 7 and 8; DiffAugment draws with 1 to 6


def grain(images, seed, strength):
    """`images` with photographic grain: one luminance noise field per image (the same in R, G and
    B), of standard deviation `strength` on the [-1, 1] scale, correlated over 2x2 pixels (four
    neighbouring unit normals summed and halved: unit variance, about the size of a pore or a
    phone camera's noise at 256 px), clipped to [-1, 1] as a real photo is. The field wraps round
    at the borders (it is noise: no edge is special)."""
    images = ops.convert_to_tensor(images)
    dtype = image_ops.float_dtype(images)
    images = ops.cast(images, dtype)
    shape = (ops.shape(images)[0], images.shape[1], images.shape[2], 1)
    field = normal(shape, seed, GRAIN_SALT, dtype)
    field = field + ops.roll(field, 1, axis=1)
    field = (field + ops.roll(field, 1, axis=2)) / 2.0
    return ops.clip(images + strength * field, -1.0, 1.0)


def _translate(images, seed, dtype, size):
    """Integer shifts through the crop-and-resize sampler: a box of the image's own size moved by
    whole pixels samples exactly one source pixel per output pixel (bilinear weights 1 and 0), and
    coordinates past the border are clamped, which repeats the edge."""
    batch = ops.shape(images)[0]
    limit = float(round(size * TRANSLATION_RATIO))
    shifts = ops.round((uniform((batch, 2), seed, 4, dtype) * 2.0 - 1.0) * limit)  # whole pixels
    start = shifts / float(size - 1)
    boxes = ops.concatenate([start, start + 1.0], axis=1)  # (y0, x0, y1, x1)
    return ops.cast(image_ops.crop_faces(images, boxes, size), dtype)
