"""The checks that stop a training run, and the errors they raise (both backends, no TensorFlow).

SetupError: the run cannot start (dataset, model_dir, batch split); raised before anything heavy.
NonFiniteError: a loss term or a variable went NaN or infinite; raised before anything is saved.
"""

import math


class SetupError(ValueError):
    """The run cannot start: the dataset cannot be prepared or read (the folder or file is named),
    or the batch does not split evenly over the devices."""


class NonFiniteError(FloatingPointError):
    """A loss or a checkpointed variable went NaN or infinite; the message says where and what."""


def check_batch_split(batch_size, count, what, names=()):
    """SetupError unless the global batch splits evenly over `count` replicas or devices (`names`).

    Each replica's mean loss is divided by the replica count: that equals the global mean only
    when every replica gets the same number of examples.
    """
    if batch_size % count:
        raise SetupError(f"--batch_size: the global batch ({batch_size}) must be a multiple of the "
                         f"number of {what} ({', '.join([str(count), *names])})")


def non_finite(values):
    """{name: value} of the entries of `values` (name -> number) that are NaN or infinite."""
    return {name: float(value) for name, value in (values or {}).items()
            if not math.isfinite(float(value))}


def non_finite_error(where, what, latest_checkpoint):
    """The NonFiniteError a run stops with: where, what, and what to do about it."""
    return NonFiniteError(
        f"{where}: {what}. Stopped without saving; the last good checkpoint is "
        f"{latest_checkpoint or 'none (nothing was saved yet)'}. Running the same command again "
        "resumes from it and will most likely diverge the same way: lower the learning rates "
        "(--g_lr, --d_lr, --init_lr) or the --adv_weight first.")


def check_losses_finite(logs, where, latest_checkpoint, what="loss terms"):
    """NonFiniteError naming the terms of `logs` (name -> number) that are NaN or infinite.

    Training passes the running means since the epoch began: they include every step, so the first
    NaN or Inf in any term shows at the step that produced it.
    """
    bad = non_finite(logs)
    if bad:
        raise non_finite_error(where, f"{what} not finite {bad}", latest_checkpoint)


def check_variables_finite(named_values, where, latest_checkpoint):
    """NonFiniteError naming the floating arrays of `named_values` ((name, array) pairs, Keras
    variables or backend arrays) that hold NaN or Inf.

    Checked before each save: a step can write NaN weights while its own loss, computed before the
    update, was still finite.
    """
    import keras  # here: the run folder imports this module, and it is read without a backend

    bad = [name for name, value in named_values
           if keras.backend.is_float_dtype(value.dtype)
           and not bool(keras.ops.all(keras.ops.isfinite(value)))]
    if bad:
        raise non_finite_error(where, f"{len(bad)} variable(s) not finite, e.g. {', '.join(bad[:3])}",
                               latest_checkpoint)
