"""Training across machines (MultiWorkerMirroredStrategy, `devices.tf_strategy`): which process
is the chief, and the check that the workers agree. The steps themselves run in the one loop
(`loop.train`) through `tf_training`'s strategy step, as on one machine.

Keras 3.15's `fit()` fails under MultiWorkerMirroredStrategy (checked with this project's
trainers): its symbolic build reduces a whole input batch with `strategy.reduce`, which the
collective implementation rejects ("Attempt to convert a value (PerReplica...)"), and with that
step bypassed its per-step log reduction takes a mean along axis 0 of scalars; this is one reason
why the project runs its own loop rather than fit().

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
