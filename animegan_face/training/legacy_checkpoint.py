"""Run folders from before the one checkpoint format: TensorFlow's `tf.train.Checkpoint`
(checkpoints/ckpt-N.*), resumed under TensorFlow once; its next save is a `keras_checkpoint`,
which both backends read. The JAX path refuses these runs (`RunFolder.refuse_legacy_checkpoint`).
"""

import tensorflow as tf


def restore_legacy_checkpoint(path, generator, discriminator, init_optimizer, g_optimizer,
                              d_optimizer):
    """Loads the `tf.train.Checkpoint` at `path` (the objects under the names the TensorFlow path
    gave them) into the built networks and optimizers; returns its (epoch, step) counters."""
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    tf.train.Checkpoint(
        generator=generator, discriminator=discriminator, init_optimizer=init_optimizer,
        g_optimizer=g_optimizer, d_optimizer=d_optimizer, epoch=epoch, step=step,
    ).restore(path).assert_existing_objects_matched()
    return int(epoch.numpy()), int(step.numpy())
