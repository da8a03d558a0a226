"""The loss terms of AnimeGAN and of the thesis, as pure functions.

Tensors in, float32 scalar out (float64 when an input is float64: `image_ops.float_dtype`; float16
and bfloat16 inputs give float32): no model is called here and no loss weight lives here (the train
step multiplies each term by its weight from `LossConfig`). Every term reduces with a mean over the
per-replica batch; the train step divides the weighted total by the replica count exactly once.

`distance` selects how two tensors are compared inside a term, switchable per run as the thesis'
table 1 does: "huber" (delta 1), "l1" or "l2", each averaged over all elements:
    huber(d) = 0.5 d^2 if |d| <= 1 else |d| - 0.5;   l1(d) = |d|;   l2(d) = d^2.
Images are float (B, H, W, 3) in [-1, 1]; face boxes (B, 4) as in `image_ops`.
"""

from keras import ops

from animegan_face.loss import image_ops

_HUBER_DELTA = 1.0


def _huber(difference):
    absolute = ops.abs(difference)
    quadratic = ops.minimum(absolute, _HUBER_DELTA)
    # 0.5 q^2 + delta (|d| - q): the usual Huber, smooth at |d| = delta.
    return 0.5 * ops.square(quadratic) + _HUBER_DELTA * (absolute - quadratic)


_POINTWISE = {"huber": _huber, "l1": ops.abs, "l2": ops.square}


def _wide(*tensors):
    """The tensors as float32, or all as float64 if one is float64 (`image_ops.float_dtype`)."""
    tensors = [ops.convert_to_tensor(tensor) for tensor in tensors]
    dtype = image_ops.float_dtype(*tensors)
    return [ops.cast(tensor, dtype) for tensor in tensors]


def pointwise_distance(a, b, distance):
    """Elementwise distance between a and b (same shape), float32 (or float64, see `_wide`)."""
    if distance not in _POINTWISE:
        raise ValueError(f"distance must be one of {sorted(_POINTWISE)}, got {distance!r}")
    a, b = _wide(a, b)
    return _POINTWISE[distance](a - b)


def mean_distance(a, b, distance):
    """Mean over all elements of `pointwise_distance(a, b, distance)`: the thesis' ||a - b||_H."""
    return ops.mean(pointwise_distance(a, b, distance))


def generator_adversarial_loss(fake_scores):
    """LSGAN generator term: mean((D(G(p)) - 1)^2). Scores are raw discriminator outputs."""
    (fake_scores,) = _wide(fake_scores)
    return ops.mean(ops.square(fake_scores - 1.0))


def discriminator_adversarial_loss(anime_scores, fake_scores, gray_scores, smooth_scores,
                                   smooth_factor=0.1):
    """LSGAN discriminator loss of AnimeGAN v1 (four terms).

    mean((D(a) - 1)^2) + mean(D(G(p))^2) + mean(D(gray(a))^2) + smooth_factor * mean(D(gray(smooth(a)))^2):
    real anime is 1; generated images, grayscale anime (teaches colour) and edge-smoothed
    grayscale anime (teaches sharp edges) are 0. `smooth_factor` 0.1 is part of v1's formula.
    """
    anime_scores, fake_scores, gray_scores, smooth_scores = _wide(
        anime_scores, fake_scores, gray_scores, smooth_scores)
    real = ops.mean(ops.square(anime_scores - 1.0))
    fake = ops.mean(ops.square(fake_scores))
    gray = ops.mean(ops.square(gray_scores))
    smooth = ops.mean(ops.square(smooth_scores))
    return real + fake + gray + smooth_factor * smooth


def content_loss(photo_features, fake_features, distance="huber"):
    """||F(p) - F(G(p))||: extractor features of the photo and of its stylisation."""
    return mean_distance(photo_features, fake_features, distance)


def gram_matrix(features):
    """Gram(X) = X^T X / (H * W * C) per image, X the (H*W, C) feature matrix: (B, C, C) float32
    (float64 for float64 features)."""
    (features,) = _wide(features)
    batch, height, width, channels = ops.shape(features)
    flat = ops.reshape(features, (batch, height * width, channels))
    gram = ops.einsum("bnc,bnd->bcd", flat, flat)
    return gram / ops.cast(height * width * channels, features.dtype)


