"""The warm-up and GAN train steps for the JAX backend: stateless functions compiled by jax.jit.

The same algorithm as `tf_trainer` (TensorFlow), composed by the same `objectives`: warm-up trains G
alone on `con * content`; a GAN step makes one D update, then one G update against the updated D,
from one G forward pass (its VJP is kept for the G update, as TensorFlow's tape keeps it).

State is explicit: `TrainState` holds the values of every variable that training changes (G, D,
the three optimizers); the frozen extractors' values go in as a separate argument, so that XLA sees
them as inputs rather than baking their tens of millions of parameters into the program as
constants. `write_back` copies a state into the Keras variables (for saving and sampling).

Two details keep the maths identical to the TensorFlow path:
- Keras' `SpectralNormalization`, in training mode, first writes the normalised kernel (and the
  new power-iteration vector) into its variables, then convolves; TensorFlow's tape takes the
  gradient with respect to that written value. `stateless_call` drops writes to trainable
  variables, so the discriminator's update is run explicitly (`_discriminator_state_update`), and D
  is then called in inference mode, which is the same convolution without the write.
- Under `keras.distribution.DataParallel` the batch is sharded and the variables replicated;
  jax.jit computes the loss over the global batch, so there is no replica division here.
"""

import dataclasses

import jax
import keras
import numpy as np
from keras import ops

from animegan_face.loss import objectives

# D's state update (normalise the spectral-norm kernels) does not depend on the input: a tiny
# probe runs it, and XLA drops the probe's unused convolutions.
_PROBE_SIZE = 16


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class TrainState:
    """Values of everything training changes, as lists in the order of the Keras variables."""

    g_trainable: list
    g_non_trainable: list
    d_trainable: list
    d_non_trainable: list
    init_optimizer: list
    g_optimizer: list
    d_optimizer: list


def _values(variables):
    return [variable.value for variable in variables]


def _scaled(optimizer, optimizer_values, loss):
    """optimizer.scale_loss (loss scaling under mixed precision) with the state's scale variable."""
    with keras.StatelessScope(state_mapping=list(zip(optimizer.variables, optimizer_values))):
        return optimizer.scale_loss(loss)


