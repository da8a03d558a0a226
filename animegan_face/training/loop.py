"""The one training procedure of both backends, top to bottom: `train` (run folder, data, networks,
resume, epochs, save), `resume`, the epoch loop `run_epochs`, and the pieces they are built from.

What differs between the backends is a small object handed to `train` (`tf_training.TensorFlow`,
`jax_training.Jax`): the seed, the devices and where this process writes, the trainers and their
steps (`Steps`), how batches arrive. Everything else, and every file a run writes, is the same.
"""

import collections
import pathlib
import sys

import keras
import numpy as np

from animegan_face.config import compute_precision
from animegan_face.data.pipeline import load_anime, load_dataset_files, load_photo, load_target
from animegan_face.data.preparation import prepare_dataset
from animegan_face.models.extractors import build_loss_extractors
from animegan_face.models.networks import build_discriminator, build_generator
from animegan_face.training.callbacks import Counters, EpochCheckpoint, TensorBoardLogger
from animegan_face.training.devices import has_gpu
from animegan_face.training.keras_checkpoint import training_checkpoint
from animegan_face.training.run_checks import SetupError
from animegan_face.training.run_folder import RunFolder
from animegan_face.training.run_log import RunLog

SAMPLE_COUNT = 4


def train(config, backend, verbose=1):
    """Runs (or resumes) warm-up then GAN training as `config` says on `backend`; returns the
    epochs done.

    Raises `run_checks.SetupError` before anything is built when the run cannot start, and
    `run_checks.NonFiniteError` when a loss or a variable goes NaN or infinite (nothing is saved).
    """
    # Run folder: refuse checkpoints this backend cannot read, then record the settings.
    run = RunFolder(config.train.model_dir)
    if not backend.reads_legacy_checkpoints:
        run.refuse_legacy_checkpoint()
    run.write_config(config)
    # Seeds and compute dtype, before anything is drawn or built.
    backend.set_random_seed(config.train.seed)
    set_precision_policy(config)
    # Dataset: prepared on first use; the epoch length follows from it.
    files = resolve_dataset(config)
    steps = steps_per_epoch(config, files)
    total_epochs = config.train.init_epochs + config.train.epochs
    # Devices; `output` is where this process writes (a folder of its own on a non-chief worker).
    with backend.distributed(run) as output:
        # Networks, frozen extractors and optimizers (this order fixes the random draws of each),
        # then the backend's trainers over them.
        with backend.scope():
            networks, optimizers = build_networks(config), make_optimizers(config)
            backend.build(networks, optimizers)
        # Resume: the latest checkpoint (read from `run` on every worker), the legacy one, or the
        # warm start.
        checkpoint = training_checkpoint(output.checkpoints_dir, networks.generator,
                                         networks.discriminator, *optimizers)
        counters = Counters()
        resumed_from, counters.epoch, counters.step = resume(run, checkpoint, config, steps)
        if resumed_from is not None:
            print(f"Resuming from {resumed_from}: {counters.epoch} of {total_epochs} epochs done, "
                  f"step {counters.step}")
            # A kill between the checkpoint and the generator file leaves the latter behind.
            saved_generator = pathlib.Path(resumed_from) / "generator.weights.h5"
            if saved_generator.is_file():  # the legacy format has no file of its own
                output.copy_generator(saved_generator)
            else:
                output.save_generator(networks.generator)
        backend.check_workers_agree(counters, "after restoring")
        # Logs, samples and the per-epoch checkpoint.
        run_log = RunLog(output, dict(zip(("init", "generator", "discriminator"), optimizers)),
                         sample_photos(files, config.data.image_size))
        saved_variables = (networks.generator.weights + networks.discriminator.weights
                           + [v for optimizer in optimizers for v in optimizer.variables])
        callbacks = [
            EpochCheckpoint(checkpoint, counters, output, saved_variables, resumed_from),
            TensorBoardLogger(run_log, counters, backend.stylise, gradient_norms=(
                backend.gradient_norms(files) if config.train.gradient_norms else None)),
        ]
        # Train: the warm-up's steps until init_epochs, then the GAN's until the total.
        warmup_steps, gan_steps = backend.steps()
        phases = ((warmup_steps, config.train.init_epochs), (gan_steps, total_epochs))
        with backend.batches(files, counters.epoch) as batches:
            try:
                run_epochs(phases, batches, counters, total_epochs, steps, callbacks, verbose)
            finally:
                run_log.close()
        backend.check_workers_agree(counters, "at the end")
    return counters.epoch


