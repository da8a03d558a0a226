"""Runs JAX-backend checks in a child process for tests/test_jax_backend.py (whose process is TF-backed).

    KERAS_BACKEND=jax python -m tests.jax_worker TASK[,TASK...] WORK_DIR

Each TASK works in WORK_DIR/TASK (where the test put its inputs), one after the other in this one
process, so that JAX's start-up and the programs compiled in memory are paid once for all of them
(a JAX child of its own cost tens of seconds of the 2-core machine before its first step). A
task's printed output goes to WORK_DIR/TASK/stdout.txt, its result, or the traceback it failed
with, to the JSON of WORK_DIR/result.json under "tasks". Any attempt to import TensorFlow is
recorded (and fails) from the first line on, also written to result.json, for the test to check.
"""

import sys
import traceback

TENSORFLOW_IMPORTS = []


class _RefuseTensorFlow:
    """Meta-path finder: records and refuses every `import tensorflow[...]`."""

    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            TENSORFLOW_IMPORTS.append("".join(traceback.format_stack(limit=12)))
            raise ImportError(f"TensorFlow refused in the JAX worker: {name}")
        return None


sys.meta_path.insert(0, _RefuseTensorFlow())

import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import pathlib  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

from animegan_face.config import Config  # noqa: E402
from animegan_face.models.networks import build_generator  # noqa: E402
from animegan_face.training import devices, jax_training, loop  # noqa: E402
from animegan_face.training.jax_trainer import JaxAnimeGANTrainer  # noqa: E402
from animegan_face.training.run_checks import SetupError  # noqa: E402
from tests.helpers import float64_check_config, float64_policy, write_prepared_dataset  # noqa: E402


def _arrays(variables):
    return [np.array(v) for v in variables]


def _changed(before, variables):
    return [not np.array_equal(b, np.array(v)) for b, v in zip(before, variables)]


def _fixed_batch(size=32, batch=2):
    rng = np.random.default_rng(0)

    def images():
        return rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)

    boxes = np.array([[0.2, 0.25, 0.8, 0.75], [0, 0, 0, 0]] * (batch // 2), np.float32)
    photo = images()
    return (photo, boxes, images(), images(), images(), photo)


def train_task(work):
    """Two GAN steps (what changes), train() end to end, resume, and weights from TensorFlow.

    The run's config is work/config.json: the TensorFlow -> JAX -> TensorFlow run's (AnimeGANv2,
    MobileNet, no face extractor; written by the test from TensorFlow's train.py run), so that
    this task's trainer compiles the very GAN step that the `train_py` and `diverging` tasks of
    this process then load from the compilation cache. The v1 generator and the VGG19 and VGG16
    extractors of `tiny_config` are the float64 task's, which checks their JAX GAN step against
    TensorFlow's (and that it leaves the extractors alone)."""
    result = {}
    config = Config.from_json((work / "config.json").read_text())

    # Two steps change G and D (trainable and spectral-norm state), never the extractor.
    jax_training.set_random_seed(0)
    trainer = jax_training.build_jax_trainer(config)
    g, d = trainer.generator, trainer.discriminator
    result["face_extractor"] = trainer.face_extractor is not None
    before = {"g": _arrays(g.trainable_variables), "d": _arrays(d.trainable_variables),
              "d_state": _arrays(d.non_trainable_variables),
              "content": _arrays(trainer.content_extractor.variables)}
    state = trainer.state()
    logs = []
    for _ in range(2):
        state, step_logs = trainer.gan_step(state, _fixed_batch())
        logs.append({k: float(v) for k, v in step_logs.items()})
    trainer.write_back(state)
    result["step_logs"] = logs
    result["g_changed"] = _changed(before["g"], g.trainable_variables)
    result["d_changed"] = _changed(before["d"], d.trainable_variables)
    result["d_state_changed"] = _changed(before["d_state"], d.non_trainable_variables)
    result["content_changed"] = any(_changed(before["content"], trainer.content_extractor.variables))

    # train(): one warm-up and one GAN epoch of two steps, then one more epoch on resume.
    result["epochs"] = loop.train(config, jax_training.Jax(config), verbose=0)
    longer = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=2))
    result["epochs_resumed"] = loop.train(longer, jax_training.Jax(longer), verbose=2)
    # A kill between the checkpoint and the generator file left the latter behind: even with all
    # epochs done, the run puts the checkpoint's generator back.
    (work / "run" / "generator.weights.h5").write_bytes(b"stale")
    result["epochs_again"] = loop.train(longer, jax_training.Jax(longer), verbose=0)
    result["stale_generator_replaced"] = (
        (work / "run" / "generator.weights.h5").read_bytes()
        == (work / "run" / "checkpoints" / "keras-ckpt-3" / "generator.weights.h5").read_bytes())

    # The generator saved by the run, on a fixed input, for the TensorFlow side to reproduce.
    generator = build_generator(config.model.generator)
    generator.load_weights(work / "run" / "generator.weights.h5")
    photo = _fixed_batch(size=32, batch=2)[0]
    np.savez(work / "jax_generator_output.npz", photo=photo,
             output=np.asarray(generator(photo, training=False)))

    # A v1 generator saved under TensorFlow (by the test) gives the same outputs here.
    from_tf = work / "tf_generator.weights.h5"
    if from_tf.is_file():
        generator = build_generator()
        generator.load_weights(from_tf)
        saved = np.load(work / "tf_generator_output.npz")
        output = np.asarray(generator(saved["photo"], training=False))
        result["tf_weights_max_difference"] = float(np.max(np.abs(output - saved["output"])))
    return result


