"""Stage 3, training: one `Config` in, a trained (or resumed) run folder out.

`train(config)` runs the one procedure (`loop.train`) with the backend in use (KERAS_BACKEND):
`tf_training.TensorFlow` (steps in `tf_trainer`, `cluster` for several machines) or
`jax_training.Jax` (steps in `jax_trainer`; TensorFlow is never imported). The procedure's pieces:
the run folder (`run_folder`), checkpoints (`keras_checkpoint`), the callbacks (`callbacks`) and
logs (`run_log`, `event_log`), the checks that stop a run (`run_checks`) and what `--strategy`
means (`devices`).
"""


def train(config, verbose=1):
    """Runs (or resumes) warm-up then GAN training as `config` says. Returns the epochs done.

    Raises `run_checks.SetupError` before anything is built when the run cannot start, and
    `run_checks.NonFiniteError` when a loss or a variable goes NaN or infinite (nothing is saved).
    """
    import keras  # here, so that importing the package costs nothing

    from animegan_face.training import loop

    if keras.backend.backend() == "jax":
        from animegan_face.training.jax_training import Jax as Backend
    else:
        from animegan_face.training.tf_training import TensorFlow as Backend
    return loop.train(config, Backend(config), verbose)
