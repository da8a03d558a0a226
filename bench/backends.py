"""Seconds per GAN train step under TensorFlow and under JAX, and the input pipeline's images/s.

    python bench/backends.py --image_size=256 --batch_size=4 --steps=3 --rounds=2

Each backend runs in a worker process of its own (KERAS_BACKEND is fixed at import), built once
and compiled by its first step; the parent then alternates rounds between them, so that machine
noise hits both alike, and prints each median s/step, the JAX / TensorFlow ratio, the first step
(trace/compile) and each worker's peak RSS. Both train the thesis configuration (VGG19 content,
ResNet101 faces at 128 px, all six terms) with random extractor weights on one fixed batch;
TensorFlow runs the step as a tf.function without XLA (training's default), JAX jitted.

The pipeline figures are `pipeline.NumpyBatches` as TensorFlow gets it (through tf.data,
`pipeline.make_dataset`) and as JAX gets it (directly), each in a process of its own, on
--dataset_dir (a prepared dataset) or, without it, on generated 256x256 JPEG files; images/s
counts photos and anime images.
"""

import ctypes
import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

flags.DEFINE_integer("image_size", 256, "Image side.")
flags.DEFINE_integer("batch_size", 4, "Batch size.")
flags.DEFINE_integer("steps", 3, "Timed steps per round and backend.")
flags.DEFINE_integer("rounds", 2, "Interleaved rounds.")
flags.DEFINE_list("backends", ["tensorflow", "jax"], "Keras backends to compare.")
flags.DEFINE_string("dataset_dir", "", "Prepared dataset for the pipeline figure (default: generated).")
flags.DEFINE_integer("pipeline_batches", 30, "Timed pipeline batches (0: skip the pipeline).")
flags.DEFINE_integer("pipeline_batch_size", 8, "Pipeline batch size.")
flags.DEFINE_string("worker", "", "Internal: run as the worker of this backend or pipeline.")
FLAGS = flags.FLAGS


def _fixed_batch(size, batch):
    rng = np.random.default_rng(0)

    def images():
        return rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)

    return (images(), np.tile(np.float32([[0.2, 0.25, 0.8, 0.75]]), (batch, 1)), images(), images(),
            images())


def _rss_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _worker():
    """Builds the trainer of this backend, then answers "run N" lines with N step times."""
    import keras

    from animegan_face.config import Config, DataConfig, ModelConfig

    assert keras.backend.backend() == FLAGS.worker, keras.backend.backend()
    config = Config(data=DataConfig(image_size=FLAGS.image_size, batch_size=FLAGS.batch_size),
                    # the thesis' networks, as measured before the defaults became the shipped model's
                    model=ModelConfig(generator="animegan_v1", extractor="vgg19",
                                      face_extractor="resnet101", extractor_weights="none",
                                      face_extractor_weights="none"))
    batch = _fixed_batch(FLAGS.image_size, FLAGS.batch_size)
    started = time.perf_counter()
    if FLAGS.worker == "jax":
        from animegan_face.training.jax_training import build_jax_trainer

        trainer = build_jax_trainer(config)
        holder = {"state": trainer.state()}

        def step():
            holder["state"], logs = trainer.gan_step(holder["state"], batch)
            return float(logs["g_total"])  # waits for the result
    else:
        import tensorflow as tf

        from animegan_face.training.tf_training import build_trainers

        _, gan = build_trainers(config)
        train_step = tf.function(gan.train_step)
        tensors = tuple(tf.constant(x) for x in batch)

        def step():
            return float(train_step((tensors,))["g_total"])
    build_seconds = time.perf_counter() - started
    started = time.perf_counter()
    step()
    first = time.perf_counter() - started
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    print(json.dumps({"build_s": build_seconds, "first_step_s": first, "idle_rss_mib": _rss_mib()}),
          flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        times = []
        for _ in range(int(line.split()[1])):
            started = time.perf_counter()
            step()
            times.append(time.perf_counter() - started)
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        # Give freed step buffers back to the OS while the other backend runs: both workers
        # stay alive, and their idle footprints add up.
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        print(json.dumps({"times": times, "peak_rss_mib": peak_mib, "idle_rss_mib": _rss_mib()}),
              flush=True)


def _start(backend):
    command = [sys.executable, __file__, f"--worker={backend}", f"--image_size={FLAGS.image_size}",
               f"--batch_size={FLAGS.batch_size}"]
    env = {**os.environ, "KERAS_BACKEND": backend}
    return subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def _read(worker, backend):
    line = worker.stdout.readline()
    if not line:
        raise RuntimeError(f"the {backend} worker died (see its messages above)")
    return json.loads(line)


def _train_steps():
    # Workers start one after the other: building and compiling both at once would distort
    # nothing measured, but would double the peak memory.
    workers, ready, times, peaks = {}, {}, {}, {}
    for backend in FLAGS.backends:
        workers[backend] = _start(backend)
        ready[backend] = _read(workers[backend], backend)
        times[backend] = []
    try:
        for _ in range(FLAGS.rounds):
            for backend, worker in workers.items():
                worker.stdin.write(f"run {FLAGS.steps}\n")
                worker.stdin.flush()
                answer = _read(worker, backend)
                times[backend] += answer["times"]
                peaks[backend] = answer["peak_rss_mib"]
    finally:
        for worker in workers.values():
            worker.stdin.write("quit\n")
            worker.stdin.flush()
            worker.wait(timeout=120)
    base = FLAGS.backends[0]
    print(f"GAN train step, {FLAGS.image_size}x{FLAGS.image_size}, batch {FLAGS.batch_size}, "
          f"{FLAGS.rounds} rounds x {FLAGS.steps} steps, {os.cpu_count()} CPUs")
    print(f"| backend | median s/step | ratio to {base} | first step (compile) s | build s | peak RSS MiB |")
    print("| --- | --- | --- | --- | --- | --- |")
    base_median = statistics.median(times[base])
    for backend in FLAGS.backends:
        median = statistics.median(times[backend])
        print(f"| {backend} | {median:.2f} | {median / base_median:.2f} | "
              f"{ready[backend]['first_step_s']:.1f} | {ready[backend]['build_s']:.1f} | "
              f"{peaks[backend]:.0f} |")


def _generated_dataset(root, count=48, size=256):
    import cv2

    rng = np.random.default_rng(0)
    for folder in ("photo", "anime", "smooth"):
        (root / folder).mkdir(parents=True)
    boxes = {}
    for index in range(count):
        # Smooth noise compresses like a photo, not like white noise.
        image = cv2.resize(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), (size, size))
        for folder in ("photo", "anime", "smooth"):
            cv2.imwrite(str(root / folder / f"{index:03d}.jpg"), image)
        boxes[f"{index:03d}.jpg"] = [0.2, 0.25, 0.8, 0.75]
    (root / "faces.json").write_text(json.dumps({"image_size": size, "boxes": boxes}))
    return root


