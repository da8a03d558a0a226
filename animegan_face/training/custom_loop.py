"""Training across machines: the loop MultiWorkerMirroredStrategy (`devices.tf_strategy`) needs
instead of fit(), which process is the chief, and the check that the workers agree.

Keras 3.15's `fit()` fails under MultiWorkerMirroredStrategy (checked with this project's
trainers): its symbolic build reduces a whole input batch with `strategy.reduce`, which the
collective implementation rejects ("Attempt to convert a value (PerReplica...)"), and with that
step bypassed its per-step log reduction takes a mean along axis 0 of scalars. `fit()` below is
the part of Keras' loop this project uses, over public APIs only: the same `train_step` of
`GeneratorWarmup` / `AnimeGANTrainer` through `strategy.run`, a dataset distributed by
`strategy.experimental_distribute_dataset`, and the same callbacks called at the same points, so
checkpoints, resume, NaN checks and logs are those of a `fit()` run.

Batch and learning rates: `batch_size` is the global batch. Each step, every replica (a device of
a worker) takes batch_size / replicas examples; the train steps divide each replica's mean loss by
the replica count and the optimizers sum the gradients, so an update is that of the mean loss
over the global batch, whatever the number of workers. The same learning rates therefore apply to
the same global batch.
"""

import hashlib

import keras
import numpy as np
import tensorflow as tf


def is_chief(strategy):
    """Whether this process owns the outputs: the "chief" task, else worker 0; True off-cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def weights_fingerprint(model):
    """sha256 (16 hex digits) of every weight's bytes in order: equal iff the weights are equal."""
    digest = hashlib.sha256()
    for variable in model.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(variable)).tobytes())
    return digest.hexdigest()[:16]


def check_workers_agree(strategy, epoch, step, model, when):
    """Gathers (epoch, step, sum of `model`'s weights) from every replica and fails if they differ.

    After the restore it catches a worker that could not read the chief's checkpoint (model_dir
    not shared); at the end, workers that drifted apart. It also keeps the workers together until
    all are done. Prints the weights fingerprint, which must read the same on every worker.

    Raises:
        RuntimeError: the workers disagree.
    """

    @tf.function
    def gather_states():
        def local_state():
            total = tf.add_n([tf.reduce_sum(tf.cast(v, tf.float64)) for v in model.weights])
            return tf.stack([tf.cast(epoch, tf.float64), tf.cast(step, tf.float64), total])[None]

        return strategy.gather(strategy.run(local_state), axis=0)

    states = gather_states().numpy()
    # Sums of equal weights may differ in the last bits (reduction order); drift is far larger.
    same = (states[:, :2] == states[0, :2]).all() and np.allclose(
        states[:, 2], states[0, 2], rtol=1e-9, atol=0)
    if not same:
        raise RuntimeError(
            f"workers disagree {when}: (epoch, step, weight sum) per replica {states.tolist()}. "
            "After a restore this means some worker could not read the chief's checkpoint: "
            "--model_dir must be one folder that every worker sees (a shared file system).")
    resolver = strategy.cluster_resolver
    print(f"{resolver.task_type} {resolver.task_id}: {when}, epoch {int(states[0, 0])}, step "
          f"{int(states[0, 1])}, generator weights fingerprint {weights_fingerprint(model)}",
          flush=True)


def _distributed_step(model, strategy, jit_compile):
    """One global step: `model.train_step` on every replica; the logs averaged over replicas."""
    replica_step = tf.function(model.train_step, jit_compile=True) if jit_compile else model.train_step

    @tf.function
    def step(data):
        logs = strategy.run(replica_step, args=(data,))
        return {name: strategy.reduce("MEAN", value, axis=None) for name, value in logs.items()}

    return step


def fit(model, strategy, x, initial_epoch, epochs, steps_per_epoch, callbacks, verbose=1,
        jit_compile=False):
    """Keras' fit() loop for one of this project's trainers, under any tf.distribute strategy.

    Args:
        model: a compiled, built `GeneratorWarmup` or `AnimeGANTrainer` (its variables created in
            `strategy.scope()`).
        x: tf.data.Dataset of global batches, as fit() would take it (see `trainer.as_fit_input`).
        initial_epoch, epochs, steps_per_epoch, callbacks, verbose: as in `keras.Model.fit`.
    """
    if initial_epoch >= epochs:
        return
    callbacks = keras.callbacks.CallbackList(
        callbacks, add_progbar=verbose != 0, verbose=verbose, epochs=epochs,
        steps=steps_per_epoch, model=model)
    step = _distributed_step(model, strategy, jit_compile)
    iterator = iter(strategy.experimental_distribute_dataset(x))
    model.stop_training = False
    callbacks.on_train_begin()
    logs = {}
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        callbacks.on_epoch_begin(epoch)
        for batch in range(steps_per_epoch):
            callbacks.on_train_batch_begin(batch)
            logs = {name: float(value) for name, value in step(next(iterator)).items()}
            callbacks.on_train_batch_end(batch, logs)
            if model.stop_training:
                break
        callbacks.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callbacks.on_train_end(logs)
