"""The training objectives: how the loss terms of `losses` are composed, once, for every backend.

`keras.ops` only, no TensorFlow: the TensorFlow train steps (`tf_trainer`, under a GradientTape) and
the JAX ones (`jax_trainer`, stateless and jitted) both call these functions. The networks come in
as callables, because each backend calls them its own way (a Keras model call, or
`stateless_call` with explicit variables):

    discriminate(images) -> raw LSGAN scores, D in training mode
    extract(images)      -> content/Gram features of the frozen extractor
    extract_faces(crops) -> face features of the frozen face extractor, or None (face term off)

Batches are `(photo, face_boxes, anime, anime_gray, smooth_gray)` as `pipeline` makes them; every
term is a mean over the batch it is given (the per-replica batch under tf.distribute, the global
batch under JAX); the replica division, where there is one, stays in the train step.
"""

from keras import ops

from animegan_face.loss import image_ops, losses

GENERATOR_TERMS = ("g_adv", "con", "gra", "col", "skin", "face")
DISCRIMINATOR_TERMS = ("d_total", "d_adv")


def warmup_content_loss(photo, fake, extract, loss_config):
    """Unweighted content term of the warm-up: ||F(p) - F(G(p))|| (one extractor pass for both)."""
    # The photo's features need no gradient: kept out of the backward pass (see generator_terms).
    photo_features = ops.stop_gradient(extract(photo))
    return losses.content_loss(photo_features, extract(fake), loss_config.distance)


def discriminator_terms(anime, fake, anime_gray, smooth_gray, discriminate, loss_config):
    """{"d_adv": unweighted v1 D loss, "d_total": adv * d_adv}; `fake` should carry no gradient.

    One discriminator pass over the four kinds of image together (real anime is 1; generated,
    grayscale and smoothed grayscale anime are 0).
    """
    scores = discriminate(ops.concatenate([anime, fake, anime_gray, smooth_gray], 0))
    anime_s, fake_s, gray_s, smooth_s = ops.split(scores, 4, axis=0)
    d_adv = losses.discriminator_adversarial_loss(anime_s, fake_s, gray_s, smooth_s)
    return {"d_total": loss_config.adv * d_adv, "d_adv": d_adv}


def generator_weights(loss_config):
    """{term: weight} of the generator loss, in `GENERATOR_TERMS` order."""
    return {"g_adv": loss_config.adv, "con": loss_config.con, "gra": loss_config.gra,
            "col": loss_config.col, "skin": loss_config.skin, "face": loss_config.face}


def generator_terms(photo, face_boxes, anime_gray, fake, discriminate, extract, extract_faces,
                    loss_config, face_crop_size):
    """The six unweighted generator terms (`GENERATOR_TERMS`) for a batch and its stylisation `fake`.

    A term whose weight is 0 is not computed and reads 0 (switching a term off saves its cost: no
    extractor pass when content and Gram are both off, no face crops when the face term is off).
    Face term: both images are cropped to each photo's face box at `face_crop_size` and compared
    through `extract_faces`; 0 when `extract_faces` is None.
    """
    distance = loss_config.distance
    on = {name: weight != 0 for name, weight in generator_weights(loss_config).items()}
    batch = ops.shape(photo)[0]
    # A term that is off reads 0 in the dtype the terms are computed in (float64 in a float64 step).
    terms = {name: ops.zeros((), image_ops.float_dtype(fake)) for name in GENERATOR_TERMS}
    if on["g_adv"]:
        terms["g_adv"] = losses.generator_adversarial_loss(discriminate(fake))
    if on["con"] or on["gra"]:
        # Two extractor passes: the targets the terms need ([photo,] [grayscale anime]) without
        # gradient, then `fake` alone. One pass over all three carried the extractor's backward
        # pass over 3x the images the generator's gradient needs: the split made the thesis step
        # 16.5 % faster (bench/RESULTS.md), with the same gradients.
        targets = ([photo] if on["con"] else []) + ([anime_gray] if on["gra"] else [])
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
                                               loss_config.color_scale)
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
    """adv*g_adv + con*con + gra*gra + col*col + skin*skin + face*face (thesis eq. 6 and 7)."""
    weights = generator_weights(loss_config)
    return sum((weights[name] * terms[name] for name in GENERATOR_TERMS if weights[name] != 0),
               ops.zeros((), image_ops.float_dtype(*terms.values())))