def _float64_under_jax():
    """Lets float64 through Keras' type promotion, which JAX_ENABLE_X64 alone does not.

    Keras 3.15 maps float64 to float32 in `keras.backend.result_type` on every backend but
    TensorFlow, whatever JAX's x64 flag, so ops such as `ops.tanh` (G's output) returned float32
    from float64 inputs (fixed upstream by keras-team/keras#23225, merged September 2026). This
    process exists only for the test that asked for float64.
    """
    import jax
    from keras.src.backend.common import dtypes

    assert jax.config.jax_enable_x64, "a float64 task needs JAX_ENABLE_X64=1"
    dtypes.BIT64_TO_BIT32_DTYPE["float64"] = "float64"


def _float64_dtypes(trainer, logs):
    """The dtypes a float64 step really ran in: G and D variables, G's and D's outputs, and every
    logged value.

    The outputs' dtypes come from tracing the calls (`jax.eval_shape`), which gives what running
    them gives without compiling each op of two networks eagerly (some 300 compiles, ~25 s here).
    """
    import jax

    variables = trainer.generator.weights + trainer.discriminator.weights
    photo = jax.ShapeDtypeStruct((1, 16, 16, 3), "float64")
    outputs = jax.eval_shape(lambda x: [trainer.generator(x), trainer.discriminator(x)], photo)
    return sorted({keras.backend.standardize_dtype(v.dtype) for v in variables + outputs}
                  | {keras.backend.standardize_dtype(v.dtype) for v in logs.values()})


def float64_task(work):
    """Both float64 checks (JAX_ENABLE_X64=1, two host devices) in one process, so that its
    start-up, float64 initialisers and op compiles are paid once; the single-device step of the
    first is the reference of the second: {"equivalence": ..., "data_parallel": ...}."""
    _float64_under_jax()
    with float64_policy():
        equivalence, single_device_update = _equivalence(work)
        return {"equivalence": equivalence,
                "data_parallel": _data_parallel(work, single_device_update)}


def _sgd_trainer(work):
    """A JAX trainer of the networks the test saved under TensorFlow, with SGD (1e-5)."""
    config = float64_check_config()
    return JaxAnimeGANTrainer(
        *_models_from(work, config), config.loss,
        init_optimizer=keras.optimizers.SGD(1e-5), g_optimizer=keras.optimizers.SGD(1e-5),
        d_optimizer=keras.optimizers.SGD(1e-5), face_crop_size=config.model.face_crop_size)


def _batch(work):
    saved = np.load(work / "batch.npz")
    return tuple(saved[f"arr_{k}"] for k in range(len(saved.files)))