def style_loss(fake_features, anime_gray_features, distance="huber"):
    """||Gram(F(G(p))) - Gram(F(gray(a)))||: AnimeGAN's grayscale style (Gram) loss."""
    return mean_distance(gram_matrix(fake_features), gram_matrix(anime_gray_features), distance)


def color_loss(photo, fake, distance="huber", scale=1.0):
    """||Y(G(p)) - Y(p)|| + ||U(G(p)) - U(p)|| + ||V(G(p)) - V(p)||, images mapped to [0, 1] then
    YUV, then multiplied by `scale`.

    `scale` sets where colour differences fall on the distance: with 1 (AnimeGAN's reference) a
    visible difference of 0.05 sits deep in Huber's quadratic zone (gradient 0.05); with 255 (the
    0..255 pixel scale) every difference of a grey level or more is in the linear zone, like L1.
    For "l1" the scale multiplies the loss and its gradient; for "l2" it multiplies them by scale^2.
    """
    photo_yuv = image_ops.rgb_to_yuv(photo) * scale
    fake_yuv = image_ops.rgb_to_yuv(fake) * scale
    return sum(mean_distance(photo_yuv[..., k], fake_yuv[..., k], distance) for k in range(3))


def _landmark_skin_mask(face_boxes, height, width, dtype, needed_by):
    """`image_ops.skin_region_mask` of the skin regions after each face box ((B, 20) rows); the
    ValueError names `needed_by` when the rows carry no skin regions."""
    columns = 4 + image_ops.SKIN_REGION_COLUMNS
    if face_boxes.shape[1] != columns:
        raise ValueError(f"{needed_by} needs face boxes with skin regions, (B, {columns}) rows, "
                         f"got {tuple(face_boxes.shape)}: load the dataset with skin regions "
                         "(pipeline.load_dataset_files(skin_regions=True))")
    return image_ops.skin_region_mask(face_boxes[:, 4:], height, width, dtype)


SKIN_REGIONS = ("box", "landmarks")
SKIN_STATISTICS = ("pixels", "mean")


def skin_color_loss(photo, fake, face_boxes, distance="huber", scale=1.0, region="box",
                    statistic="pixels"):
    """Thesis eq. 1: the colour loss restricted to the face of each photo (YUV times `scale`,
    as in `color_loss`).

    `region` says which pixels are the face: "box" (the thesis: the face box, the first 4
    columns of `face_boxes`, hair, eyes, mouth and background corners included) or "landmarks"
    (the skin: `image_ops.skin_region_mask` of columns 4..19, the face oval's ellipse without
    eyes, brows and lips; `face_boxes` must then be (B, 20)).
    `statistic` says what is compared: "pixels" (the thesis: per image, each of Y, U, V contributes
    the mean distance over the pixels of its region) or "mean" (the distance between the region's
    mean Y, U, V in photo and stylisation: only the face's overall tone is kept, so flat anime
    shading is not pulled back towards the photo's skin texture). The result is averaged over the
    batch with photos without a face counting 0 (never NaN), so a batch with half its faces
    undetected gives half the signal, the same on 1 or N replicas.
    A box covering the whole image gives exactly `color_loss`.
    """
    if region not in SKIN_REGIONS:
        raise ValueError(f"region must be one of {SKIN_REGIONS}, got {region!r}")
    if statistic not in SKIN_STATISTICS:
        raise ValueError(f"statistic must be one of {SKIN_STATISTICS}, got {statistic!r}")
    face_boxes = ops.convert_to_tensor(face_boxes)
    photo_yuv = image_ops.rgb_to_yuv(photo) * scale
    fake_yuv = image_ops.rgb_to_yuv(fake) * scale
    photo_yuv, fake_yuv = _wide(photo_yuv, fake_yuv)
    height, width = photo_yuv.shape[1], photo_yuv.shape[2]
    dtype = photo_yuv.dtype
    if region == "box":
        boxes = face_boxes[:, :4]
        mask = image_ops.face_mask(boxes, height, width, dtype)  # (B, H, W, 1)
    else:
        boxes = face_boxes[:, 4:8]  # the oval's box: empty when the photo has no face
        mask = _landmark_skin_mask(face_boxes, height, width, dtype, "region='landmarks'")
    area = ops.sum(mask, axis=(1, 2, 3))
    if statistic == "pixels":
        distances = pointwise_distance(photo_yuv, fake_yuv, distance)  # (B, H, W, 3)
        per_image = ops.sum(distances * mask, axis=(1, 2, 3)) / ops.maximum(area, 1.0)
    else:
        def region_mean(yuv):  # (B, 3)
            return ops.sum(yuv * mask, axis=(1, 2)) / ops.maximum(area, 1.0)[:, None]
        per_image = ops.sum(pointwise_distance(region_mean(photo_yuv), region_mean(fake_yuv),
                                               distance), axis=1)
    present = image_ops.face_present(boxes, dtype) * ops.cast(area > 0, dtype)
    return ops.mean(per_image * present)


