"""The two training algorithms as `keras.Model`s: generator warm-up, then the AnimeGAN GAN step.

Both consume batches `(photo, photo_face_box, anime, anime_gray, smooth_gray)` from
`animegan_face.pipeline` and share one generator. The loss terms are the pure functions of
`animegan_face.losses`; this module only calls the networks and composes the terms with the
weights of `LossConfig`.

Replicas: each loss term is a mean over the per-replica batch; the optimizers sum gradients over
replicas, so the weighted total is divided by `num_replicas_in_sync` exactly once, before the
gradients are taken. One replica with batch B and N replicas with B/N each then make the same update.
"""

import keras
import tensorflow as tf
from keras import ops

from animegan_face import image_ops, losses

GENERATOR_TERMS = ("g_adv", "con", "gra", "col", "skin", "face")


def _replica_count():
    return tf.distribute.get_strategy().num_replicas_in_sync


def _unpack(data):
    # fit() hands the 5-tuple over as x (see `as_fit_input`).
    batch, _, _ = keras.utils.unpack_x_y_sample_weight(data)
    return batch


def as_fit_input(dataset):
    """Wraps each 5-tuple batch as x alone, so that fit() does not read it as (x, y, weights)."""
    return dataset.map(lambda *batch: (batch,))


class GeneratorWarmup(keras.Model):
    """AnimeGAN's "init" epochs: the generator alone, on the content loss (weighted by `con`).

    Args:
        generator: the generator being trained (shared with `AnimeGANTrainer`).
        content_extractor: frozen extractor of `animegan_face.extractors`.
        loss_config: `LossConfig`; `con` and `distance` are used.
    """

    def __init__(self, generator, content_extractor, loss_config, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.content_extractor = content_extractor
        self.loss_config = loss_config
        self.con_tracker = keras.metrics.Mean(name="init_con")

    def compile(self, optimizer, jit_compile=False):
        super().compile(optimizer=optimizer, jit_compile=jit_compile)

    @property
    def metrics(self):
        return [self.con_tracker]

    def call(self, photo, training=False):
        return self.generator(photo, training=training)

    def train_step(self, data):
        photo = _unpack(data)[0]
        photo_features = self.content_extractor(photo, training=False)
        with tf.GradientTape() as tape:
            fake = self.generator(photo, training=True)
            fake_features = self.content_extractor(fake, training=False)
            con = losses.content_loss(photo_features, fake_features, self.loss_config.distance)
            # Divided once by the replica count: the optimizer sums gradients over replicas.
            scaled = self.loss_config.con * con / _replica_count()
            scaled = self.optimizer.scale_loss(scaled)
        variables = self.generator.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        self.con_tracker.update_state(con)
        return {"init_con": self.con_tracker.result()}


class AnimeGANTrainer(keras.Model):
    """One discriminator update, then one generator update, per batch (AnimeGAN v1 + thesis terms).

    D: adv * [mean((D(a)-1)^2) + mean(D(G(p))^2) + mean(D(gray a)^2) + 0.1 mean(D(gray smooth a)^2)]
    G: adv * mean((D(G(p))-1)^2) + con * content + gra * Gram style + col * colour
       + skin * skin colour (face box) + face * face features (face crops through `face_extractor`)

    Args:
        generator, discriminator: from `animegan_face.networks`.
        content_extractor: frozen content/Gram extractor.
        face_extractor: frozen face extractor, or None (face term 0 and not computed).
        loss_config: `LossConfig` (weights and distance).
        face_crop_size: side of the face crops, the face extractor's input.
    """

    def __init__(self, generator, discriminator, content_extractor, face_extractor, loss_config,
                 face_crop_size=128, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.content_extractor = content_extractor
        self.face_extractor = face_extractor
        self.loss_config = loss_config
        self.face_crop_size = face_crop_size
        names = ("d_total", "d_adv", "g_total") + GENERATOR_TERMS
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}

    def compile(self, g_optimizer, d_optimizer, jit_compile=False):
        super().compile(jit_compile=jit_compile)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, photo, training=False):
        return self.generator(photo, training=training)

    def generator_terms(self, photo, face_boxes, anime_gray, fake):
        """The unweighted generator loss terms for a batch and its stylisation `fake`."""
        config = self.loss_config
        batch = ops.shape(photo)[0]
        # One extractor pass over photo, fake and grayscale anime together.
        features = self.content_extractor(ops.concatenate([photo, fake, anime_gray], 0), training=False)
        photo_features, fake_features, gray_features = (
            features[:batch], features[batch:2 * batch], features[2 * batch:])
        terms = {
            "g_adv": losses.generator_adversarial_loss(self.discriminator(fake, training=True)),
            "con": losses.content_loss(photo_features, fake_features, config.distance),
            "gra": losses.style_loss(fake_features, gray_features, config.distance),
            "col": losses.color_loss(photo, fake, config.distance),
            "skin": losses.skin_color_loss(photo, fake, face_boxes, config.distance),
            "face": ops.zeros((), "float32"),
        }
        if self.face_extractor is not None:
            crops = ops.concatenate([
                image_ops.crop_faces(photo, face_boxes, self.face_crop_size),
                image_ops.crop_faces(fake, face_boxes, self.face_crop_size),
            ], 0)
            face_features = self.face_extractor(crops, training=False)
            terms["face"] = losses.face_feature_loss(
                face_features[:batch], face_features[batch:], face_boxes, config.distance)
        return terms

    def weighted_generator_loss(self, terms):
        config = self.loss_config
        weights = {"g_adv": config.adv, "con": config.con, "gra": config.gra, "col": config.col,
                   "skin": config.skin, "face": config.face}
        return sum(weights[name] * terms[name] for name in GENERATOR_TERMS)

    def train_step(self, data):
        photo, face_boxes, anime, anime_gray, smooth_gray = _unpack(data)
        replicas = _replica_count()

        # One generator forward serves both updates: G is unchanged by the D update, so its output
        # is the same one v1 recomputes. The D update sees it through stop_gradient.
        with tf.GradientTape() as g_tape:
            fake = self.generator(photo, training=True)

            # Discriminator update on real anime, generated, grayscale and smoothed grayscale images.
            with tf.GradientTape() as d_tape:
                scores = self.discriminator(ops.concatenate(
                    [anime, ops.stop_gradient(fake), anime_gray, smooth_gray], 0), training=True)
                anime_s, fake_s, gray_s, smooth_s = ops.split(scores, 4, axis=0)
                d_adv = losses.discriminator_adversarial_loss(anime_s, fake_s, gray_s, smooth_s)
                d_total = self.loss_config.adv * d_adv
                # Divided once by the replica count: the optimizer sums gradients over replicas.
                d_scaled = self.d_optimizer.scale_loss(d_total / replicas)
            d_variables = self.discriminator.trainable_variables
            self.d_optimizer.apply_gradients(zip(d_tape.gradient(d_scaled, d_variables), d_variables))

            # Generator update against the updated discriminator.
            terms = self.generator_terms(photo, face_boxes, anime_gray, fake)
            g_total = self.weighted_generator_loss(terms)
            g_scaled = self.g_optimizer.scale_loss(g_total / replicas)
        g_variables = self.generator.trainable_variables
        self.g_optimizer.apply_gradients(zip(g_tape.gradient(g_scaled, g_variables), g_variables))

        values = {"d_total": d_total, "d_adv": d_adv, "g_total": g_total, **terms}
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}
