"""How strongly each weighted loss term pulls on the generator: gradient norms per term.

A term's weight says little by itself: what moves the generator is the gradient of
`weight * term`, and its size depends on the value range the term works on (VGG features in the
hundreds against YUV differences in hundredths). For a batch and the current networks this
measures, per weighted generator term,

    image:     || d(weight * term) / d G(p) ||_2   over the generated batch (B, H, W, 3)
    generator: || d(weight * term) / d theta_G ||_2 over all trainable generator variables

with the discriminator in inference mode (its spectral-norm state is not advanced) and the
frozen extractors as in training. TensorFlow only (GradientTape): it is a measurement, not part of
the training maths, which lives in `objectives`.
"""

import tensorflow as tf

from animegan_face.loss import objectives


def term_gradient_norms(generator, discriminator, content_extractor, face_extractor, batch,
                        loss_config, face_crop_size):
    """{"image/<term>": float, "generator/<term>": float} for every generator term with weight != 0.

    batch: `(photo, face_boxes, anime, anime_gray, smooth_gray, photo_target)` as the pipeline
    makes it.
    """
    photo, face_boxes, _, anime_gray, _, photo_target = (tf.convert_to_tensor(p) for p in batch)
    weights = objectives.generator_weights(loss_config)
    extract_faces = None
    if face_extractor is not None:
        extract_faces = lambda crops: face_extractor(crops, training=False)  # noqa: E731
    variables = generator.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        fake = generator(photo, training=True)
        terms = objectives.generator_terms(
            photo, face_boxes, anime_gray, fake,
            discriminate=lambda images: discriminator(images, training=False),
            extract=lambda images: content_extractor(images, training=False),
            extract_faces=extract_faces, loss_config=loss_config, face_crop_size=face_crop_size,
            photo_target=photo_target)
        weighted = {name: weights[name] * terms[name] for name in objectives.GENERATOR_TERMS
                    if weights[name] != 0 and (name != "face" or face_extractor is not None)}
    norms = {}
    for name, value in weighted.items():
        image_gradient, *variable_gradients = tape.gradient(value, [fake, *variables])
        norms[f"image/{name}"] = _norm([image_gradient])
        norms[f"generator/{name}"] = _norm(variable_gradients)
    del tape
    return norms


def _norm(gradients):
    squares = [tf.reduce_sum(tf.square(tf.cast(g, tf.float32))) for g in gradients if g is not None]
    return float(tf.sqrt(tf.add_n(squares))) if squares else 0.0


def format_norms(norms):
    """One table row per term: image and generator gradient norms, and each as a share of content."""
    names = [key.split("/", 1)[1] for key in norms if key.startswith("image/")]
    lines = [f"{'term':<7}{'|dL/dG(p)|':>14}{'|dL/dtheta|':>14}{'vs con (image)':>16}"]
    reference = norms.get("image/con") or None
    for name in names:
        image, variables = norms[f"image/{name}"], norms[f"generator/{name}"]
        share = f"{image / reference:>16.4f}" if reference else f"{'':>16}"
        lines.append(f"{name:<7}{image:>14.4g}{variables:>14.4g}{share}")
    return "\n".join(lines)
