"""Tensor operations on image batches, in `keras.ops` (no model, no weights, any backend).

Images are float (B, H, W, 3) in [-1, 1]. Face boxes are float (B, 4) rows `(y0, x0, y1, x1)`
normalised to [0, 1] (the `tf.image.crop_and_resize` convention); an all-zero row means "no face".
A batch whose photos carry skin regions (`LossConfig.skin_region="landmarks"`) has (B, 20) rows:
the face box, then the skin regions of `skin_region_mask` (16 numbers); every reader of the face
box takes the first 4 columns.
"""

from keras import ops

from animegan_face.models.layers import float_dtype  # noqa: F401 - the losses' dtype rule, re-exported

# RGB -> YUV (the matrix of tf.image.rgb_to_yuv, used by AnimeGAN's colour loss).
_RGB_TO_YUV = (
    (0.299, -0.14714119, 0.61497538),
    (0.587, -0.28886916, -0.51496512),
    (0.114, 0.43601035, -0.10001026),
)


def rgb_to_yuv(images):
    """YUV of images in [-1, 1], after mapping them to [0, 1]: Y in [0, 1], U in ±0.436, V in ±0.615.

    float32 (float64 for float64 images, see `float_dtype`).
    """
    images = ops.convert_to_tensor(images)
    dtype = float_dtype(images)
    unit = (ops.cast(images, dtype) + 1.0) * 0.5
    return ops.matmul(unit, ops.convert_to_tensor(_RGB_TO_YUV, dtype=dtype))


def face_present(boxes, dtype="float32"):
    """(B,) float: 1.0 where the box has positive area, 0.0 for the all-zero "no face" row."""
    boxes = ops.cast(boxes, "float32")
    height = boxes[:, 2] - boxes[:, 0]
    width = boxes[:, 3] - boxes[:, 1]
    return ops.cast(ops.logical_and(height > 0, width > 0), dtype)


def face_mask(boxes, height, width, dtype="float32"):
    """(B, H, W, 1) float mask: 1.0 on pixels whose centre lies in the box, else 0.0."""
    boxes = ops.cast(boxes, "float32")
    ys = (ops.arange(height, dtype="float32") + 0.5) / float(height)
    xs = (ops.arange(width, dtype="float32") + 0.5) / float(width)
    inside_y = ops.logical_and(ys[None, :] >= boxes[:, 0:1], ys[None, :] < boxes[:, 2:3])
    inside_x = ops.logical_and(xs[None, :] >= boxes[:, 1:2], xs[None, :] < boxes[:, 3:4])
    mask = ops.logical_and(inside_y[:, :, None], inside_x[:, None, :])
    return ops.cast(mask, dtype)[..., None]


SKIN_REGION_COLUMNS = 16  # after the face box: the oval's box, then 3 boxes left out of the skin


def skin_region_mask(regions, height, width, dtype="float32"):
    """(B, H, W, 1) float mask of the skin: 1.0 on pixels whose centre lies inside the ellipse
    inscribed in the oval box and in none of the three left-out boxes, else 0.0.

    regions: (B, 16) normalised rows, as `face_regions.skin_regions` writes them: the face oval's
    box (y0, x0, y1, x1), then the boxes of the right eye and brow, the left eye and brow, and the
    lips, each (y0, x0, y1, x1). Coordinates may fall outside [0, 1] (a face cut by the training
    window). An all-zero oval box gives an empty mask (no face); an all-zero left-out box leaves
    nothing out.
    """
    regions = ops.cast(regions, "float32")
    oval = regions[:, 0:4]
    ys = (ops.arange(height, dtype="float32") + 0.5) / float(height)
    xs = (ops.arange(width, dtype="float32") + 0.5) / float(width)
    # Radii of 0 (no face) would divide by 0: made tiny, then masked by face_present below.
    radius_y = ops.maximum((oval[:, 2:3] - oval[:, 0:1]) * 0.5, 1e-6)
    radius_x = ops.maximum((oval[:, 3:4] - oval[:, 1:2]) * 0.5, 1e-6)
    along_y = ops.square((ys[None, :] - (oval[:, 0:1] + oval[:, 2:3]) * 0.5) / radius_y)
    along_x = ops.square((xs[None, :] - (oval[:, 1:2] + oval[:, 3:4]) * 0.5) / radius_x)
    ellipse = ops.cast(along_y[:, :, None] + along_x[:, None, :] < 1.0, "float32")[..., None]
    ellipse = ellipse * face_present(oval)[:, None, None, None]
    left_out = ops.maximum(ops.maximum(face_mask(regions[:, 4:8], height, width),
                                       face_mask(regions[:, 8:12], height, width)),
                           face_mask(regions[:, 12:16], height, width))
    return ops.cast(ellipse * (1.0 - left_out), dtype)


def _interpolation_matrix(start, end, source_size, output_size):
    """(B, output_size, source_size) bilinear weights sampling [start, end] (normalised) of an axis,
    in the dtype of `start`.

    Output pixel i samples source coordinate start*(n-1) + i*(end-start)*(n-1)/(m-1), exactly as
    tf.image.crop_and_resize does; the triangle kernel max(0, 1 - |coordinate - pixel|) is bilinear.
    """
    dtype = start.dtype
    steps = ops.arange(output_size, dtype=dtype) / float(max(output_size - 1, 1))
    scale = float(source_size - 1)
    coordinates = (start[:, None] + (end - start)[:, None] * steps[None, :]) * scale
    coordinates = ops.clip(coordinates, 0.0, scale)
    pixels = ops.arange(source_size, dtype=dtype)
    return ops.relu(1.0 - ops.abs(coordinates[:, :, None] - pixels[None, None, :]))


def crop_faces(images, boxes, size):
    """Bilinear crops of each image's face box, resized to (size, size); differentiable in images.

    Equals tf.image.crop_and_resize(images, boxes, range(B), (size, size)) for boxes inside the
    image, written as two batched matrix products so it runs on every Keras backend.
    Returns float32 (float64 for float64 images) (B, size, size, C); a "no face" row gives a finite
    (meaningless) crop.
    """
    images = ops.convert_to_tensor(images)
    dtype = float_dtype(images)
    images = ops.cast(images, dtype)
    boxes = ops.cast(boxes, dtype)
    height, width = images.shape[1], images.shape[2]
    if height is None or width is None:
        raise ValueError("crop_faces needs images of static height and width (training batches have them)")
    rows = _interpolation_matrix(boxes[:, 0], boxes[:, 2], height, size)  # (B, size, H)
    cols = _interpolation_matrix(boxes[:, 1], boxes[:, 3], width, size)  # (B, size, W)
    cropped_rows = ops.einsum("bsh,bhwc->bswc", rows, images)
    return ops.einsum("btw,bswc->bstc", cols, cropped_rows)