class JaxAnimeGANTrainer:
    """Jitted warm-up and GAN steps over G, D, the frozen extractors and three optimizers.

    Args:
        generator, discriminator: from `animegan_face.models.networks` (built).
        content_extractor, face_extractor: frozen extractors (`face_extractor` may be None).
        loss_config: `LossConfig`.
        init_optimizer, g_optimizer, d_optimizer: Adam (or LossScaleOptimizer) of the warm-up, G, D.
        face_crop_size: side of the face crops fed to the face extractor.

    Example:
        trainer = JaxAnimeGANTrainer(g, d, content, face, config.loss, init_opt, g_opt, d_opt)
        state = trainer.state()
        state, logs = trainer.gan_step(state, batch)   # batch: the pipeline's 6-tuple
        trainer.write_back(state)
    """

    def __init__(self, generator, discriminator, content_extractor, face_extractor, loss_config,
                 init_optimizer, g_optimizer, d_optimizer, face_crop_size=128):
        self.generator = generator
        self.discriminator = discriminator
        self.content_extractor = content_extractor
        self.face_extractor = face_extractor
        self.loss_config = loss_config
        self.init_optimizer = init_optimizer
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.face_crop_size = face_crop_size
        for optimizer, model in ((init_optimizer, generator), (g_optimizer, generator),
                                 (d_optimizer, discriminator)):
            optimizer.build(model.trainable_variables)
        self._frozen = self._frozen_values()
        # Where D's step counter sits in its optimizer's values: it seeds DiffAugment, as in the
        # TensorFlow step, so both backends draw the same augmentations at the same step.
        self._d_step_index = next(i for i, v in enumerate(d_optimizer.variables)
                                  if v is d_optimizer.iterations)
        self._warmup_step = jax.jit(self._warmup_step_fn)
        self._gan_step = jax.jit(self._gan_step_fn)
        self._generate = jax.jit(self._generate_fn)

    # State

    def _frozen_values(self):
        frozen = {"content": _values(self.content_extractor.variables)}
        if self.face_extractor is not None:
            frozen["face"] = _values(self.face_extractor.variables)
        return frozen

    def state(self):
        """The current values of the Keras variables as a `TrainState`."""
        return TrainState(
            g_trainable=_values(self.generator.trainable_variables),
            g_non_trainable=_values(self.generator.non_trainable_variables),
            d_trainable=_values(self.discriminator.trainable_variables),
            d_non_trainable=_values(self.discriminator.non_trainable_variables),
            init_optimizer=_values(self.init_optimizer.variables),
            g_optimizer=_values(self.g_optimizer.variables),
            d_optimizer=_values(self.d_optimizer.variables))

    def write_back(self, state):
        """Assigns `state` to the Keras variables (the models and optimizers then hold it)."""
        pairs = (
            (self.generator.trainable_variables, state.g_trainable),
            (self.generator.non_trainable_variables, state.g_non_trainable),
            (self.discriminator.trainable_variables, state.d_trainable),
            (self.discriminator.non_trainable_variables, state.d_non_trainable),
            (self.init_optimizer.variables, state.init_optimizer),
            (self.g_optimizer.variables, state.g_optimizer),
            (self.d_optimizer.variables, state.d_optimizer),
        )
        for variables, values in pairs:
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)

    # Network calls with explicit variables

    def _extractors(self, frozen):
        content = self.content_extractor

        def extract(images):
            return content.stateless_call([], frozen["content"], images, training=False)[0]

        extract_faces = None
        if self.face_extractor is not None:
            face = self.face_extractor

            def extract_faces(crops):
                return face.stateless_call([], frozen["face"], crops, training=False)[0]

        return extract, extract_faces

    def _discriminator_state_update(self, d_trainable, d_non_trainable):
        """What D's training-mode call writes into its variables (spectral normalisation)."""
        variables = self.discriminator.trainable_variables + self.discriminator.non_trainable_variables
        mapping = list(zip(variables, list(d_trainable) + list(d_non_trainable)))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            self.discriminator(np.zeros((1, _PROBE_SIZE, _PROBE_SIZE, 3), np.float32), training=True)
        return ([scope.get_current_value(v) for v in self.discriminator.trainable_variables],
                [scope.get_current_value(v) for v in self.discriminator.non_trainable_variables])

    def _discriminate(self, d_trainable, d_non_trainable):
        def discriminate(images):
            return self.discriminator.stateless_call(
                d_trainable, d_non_trainable, images, training=False)[0]
        return discriminate

    # Steps (pure functions of state, frozen values and batch; jitted in __init__)

    def _warmup_step_fn(self, state, frozen, batch):
        photo = batch[0]
        extract, _ = self._extractors(frozen)

        def loss(g_trainable):
            fake, g_non_trainable = self.generator.stateless_call(
                g_trainable, state.g_non_trainable, photo, training=True)
            con = objectives.warmup_content_loss(photo, fake, extract, self.loss_config)
            scaled = _scaled(self.init_optimizer, state.init_optimizer, self.loss_config.con * con)
            return scaled, (con, g_non_trainable)

        (_, (con, g_non_trainable)), grads = jax.value_and_grad(loss, has_aux=True)(state.g_trainable)
        g_trainable, init_optimizer = self.init_optimizer.stateless_apply(
            state.init_optimizer, grads, state.g_trainable)
        new_state = dataclasses.replace(state, g_trainable=g_trainable,
                                        g_non_trainable=g_non_trainable, init_optimizer=init_optimizer)
        return new_state, {"init_con": con}

    def _gan_step_fn(self, state, frozen, batch):
        photo, face_boxes, anime, anime_gray, smooth_gray, photo_target = batch
        extract, extract_faces = self._extractors(frozen)
        seed = ops.cast(state.d_optimizer[self._d_step_index], "int32")

        # One generator forward serves both updates; its VJP gives the G gradients at the end.
        generator_input = objectives.generator_input(photo, self.loss_config, seed)

        def forward(g_trainable):
            return self.generator.stateless_call(
                g_trainable, state.g_non_trainable, generator_input, training=True)

        fake, g_pullback, g_non_trainable = jax.vjp(forward, state.g_trainable, has_aux=True)

        # Discriminator update on real anime, generated, grayscale and smoothed grayscale images.
        d_trainable, d_non_trainable = self._discriminator_state_update(
            state.d_trainable, state.d_non_trainable)

        def d_loss(d_trainable):
            terms = objectives.discriminator_terms(
                anime, ops.stop_gradient(fake), anime_gray, smooth_gray,
                self._discriminate(d_trainable, d_non_trainable), self.loss_config, seed)
            return _scaled(self.d_optimizer, state.d_optimizer, terms["d_total"]), terms

        (_, d_terms), d_grads = jax.value_and_grad(d_loss, has_aux=True)(d_trainable)
        d_trainable, d_optimizer = self.d_optimizer.stateless_apply(
            state.d_optimizer, d_grads, d_trainable)

        # Generator update against the updated discriminator.
        d_trainable, d_non_trainable = self._discriminator_state_update(d_trainable, d_non_trainable)

        def g_loss(fake):
            terms = objectives.generator_terms(
                photo, face_boxes, anime_gray, fake,
                discriminate=self._discriminate(d_trainable, d_non_trainable), extract=extract,
                extract_faces=extract_faces, loss_config=self.loss_config,
                face_crop_size=self.face_crop_size, seed=seed, photo_target=photo_target)
            total = objectives.weighted_generator_loss(terms, self.loss_config)
            return _scaled(self.g_optimizer, state.g_optimizer, total), (total, terms)

        (_, (g_total, g_terms)), fake_grad = jax.value_and_grad(g_loss, has_aux=True)(fake)
        (g_grads,) = g_pullback(fake_grad)
        g_trainable, g_optimizer = self.g_optimizer.stateless_apply(
            state.g_optimizer, g_grads, state.g_trainable)

        new_state = dataclasses.replace(
            state, g_trainable=g_trainable, g_non_trainable=g_non_trainable,
            d_trainable=d_trainable, d_non_trainable=d_non_trainable,
            g_optimizer=g_optimizer, d_optimizer=d_optimizer)
        return new_state, {**d_terms, "g_total": g_total, **g_terms}

    def _generate_fn(self, g_trainable, g_non_trainable, photo):
        return self.generator.stateless_call(g_trainable, g_non_trainable, photo, training=False)[0]

    # Public steps

    def warmup_step(self, state, batch):
        """One warm-up step; returns (new state, {"init_con": unweighted content loss})."""
        return self._warmup_step(state, self._frozen, tuple(batch))

    def gan_step(self, state, batch):
        """One D then one G update; returns (new state, {"d_total", "d_adv", "g_total", terms})."""
        return self._gan_step(state, self._frozen, tuple(batch))

    def generate(self, state, photo):
        """G(photo) in inference mode with the generator values of `state`."""
        return self._generate(state.g_trainable, state.g_non_trainable, photo)