def face_feature_loss(photo_face_features, fake_face_features, face_boxes, distance="huber"):
    """Thesis eq. 2: ||RN(face crop of p) - RN(face crop of G(p))||, RN the face extractor.

    Features are of the crops of the same box in photo and stylised image. Per image the mean
    distance over feature elements; averaged over the batch with face-less photos counting 0.
    """
    per_element = pointwise_distance(photo_face_features, fake_face_features, distance)
    per_image = ops.mean(ops.reshape(per_element, (ops.shape(per_element)[0], -1)), axis=1)
    return ops.mean(per_image * image_ops.face_present(face_boxes, per_image.dtype))


def surface_discriminator_loss(anime_scores, fake_scores):
    """LSGAN discriminator loss of the surface view: mean((D(S(a)) - 1)^2) + mean(D(S(G(p)))^2),
    S the guided filter (`smoothing.guided_filter`) of White-box Cartoonization's surface
    representation; the generator's side is `generator_adversarial_loss` of D(S(G(p)))."""
    anime_scores, fake_scores = _wide(anime_scores, fake_scores)
    return ops.mean(ops.square(anime_scores - 1.0)) + ops.mean(ops.square(fake_scores))


def flatness_loss(images, smoothed):
    """mean |images - stop_gradient(smoothed)|: pulls images towards a smoothed copy of themselves.

    `smoothed` is a target made from the images (an edge-preserving filter of the generator's own
    output: self-distillation onto a cleaned copy, as AnimeGANv3's second head does, or its colour
    regions averaged); its gradient is stopped, so the images move towards the target and the
    target does not move towards them. L1, as AnimeGANv3's, because differences in [-1, 1] sit in
    Huber's quadratic zone where their pull would vanish as they shrink.
    """
    images, smoothed = _wide(images, smoothed)
    return ops.mean(ops.abs(images - ops.stop_gradient(smoothed)))


def crack_loss(images, face_boxes, size=5):
    """Mean depth of the thin dark marks on each face's skin: |images - stop_gradient(closing)|
    over the skin mask, `closing` the images' grey-level morphological closing (each channel's
    maximum, then minimum, over size x size windows).

    A closing fills every dark feature narrower than `size` pixels (cracks, pores, stray lines)
    and leaves wider shapes, steps between flat regions and light features as they are, and it
    never lies below the images, so the term is the depth of what it fills. Its gradient is
    stopped, as `flatness_loss`'s target's is: only the marks are lifted. The mask is
    `image_ops.skin_region_mask` of `face_boxes[:, 4:]` (eyes, brows and lips left out), so
    `face_boxes` must be (B, 20); per image the mean over the mask's pixels and the channels,
    averaged over the batch with face-less photos counting 0.
    """
    images, = _wide(images)
    dilated = ops.max_pool(images, size, strides=1, padding="same")
    closed = -ops.max_pool(-dilated, size, strides=1, padding="same")
    depth = ops.abs(images - ops.stop_gradient(closed))
    height, width, channels = images.shape[1], images.shape[2], images.shape[3]
    mask = _landmark_skin_mask(ops.convert_to_tensor(face_boxes), height, width, images.dtype,
                               "the crack term")
    area = ops.sum(mask, axis=(1, 2, 3)) * channels
    per_image = ops.sum(depth * mask, axis=(1, 2, 3)) / ops.maximum(area, 1.0)
    return ops.mean(per_image * ops.cast(area > 0, images.dtype))


def pair_loss(images, targets):
    """mean |images - targets|: the pull towards fixed pseudo-pair targets (pix2pix's L1).

    The same L1 as `flatness_loss` (see there why L1), but towards data made once by
    make_pairs.py rather than a function of the images: the pull does not move with the generator.
    """
    return flatness_loss(images, targets)