def resume(run, checkpoint, config, steps=0):
    """Puts a run's state back where it stopped: `run`'s latest checkpoint, else its TensorFlow
    checkpoint of an older version, else the weights of config.train.init_from (a warm start:
    the warm-up counts as done), else nothing.

    Args:
        run: the `RunFolder` read from.
        checkpoint: a `keras_checkpoint.training_checkpoint` of the built networks and optimizers.
        config: the run's `Config`.
        steps: the run's steps per epoch, for a warm start's step counter.

    Returns (checkpoint path or None for a warm or fresh start, epoch, step). Raises SetupError
    naming the --init_from file that is missing or does not fit.
    """
    latest = run.latest_checkpoint()
    if latest is not None:
        return (latest, *checkpoint.restore(latest))
    legacy = run.legacy_tensorflow_checkpoint()
    if legacy is not None:
        return (legacy, *_restore_legacy_checkpoint(legacy, checkpoint))
    return (None, *warm_start(config, checkpoint.models["generator"],
                              checkpoint.models["discriminator"], steps))


def _restore_legacy_checkpoint(path, checkpoint):
    """Loads the `tf.train.Checkpoint` at `path` (what the TensorFlow path wrote before the one
    format, under the names `training_checkpoint` gives the networks and optimizers) into
    `checkpoint`'s objects; returns its (epoch, step). TensorFlow only: the JAX path refuses these
    runs (`RunFolder.refuse_legacy_checkpoint`)."""
    import tensorflow as tf

    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    tf.train.Checkpoint(**checkpoint.models, **checkpoint.optimizers, epoch=epoch, step=step
                        ).restore(path).assert_existing_objects_matched()
    return int(epoch.numpy()), int(step.numpy())


def warm_start(config, generator, discriminator, steps):
    """`--init_from`: loads config.train.init_from's generator.weights.h5 (and
    discriminator.weights.h5 where present) into a new run; returns the (epoch, step) counters it then starts from: the warm-up
    counts as done (`steps` per epoch), since the generator is already trained. (0, 0) when
    init_from is empty.
    Raises SetupError naming the file that is missing or does not fit."""
    if not config.train.init_from:
        return 0, 0
    folder = pathlib.Path(config.train.init_from)
    for name, network, required in (("generator", generator, True),
                                    ("discriminator", discriminator, False)):
        path = folder / f"{name}.weights.h5"
        if not path.is_file():
            if required:
                raise SetupError(f"--init_from: no {path.name} in {folder}")
            print(f"--init_from: no {path.name} in {folder}: the discriminator starts anew")
            continue
        try:
            network.load_weights(path)
        except ValueError as error:
            raise SetupError(f"--init_from: {path} does not fit this run's {name} "
                             f"(--generator={config.model.generator}?): {error}") from None
    print(f"Starting from {folder}: warm-up skipped")
    return config.train.init_epochs, config.train.init_epochs * steps


# The epoch loop


class Steps:
    """How one backend runs one kind of step (warm-up or GAN); the loop calls only these."""

    def __call__(self, batch):
        """Starts one train step on `batch`; returns its logs (possibly still being computed)."""
        raise NotImplementedError

    def fetch(self, logs):
        """{name: float} of one step's logs, brought to the host (waits for that step)."""
        raise NotImplementedError

    def sync(self):
        """Makes the Keras variables hold the trained values (before a checkpoint or samples)."""


