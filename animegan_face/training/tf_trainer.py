"""The two training algorithms as `keras.Model`s: generator warm-up, then the AnimeGAN GAN step.

Both consume batches `(photo, photo_face_box, anime, anime_gray, smooth_gray, photo_target)`
from `animegan_face.data.pipeline` and share one generator. The objectives (which terms, which weights) are
`animegan_face.loss.objectives`, shared with the JAX train steps of `animegan_face.training.jax_trainer`; this
module only runs them under a GradientTape and applies the gradients. Each `train_step` returns
that step's own values; the training loop (`loop.run_epochs`) keeps the running means.

Replicas: each loss term is a mean over the per-replica batch; the optimizers sum gradients over
replicas, so the weighted total is divided by `num_replicas_in_sync` exactly once, before the
gradients are taken. One replica with batch B and N replicas with B/N each then make the same update.
"""

import keras
import tensorflow as tf
from keras import ops

from animegan_face.loss import objectives


def _replica_count():
    return tf.distribute.get_strategy().num_replicas_in_sync


def _unpack(data):
    # The 6-tuple comes as x alone (see `as_fit_input`), as fit() would hand it over.
    batch, _, _ = keras.utils.unpack_x_y_sample_weight(data)
    return batch


def as_fit_input(dataset):
    """Wraps each 6-tuple batch as x alone, so that fit() does not read it as (x, y, weights)."""
    return dataset.map(lambda *batch: (batch,))


class GeneratorWarmup(keras.Model):
    """AnimeGAN's "init" epochs: the generator alone, on the content loss (weighted by `con`).

    Args:
        generator: the generator being trained (shared with `AnimeGANTrainer`).
        content_extractor: frozen extractor of `animegan_face.models.extractors`.
        loss_config: `LossConfig`; `con` and `distance` are used.
    """

    def __init__(self, generator, content_extractor, loss_config, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.content_extractor = content_extractor
        self.loss_config = loss_config

    def compile(self, optimizer, jit_compile=False):
        super().compile(optimizer=optimizer, jit_compile=jit_compile)

    def call(self, photo, training=False):
        return self.generator(photo, training=training)

    def train_step(self, data):
        photo = _unpack(data)[0]
        with tf.GradientTape() as tape:
            fake = self.generator(photo, training=True)
            con = objectives.warmup_content_loss(
                photo, fake, lambda x: self.content_extractor(x, training=False), self.loss_config)
            # Divided once by the replica count: the optimizer sums gradients over replicas.
            scaled = self.loss_config.con * con / _replica_count()
            scaled = self.optimizer.scale_loss(scaled)
        variables = self.generator.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        return {"init_con": con}


class AnimeGANTrainer(keras.Model):
    """One discriminator update, then one generator update, per batch (AnimeGAN v1 + thesis terms).

    D: adv * [mean((D(a)-1)^2) + mean(D(G(p))^2) + mean(D(gray a)^2) + 0.1 mean(D(gray smooth a)^2)]
    G: adv * mean((D(G(p))-1)^2) + con * content + gra * Gram style + col * colour
       + skin * skin colour (face box) + face * face features (face crops through `face_extractor`)
    A term whose weight is 0 is not computed (its extractor pass is skipped) and logs 0.

    Args:
        generator, discriminator: from `animegan_face.models.networks`.
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

    def compile(self, g_optimizer, d_optimizer, jit_compile=False):
        super().compile(jit_compile=jit_compile)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer

    def call(self, photo, training=False):
        return self.generator(photo, training=training)

    def generator_terms(self, photo, face_boxes, anime_gray, fake, seed=0, photo_target=None):
        """The unweighted generator loss terms for a batch and its stylisation `fake`."""
        extract_faces = None
        if self.face_extractor is not None:
            extract_faces = lambda crops: self.face_extractor(crops, training=False)  # noqa: E731
        return objectives.generator_terms(
            photo, face_boxes, anime_gray, fake,
            discriminate=lambda images: self.discriminator(images, training=True),
            extract=lambda images: self.content_extractor(images, training=False),
            extract_faces=extract_faces, loss_config=self.loss_config,
            face_crop_size=self.face_crop_size, seed=seed, photo_target=photo_target)

    def weighted_generator_loss(self, terms):
        return objectives.weighted_generator_loss(terms, self.loss_config)

    def train_step(self, data):
        photo, face_boxes, anime, anime_gray, smooth_gray, photo_target = _unpack(data)
        replicas = _replica_count()
        # The step number seeds DiffAugment and the input grain (when on): the same draws on a
        # resumed run.
        seed = ops.cast(self.d_optimizer.iterations, "int32")

        # One generator forward serves both updates: G is unchanged by the D update, so its output
        # is the same one v1 recomputes. The D update sees it through stop_gradient.
        with tf.GradientTape() as g_tape:
            fake = self.generator(objectives.generator_input(photo, self.loss_config, seed),
                                  training=True)

            # Discriminator update on real anime, generated, grayscale and smoothed grayscale images.
            with tf.GradientTape() as d_tape:
                d_terms = objectives.discriminator_terms(
                    anime, ops.stop_gradient(fake), anime_gray, smooth_gray,
                    lambda images: self.discriminator(images, training=True), self.loss_config,
                    seed)
                # Divided once by the replica count: the optimizer sums gradients over replicas.
                d_scaled = self.d_optimizer.scale_loss(d_terms["d_total"] / replicas)
            d_variables = self.discriminator.trainable_variables
            self.d_optimizer.apply_gradients(zip(d_tape.gradient(d_scaled, d_variables), d_variables))

            # Generator update against the updated discriminator.
            terms = self.generator_terms(photo, face_boxes, anime_gray, fake, seed, photo_target)
            g_total = self.weighted_generator_loss(terms)
            g_scaled = self.g_optimizer.scale_loss(g_total / replicas)
        g_variables = self.generator.trainable_variables
        self.g_optimizer.apply_gradients(zip(g_tape.gradient(g_scaled, g_variables), g_variables))

        return {**d_terms, "g_total": g_total, **terms}