def _pipeline_worker(dataset_dir):
    """Prints the images/s of the pipeline (FLAGS.worker: through tf_data or numpy_pipeline) as JSON."""
    from animegan_face.data.pipeline import load_dataset_files

    files = load_dataset_files(dataset_dir)
    batch = FLAGS.pipeline_batch_size
    if FLAGS.worker == "tf_data":
        from animegan_face.data.pipeline import make_dataset

        batches = iter(make_dataset(files, FLAGS.image_size, batch))
    else:
        from animegan_face.data.pipeline import NumpyBatches

        batches = NumpyBatches(files, FLAGS.image_size, batch)
    next(batches)  # threads started, shuffle buffers filled
    started = time.perf_counter()
    for _ in range(FLAGS.pipeline_batches):
        next(batches)
    seconds = time.perf_counter() - started
    print(json.dumps({"images_per_s": FLAGS.pipeline_batches * batch * 2 / seconds}), flush=True)
    os._exit(0)  # tf.data's threads abort the interpreter's teardown; nothing is left to flush


def _pipeline():
    with tempfile.TemporaryDirectory() as tmp:
        root = FLAGS.dataset_dir or _generated_dataset(pathlib.Path(tmp))
        rates = {}
        for kind in ("tf_data", "numpy_pipeline"):
            command = [sys.executable, __file__, f"--worker={kind}", f"--dataset_dir={root}",
                       f"--image_size={FLAGS.image_size}",
                       f"--pipeline_batch_size={FLAGS.pipeline_batch_size}",
                       f"--pipeline_batches={FLAGS.pipeline_batches}"]
            output = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True)
            rates[kind] = json.loads(output.stdout.strip().splitlines()[-1])["images_per_s"]
    print(f"Input pipeline, {'given' if FLAGS.dataset_dir else 'generated'} JPEGs, "
          f"{FLAGS.image_size} px, batch {FLAGS.pipeline_batch_size}, {os.cpu_count()} CPUs, "
          "images/s (photo + anime):")
    print(" | ".join(f"{kind} {rate:.0f}" for kind, rate in rates.items()))


def main(argv):
    del argv
    if FLAGS.worker in ("tf_data", "numpy_pipeline"):
        _pipeline_worker(FLAGS.dataset_dir)
    if FLAGS.worker:
        _worker()
        return
    if FLAGS.pipeline_batches:
        _pipeline()
    if FLAGS.steps and FLAGS.rounds:
        _train_steps()


if __name__ == "__main__":
    app.run(main)