def _updates(networks, before):
    return {key: [np.array(v) - b for v, b in zip(net.trainable_variables, before[key])]
            for key, net in networks.items()}


def _equivalence(work):
    """Two SGD GAN steps from the weights the test saved under TensorFlow, on one device; G and D
    saved after each step. Also returns G's and D's update of step 1."""
    trainer = _sgd_trainer(work)
    networks = {"generator": trainer.generator, "discriminator": trainer.discriminator}
    before = {key: _arrays(net.trainable_variables) for key, net in networks.items()}
    # The extractors' arrays themselves, not copies (JAX arrays are immutable; an assignment
    # replaces a variable's array): some 18 million float64 weights of VGG19 and VGG16.
    extractors = {"content": trainer.content_extractor, "face": trainer.face_extractor}
    extractors_before = {key: [v.value for v in net.variables] for key, net in extractors.items()}
    state = trainer.state()
    logs = []
    for step in (1, 2):
        state, step_logs = trainer.gan_step(state, _batch(work))
        logs.append({k: float(v) for k, v in step_logs.items()})
        trainer.write_back(state)
        if step == 1:
            first_update = _updates(networks, before)
        trainer.generator.save_weights(work / f"jax_generator_{step}.weights.h5")
        trainer.discriminator.save_weights(work / f"jax_discriminator_{step}.weights.h5")
    return {"step_logs": logs, "dtypes": _float64_dtypes(trainer, step_logs),
            "extractors_changed": {key: not all(
                np.array_equal(np.asarray(b), np.asarray(v.value))
                for b, v in zip(extractors_before[key], net.variables))
                for key, net in extractors.items()}}, first_update


@contextlib.contextmanager
def _initialisers_without_draws():
    """Keras' random initialisers fill the variables with zeros inside the block, for networks
    whose every weight a file replaces right after. Under JAX each draw compiles a threefry
    program per kernel shape and dtype (about 1 s each on the 2-core machine, some 30 for G, D,
    VGG19 and VGG16, again in float64) for values load_weights overwrites. A weight the file did not
    replace would stay zero and show in the comparison with TensorFlow's update."""
    from keras.src.backend.jax import random as jax_random

    def zeros(shape, *args, dtype=None, **kwargs):
        return np.zeros(shape, keras.backend.standardize_dtype(dtype or keras.config.floatx()))

    names = ("uniform", "normal", "truncated_normal")
    saved = {name: getattr(jax_random, name) for name in names}
    for name in names:
        setattr(jax_random, name, zeros)
    try:
        yield
    finally:
        for name, function in saved.items():
            setattr(jax_random, name, function)


def _models_from(work, config):
    from animegan_face.models.extractors import build_content_extractor, build_face_extractor
    from animegan_face.models.networks import build_discriminator

    with _initialisers_without_draws():
        models = (build_generator(config.model.generator), build_discriminator(),
                  build_content_extractor("vgg16", "none"),
                  build_face_extractor("vgg16", "none", config.model.face_crop_size))
    for model, name in zip(models, ("generator", "discriminator", "content", "face")):
        model.load_weights(work / f"{name}.weights.h5")
    return models


def _data_parallel(work, single_device_update):
    """The same first SGD GAN step (weights, batch of 2) on 2 devices with DataParallel, against
    `single_device_update`, that step's update on one device."""
    batch = _batch(work)
    result = {"devices": keras.distribution.list_devices()}
    distribution = devices.jax_distribution("auto", len(batch[0]))
    result["auto_is_data_parallel"] = isinstance(distribution, keras.distribution.DataParallel)
    try:
        devices.jax_distribution("auto", 3)
    except SetupError as error:
        result["odd_batch_error"] = str(error)

    with distribution.scope():
        trainer = _sgd_trainer(work)
        networks = {"generator": trainer.generator, "discriminator": trainer.discriminator}
        before = {key: _arrays(net.trainable_variables) for key, net in networks.items()}
        placed = devices.jax_placer(distribution)(batch)
        state, logs = trainer.gan_step(trainer.state(), placed)
        result["dtypes"] = _float64_dtypes(trainer, logs)
        trainer.write_back(state)
        update = _updates(networks, before)
        result["batch_sharding"] = str(placed[0].sharding.spec)
        result["weight_devices"] = len(state.g_trainable[0].sharding.device_set)
    # Per network: D's update is mostly the spectral-norm rewrite of its kernels, which would hide
    # an error in G's in a sum over both.
    result["relative_difference"] = {
        key: sum(float(np.sum(np.abs(a - b))) for a, b in zip(single_device_update[key], update[key]))
        / sum(float(np.sum(np.abs(a))) for a in single_device_update[key])
        for key in ("generator", "discriminator")}
    return result


