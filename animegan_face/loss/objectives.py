"""The training objectives: how the loss terms of `losses` are composed, once, for every backend.

`keras.ops` only, no TensorFlow: the TensorFlow train steps (`tf_trainer`, under a GradientTape) and
the JAX ones (`jax_trainer`, stateless and jitted) both call these functions. The networks come in
as callables, because each backend calls them its own way (a Keras model call, or
`stateless_call` with explicit variables):

    discriminate(images) -> raw LSGAN scores, D in training mode
    extract(images)      -> content/Gram features of the frozen extractor
    extract_faces(crops) -> face features of the frozen face extractor, or None (face term off)

Batches are `(photo, face_boxes, anime, anime_gray, smooth_gray, photo_target)` as `pipeline` makes them; every
term is a mean over the batch it is given (the per-replica batch under tf.distribute, the global
batch under JAX); the replica division, where there is one, stays in the train step.
"""

from keras import ops

from animegan_face.loss import augment, image_ops, losses, smoothing

GENERATOR_TERMS = ("g_adv", "con", "gra", "col", "skin", "face", "surface", "distill", "region",
                   "crack", "pair")
DISCRIMINATOR_TERMS = ("d_total", "d_adv", "d_surface")

# Guided-filter settings at 256 px (radii scale with the image side). Surface: White-box
# Cartoonization's (radius 5, epsilon 0.2 on [-1, 1]): only strong edges survive. Smoothing
# target of the distill and region terms: radius 4, epsilon 0.04 flattens differences of about
# 25 grey levels (skin texture, pores, shading noise) and keeps outlines.
SURFACE_FILTER = (5, 0.2)
SMOOTH_FILTER = (4, 0.04)
REGION_COLOURS = 12  # k-means colours per image of the region term's flat-shaded target (8 put
# blue patches on skin where the background shared a cluster, seen on held-out faces)


def _radius(radius_at_256, images):
    return max(1, round(radius_at_256 * images.shape[1] / 256))


def surface(images):
    """White-box's surface representation: the self-guided filter at SURFACE_FILTER."""
    radius, epsilon = SURFACE_FILTER
    filtered = smoothing.guided_filter(images, images, _radius(radius, images), epsilon)
    return ops.cast(filtered, images.dtype)  # concatenated with the images it is compared with


def generator_input(photo, loss_config, seed):
    """What G stylises in a GAN step: the photo, with grain (`augment.grain`) where
    LossConfig.input_grain is on, drawn from the step `seed` (other draws than DiffAugment's). The
    loss terms are given the clean photo. The k-th photo of a batch gets the k-th field: under
    tf.distribute every replica draws from the same seed, so replicas share fields (as for
    DiffAugment); JAX draws them over the global batch."""
    if loss_config.input_grain == 0:
        return photo
    return augment.grain(photo, seed, loss_config.input_grain)


def smoothed_target(images):
    """The edge-preserving smoothed copy that the distill term pulls G(p) towards."""
    radius, epsilon = SMOOTH_FILTER
    return smoothing.guided_filter(images, images, _radius(radius, images), epsilon)


def region_target(images):
    """The flat-shaded copy of the region term: the smoothed copy's k-means colour regions averaged."""
    return smoothing.colour_region_average(smoothed_target(images), REGION_COLOURS)


def augmented(discriminate, loss_config, seed):
    """`discriminate` behind DiffAugment (LossConfig.diffaugment), or unchanged when it is off."""
    parts = augment.policy_parts(loss_config.diffaugment)
    if not parts:
        return discriminate
    return lambda images: discriminate(augment.diff_augment(images, seed, parts))


def warmup_content_loss(photo, fake, extract, loss_config):
    """Unweighted content term of the warm-up: ||F(p) - F(G(p))|| (one extractor pass for both)."""
    # The photo's features need no gradient: kept out of the backward pass (see generator_terms).
    photo_features = ops.stop_gradient(extract(photo))
    return losses.content_loss(photo_features, extract(fake), loss_config.distance)


def discriminator_terms(anime, fake, anime_gray, smooth_gray, discriminate, loss_config, seed=0):
    """{"d_adv": unweighted v1 D loss, "d_surface": unweighted surface D loss (0 when off),
    "d_total": adv * d_adv + surface * d_surface}; `fake` should carry no gradient.

    One discriminator pass over the four kinds of image together (real anime is 1; generated,
    grayscale and smoothed grayscale anime are 0), plus the surface views of anime and generated
    images when the surface term is on. `seed` (the step) draws DiffAugment's randomness.
    """
    images = [anime, fake, anime_gray, smooth_gray]
    if loss_config.surface != 0:
        images += [surface(anime), surface(fake)]
    scores = augmented(discriminate, loss_config, 2 * seed)(ops.concatenate(images, 0))
    scores = ops.split(scores, len(images), axis=0)
    d_adv = losses.discriminator_adversarial_loss(*scores[:4])
    d_total = loss_config.adv * d_adv
    d_surface = ops.zeros((), d_adv.dtype)
    if loss_config.surface != 0:
        d_surface = losses.surface_discriminator_loss(scores[4], scores[5])
        d_total = d_total + loss_config.surface * d_surface
    return {"d_total": d_total, "d_adv": d_adv, "d_surface": d_surface}