class EpochLogs:
    """Running means of the step logs over an epoch (what Keras' Mean trackers report)."""

    def __init__(self):
        self.sums, self.count = {}, 0

    def add(self, values):
        """Adds one step's {name: float}."""
        self.count += 1
        for name, value in values.items():
            self.sums[name] = self.sums.get(name, 0.0) + value

    def means(self):
        return {name: total / self.count for name, total in self.sums.items()}


def run_epochs(phases, batches, counters, total_epochs, steps_per_epoch, callbacks, verbose=1):
    """Trains from epoch `counters.epoch` on, through each phase in turn.

    Args:
        phases: sequence of (steps, end_epoch): `Steps` to run until `end_epoch` epochs are done
            (for example the warm-up's until init_epochs, then the GAN step's until the total);
            a phase already done is skipped.
        batches: iterator of batches, shared by the phases.
        counters: the run's `callbacks.Counters`; `counters.epoch` says where to start (the
            callbacks count it up).
        total_epochs: the run's last epoch, for the progress bar.
        callbacks: `keras.callbacks.Callback`s, given the running means of the epoch at each
            step's end and the epoch's means at its end (after `steps.sync()`).
        verbose: 0 silent, 1 Keras' progress bar.

    Step k+1 is started before step k's logs are read, so an accelerator never waits for the
    host's logging (a jitted JAX call returns at once; a TensorFlow step has finished anyway).
    Nothing is saved within an epoch, so a NaN found one step late is still never saved.
    """
    callback_list = keras.callbacks.CallbackList(
        callbacks, add_progbar=verbose != 0, verbose=verbose, epochs=total_epochs,
        steps=steps_per_epoch)
    callback_list.on_train_begin()
    for steps, end_epoch in phases:
        for epoch in range(counters.epoch, end_epoch):
            callback_list.on_epoch_begin(epoch)
            epoch_logs = EpochLogs()

            def record(logs, index):
                epoch_logs.add(steps.fetch(logs))
                callback_list.on_train_batch_end(index, epoch_logs.means())

            pending = None
            for index in range(steps_per_epoch):
                logs = steps(next(batches))
                if pending is not None:
                    record(*pending)
                pending = (logs, index)
            record(*pending)
            steps.sync()
            callback_list.on_epoch_end(epoch, epoch_logs.means())
    callback_list.on_train_end()
    return counters.epoch


# What a run is built from, the same for both backends

Networks = collections.namedtuple(
    "Networks", "generator discriminator content_extractor face_extractor")
Optimizers = collections.namedtuple("Optimizers", "init generator discriminator")


def set_precision_policy(config):
    """Sets Keras' global dtype policy for the run: float32, mixed_bfloat16 or mixed_float16
    ("auto": `animegan_face.config.compute_precision` on this machine); returns the precision chosen.

    Call before building any network. Variables stay float32 under both mixed policies; the loss
    terms cast to float32 (`losses`), normalisation layers compute their statistics in float32
    (Keras' GroupNormalization upcasts) and both networks' output layers are float32.
    """
    setting = config.train.mixed_precision
    gpu = has_gpu() if setting in ("auto", "bfloat16") else False
    precision = compute_precision(setting, cpu_has_native_bfloat16(), gpu)
    policy = {"off": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
    keras.mixed_precision.set_global_policy(policy[precision])
    if setting == "auto":
        print(f"--mixed_precision=auto: {policy[precision]} on this machine", file=sys.stderr)
    elif precision == "bfloat16" and cpu_has_native_bfloat16() is False and not gpu:
        print("Warning: --mixed_precision=bfloat16 on a CPU without AVX512_BF16 or AMX "
              "instructions (no avx512_bf16/amx_bf16 in /proc/cpuinfo): bfloat16 is emulated there "
              "and trains many times slower than float32; use --mixed_precision=off on this "
              "machine.", file=sys.stderr)
    return precision


def cpu_has_native_bfloat16(cpuinfo="/proc/cpuinfo"):
    """True if the CPU flags list avx512_bf16 or amx_bf16 (bfloat16 arithmetic in hardware),
    False if they do not, None where there is no readable /proc/cpuinfo (not Linux)."""
    try:
        text = pathlib.Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return None
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[-1].split())
    return bool(flags & {"avx512_bf16", "amx_bf16"}) if flags else None