def _run_train_py(*flags):
    """train.py with `flags`, as its own command would run it. A second run in this process
    re-runs the script, whose flag definitions absl then keeps from the first; every flag is put
    back to its default first, so that no value of an earlier run's command line carries over."""
    import runpy

    from absl import flags as absl_flags

    absl_flags.FLAGS.unparse_flags()
    sys.argv = ["train.py", *flags]
    try:
        runpy.run_path("train.py", run_name="__main__")
    except SystemExit as exit_:
        return exit_.code
    return None


def diverging_task(work):
    """train.py as a user runs it with KERAS_BACKEND=jax, from scratch, diverging: learning rates
    of 1e30 stop it at the first step with a non-finite loss. The AnimeGANv2 generator and
    MobileNet, as in the TensorFlow -> JAX -> TensorFlow run (`train_py_task`) and `train_task`,
    whose compiled GAN step this run reuses."""
    dataset = write_prepared_dataset(work / "data")
    return {"diverged_exit": _run_train_py(
        f"--model_dir={work / 'diverged'}", f"--dataset_dir={dataset}", "--image_size=32",
        "--batch_size=2", "--init_epochs=0", "--epochs=2", "--steps_per_epoch=2",
        "--extractor=mobilenet", "--extractor_weights=none", "--face_extractor=none",
        "--generator=animegan_v2", "--mixed_precision=off", "--color_scale=255", "--g_lr=1e30",
        "--d_lr=1e30")}


def train_py_task(work):
    """train.py with the flags in work/flags.json (a JSON list), e.g. resuming another backend's
    run; then the generator it saved (the architecture its config.json names) on a fixed input,
    for the TensorFlow side to reproduce."""
    flags = json.loads((work / "flags.json").read_text())
    result = {"exit_code": _run_train_py(*flags)}
    [run] = [pathlib.Path(flag.split("=", 1)[1]) for flag in flags if flag.startswith("--model_dir=")]
    generator = build_generator(json.loads((run / "config.json").read_text())["model"]["generator"])
    generator.load_weights(run / "generator.weights.h5")
    photo = _fixed_batch(size=32, batch=2)[0]
    np.savez(work / "jax_generator_output.npz", photo=photo,
             output=np.asarray(generator(photo, training=False)))
    return result


TASKS = {"train": train_task, "train_py": train_py_task, "diverging": diverging_task,
         "float64": float64_task}


def _run_tasks(names, work):
    """{task: its result, or {"error": its traceback}}; a failed task does not stop the next."""
    outcomes = {}
    for name in names:
        folder = work / name
        folder.mkdir(exist_ok=True)
        with open(folder / "stdout.txt", "w") as stdout, contextlib.redirect_stdout(stdout):
            try:
                outcomes[name] = TASKS[name](folder)
            except BaseException:  # SystemExit too: the other tasks still run and report
                outcomes[name] = {"error": traceback.format_exc()}
    return outcomes


if __name__ == "__main__":
    names, work = sys.argv[1].split(","), pathlib.Path(sys.argv[2])
    assert keras.backend.backend() == "jax", keras.backend.backend()
    outcome = {"tasks": _run_tasks(names, work)}
    outcome["backend"] = keras.backend.backend()
    outcome["tensorflow_imports"] = TENSORFLOW_IMPORTS
    outcome["tensorflow_loaded"] = "tensorflow" in sys.modules and sys.modules["tensorflow"] is not None
    (work / "result.json").write_text(json.dumps(outcome, indent=1))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip interpreter teardown of JAX/XLA threads (seconds, nothing to flush)