def generator_weights(loss_config):
    """{term: weight} of the generator loss, in `GENERATOR_TERMS` order."""
    return {"g_adv": loss_config.adv, "con": loss_config.con, "gra": loss_config.gra,
            "col": loss_config.col, "skin": loss_config.skin, "face": loss_config.face,
            "surface": loss_config.surface, "distill": loss_config.distill,
            "region": loss_config.region, "crack": loss_config.crack, "pair": loss_config.pair}


def generator_terms(photo, face_boxes, anime_gray, fake, discriminate, extract, extract_faces,
                    loss_config, face_crop_size, seed=0, photo_target=None):
    """The unweighted generator terms (`GENERATOR_TERMS`) for a batch and its stylisation `fake`.

    `photo_target` is the batch's pseudo-pair targets, which the pair term pulls `fake` towards,
    and the content term too with `content_source="pair"` (required when either is on).

    A term whose weight is 0 is not computed and reads 0 (switching a term off saves its cost: no
    extractor pass when content and Gram are both off, no face crops when the face term is off).
    Face term: both images are cropped to each photo's face box at `face_crop_size` and compared
    through `extract_faces`; 0 when `extract_faces` is None. `seed` (the step) draws DiffAugment's
    randomness, other draws than the discriminator update's.
    """
    distance = loss_config.distance
    on = {name: weight != 0 for name, weight in generator_weights(loss_config).items()}
    batch = ops.shape(photo)[0]
    # A term that is off reads 0 in the dtype the terms are computed in (float64 in a float64 step).
    terms = {name: ops.zeros((), image_ops.float_dtype(fake)) for name in GENERATOR_TERMS}
    content_from_pair = on["con"] and loss_config.content_source == "pair"
    if (on["pair"] or content_from_pair) and photo_target is None:
        raise ValueError("the pair term or content_source=pair is on but the batch carries no "
                         "pseudo-pair targets")
    discriminate = augmented(discriminate, loss_config, 2 * seed + 1)
    if on["g_adv"] and on["surface"]:  # one discriminator pass for both views
        scores = ops.split(discriminate(ops.concatenate([fake, surface(fake)], 0)), 2, axis=0)
        terms["g_adv"] = losses.generator_adversarial_loss(scores[0])
        terms["surface"] = losses.generator_adversarial_loss(scores[1])
    elif on["g_adv"]:
        terms["g_adv"] = losses.generator_adversarial_loss(discriminate(fake))
    elif on["surface"]:
        terms["surface"] = losses.generator_adversarial_loss(discriminate(surface(fake)))
    if on["pair"]:
        terms["pair"] = losses.pair_loss(fake, photo_target)
    if on["distill"]:
        terms["distill"] = losses.flatness_loss(fake, smoothed_target(fake))
    if on["region"]:
        terms["region"] = losses.flatness_loss(fake, region_target(fake))
    if on["crack"]:
        terms["crack"] = losses.crack_loss(fake, face_boxes, loss_config.crack_size)
    if on["con"] or on["gra"]:
        # Two extractor passes: the targets the terms need ([photo,] [grayscale anime]) without
        # gradient, then `fake` alone. One pass over all three carried the extractor's backward
        # pass over 3x the images the generator's gradient needs: the split made the thesis step
        # 16.5 % faster (bench/RESULTS.md), with the same gradients.
        content_reference = photo_target if content_from_pair else photo
        targets = ([content_reference] if on["con"] else []) + ([anime_gray] if on["gra"] else [])
        target_features = ops.stop_gradient(extract(ops.concatenate(targets, 0)))
        fake_features = extract(fake)
        if on["con"]:
            terms["con"] = losses.content_loss(target_features[:batch], fake_features, distance)
        if on["gra"]:
            terms["gra"] = losses.style_loss(fake_features, target_features[-batch:], distance)
    if on["col"]:
        terms["col"] = losses.color_loss(photo, fake, distance, loss_config.color_scale)
    if on["skin"]:
        terms["skin"] = losses.skin_color_loss(photo, fake, face_boxes, distance,
                                               loss_config.color_scale, loss_config.skin_region,
                                               loss_config.skin_statistic)
    if on["face"] and extract_faces is not None:
        crops = ops.concatenate([
            image_ops.crop_faces(photo, face_boxes, face_crop_size),
            image_ops.crop_faces(fake, face_boxes, face_crop_size),
        ], 0)
        face_features = extract_faces(crops)
        terms["face"] = losses.face_feature_loss(
            face_features[:batch], face_features[batch:], face_boxes, distance)
    return terms


def weighted_generator_loss(terms, loss_config):
    """adv*g_adv + con*con + gra*gra + col*col + skin*skin + face*face (thesis eq. 6 and 7), plus
    the flatness candidates' weighted terms where they are on."""
    weights = generator_weights(loss_config)
    return sum((weights[name] * terms[name] for name in GENERATOR_TERMS if weights[name] != 0),
               ops.zeros((), image_ops.float_dtype(*terms.values())))
