"""Stage 2, training: one `Config` in, a trained (or resumed) run folder out.

`train(config)` runs under the Keras backend in use (KERAS_BACKEND): TensorFlow (`tf_training`,
steps in `tf_trainer`, `cluster` for several machines) or JAX (`jax_training`, steps in
`jax_trainer`; TensorFlow is never imported). What both share: the training loop (`loop`) and its
callbacks (`callbacks`), the run folder (`run_folder`), the checks that stop a run (`run_checks`), what `--strategy` means (`devices`), the networks and
optimizers (`components`), what is read from the dataset (`training_data`) and the logs
(`run_log`, `event_log`).
"""


def train(config, verbose=1):
    """Runs (or resumes) warm-up then GAN training as `config` says. Returns the epochs done.

    Raises `run_checks.SetupError` before anything is built when the run cannot start, and
    `run_checks.NonFiniteError` when a loss or a variable goes NaN or infinite (nothing is saved).
    """
    import keras  # here, so that importing the package costs nothing

    if keras.backend.backend() == "jax":
        from animegan_face.training.jax_training import train as train_on_backend
    else:
        from animegan_face.training.tf_training import train as train_on_backend
    return train_on_backend(config, verbose)