def build_networks(config):
    """The generator and discriminator `config.model` names, and the frozen loss extractors
    (`face_extractor` None when the face term is off)."""
    # This order (generator, discriminator, extractors) fixes which random draws each one gets.
    generator = build_generator(config.model.generator, output_filter=config.model.output_filter)
    discriminator = build_discriminator()
    return Networks(generator, discriminator, *build_loss_extractors(config.model, config.loss))


def make_optimizers(config):
    """The warm-up, generator and discriminator Adams at the run's learning rates."""
    train = config.train
    return Optimizers(make_adam(train.init_lr, config), make_adam(train.g_lr, config),
                      make_adam(train.d_lr, config))


def make_adam(learning_rate, config):
    """Adam with the run's betas; wrapped for loss scaling under float16 (bfloat16 has float32's
    exponent range, so its gradients need no scaling; "auto" never picks float16)."""
    optimizer = keras.optimizers.Adam(learning_rate, beta_1=config.train.beta_1,
                                      beta_2=config.train.beta_2)
    if config.train.mixed_precision == "float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


# What a run reads from its dataset (numpy and OpenCV: both backends and diagnose.py)


def resolve_dataset(config):
    """Prepares photo_dir/anime_dir into dataset_dir when given (cached); returns its files.

    dataset_dir defaults to the run folder's `dataset/`. Raises SetupError, naming the folder or
    file at fault.
    """
    data = config.data
    dataset_dir = data.dataset_dir or str(RunFolder(config.train.model_dir).default_dataset_dir)
    try:
        if data.photo_dir:
            report = prepare_dataset(data.photo_dir, data.anime_dir, dataset_dir,
                                     image_size=data.image_size)
            print(report.summary())
        files = load_dataset_files(dataset_dir, skin_regions=config.loss.needs_skin_regions)
    except (ValueError, OSError) as error:
        raise SetupError(str(error)) from error
    if config.loss.needs_pairs and not files.pairs:
        raise SetupError(f"--pair_weight={config.loss.pair} --content_source="
                         f"{config.loss.content_source} needs pseudo-pair targets for every "
                         f"photo in {dataset_dir}/photo, and its pair/ folder has none or not all: "
                         "run make_pairs.py on it first")
    return files


def steps_per_epoch(config, files):
    """config.train.steps_per_epoch, else max(#photos, #anime) // global batch (at least 1)."""
    if config.train.steps_per_epoch:
        return config.train.steps_per_epoch
    return max(1, files.steps_per_epoch_basis // config.data.batch_size)


def sample_photos(files, image_size):
    """The first `SAMPLE_COUNT` photos, (K, S, S, 3) in [-1, 1]: shown beside their stylisation."""
    count = min(SAMPLE_COUNT, len(files.photos))
    return np.stack([load_photo(files.photos[k], files.photo_boxes[k], image_size)[0]
                     for k in range(count)])


def diagnostic_batch(files, image_size, count=8):
    """A fixed real batch for `diagnostics` (photo, face_boxes, anime, anime_gray, smooth_gray,
    photo_target): the first `count` photos with a detected face (faceless ones if there are too
    few) and the first `count` anime images, whole and unflipped; numpy, so every backend can use
    it."""
    order = sorted(range(len(files.photos)), key=lambda k: not files.photo_boxes[k].any())
    chosen = (order * count)[:count]
    photos = [load_photo(files.photos[k], files.photo_boxes[k], image_size) for k in chosen]
    anime = [load_anime(files.anime[k], files.smooth[k], image_size)
             for k in (list(range(len(files.anime))) * count)[:count]]
    targets = ([load_target(files.pairs[k], image_size) for k in chosen] if files.pairs
               else [p for p, _ in photos])
    return (np.stack([p for p, _ in photos]), np.stack([b for _, b in photos]),
            *(np.stack(parts) for parts in zip(*anime)), np.stack(targets))
