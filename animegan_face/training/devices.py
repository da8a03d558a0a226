"""Where a run computes: what `--strategy` means under each backend, in one place.

| --strategy   | TensorFlow (`tf_strategy`)                        | JAX (`jax_distribution`)              |
| auto         | MirroredStrategy over all GPUs, else the default  | DataParallel over all devices if >1   |
| mirrored     | MirroredStrategy over all devices                 | DataParallel over all devices         |
| one_device   | the first GPU, else the CPU                       | the first device                      |
| multi_worker | MultiWorkerMirroredStrategy from TF_CONFIG        | refused (SetupError)                  |

Each backend is imported only by its own function, so the JAX path never imports TensorFlow.
"""

import json
import os

from animegan_face.training.run_checks import SetupError, check_batch_split


def has_gpu():
    """Whether this process sees a GPU, asked without starting TensorFlow's runtime (which would
    make a later MultiWorkerMirroredStrategy fail: collective ops are configured at start-up)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    try:
        return bool(keras.distribution.list_devices("gpu"))
    except RuntimeError:  # JAX raises for a platform it has no backend for
        return False


def tf_strategy(name):
    """The tf.distribute strategy `name` stands for.

    multi_worker: MultiWorkerMirroredStrategy over the cluster in TF_CONFIG (every local GPU, or
    the CPU). Create it before anything else touches the devices: TensorFlow configures collective
    ops only at start-up.

    Raises:
        ValueError: an unknown name, or TF_CONFIG missing or not the JSON
            `{"cluster": {...}, "task": {...}}` under multi_worker.
    """
    import tensorflow as tf

    if name == "multi_worker":
        _check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        return tf.distribute.MirroredStrategy() if gpus else tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    raise ValueError(f"strategy: unknown {name!r}")


def _check_tf_config():
    text = os.environ.get("TF_CONFIG", "")
    try:
        tf_config = json.loads(text)
        ok = isinstance(tf_config, dict) and "cluster" in tf_config and "task" in tf_config
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            "strategy: multi_worker needs the environment variable TF_CONFIG = "
            '{"cluster": {"worker": ["host1:port", ...]}, "task": {"type": "worker", "index": i}} '
            f"on every worker (see docs/training.md, 'Train on several machines'); got {text[:200]!r}")


def jax_distribution(name, batch_size):
    """A `keras.distribution.DataParallel` over all devices, or None for one device.

    Raises SetupError when the batch does not split evenly over the devices, or for a strategy
    that exists only under TensorFlow.
    """
    import keras

    devices = keras.distribution.list_devices()
    if name == "one_device" or (name == "auto" and len(devices) == 1):
        return None
    if name not in ("auto", "mirrored"):
        raise SetupError(f"--strategy={name} is TensorFlow-only; under JAX use auto, mirrored "
                         "or one_device (several machines: not supported yet)")
    check_batch_split(batch_size, len(devices), "devices", devices)
    return keras.distribution.DataParallel(devices=devices)


def jax_placer(distribution):
    """callable(numpy batch) -> the batch on the devices: sharded along the batch under
    DataParallel, left to JAX's default device without one."""
    if distribution is None:
        return tuple
    import jax

    def place(batch):
        return tuple(jax.device_put(x, distribution.get_data_layout(x.shape).backend_layout)
                     for x in batch)
    return place
