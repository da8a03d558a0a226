"""Generator inference latency at 256 and 512, every runtime side by side, plus FLOPs and peak.

    python bench/inference.py --sizes=256,512 --runs=5
    python bench/inference.py --model=runs/mine      # a trained generator instead of random weights

Times one image per call (batch 1, the phone case), median of --runs calls after a warm-up, the
runtimes interleaved round by round. For each of our generators (--generators: AnimeGAN v1, the
thesis', and the lighter AnimeGANv2): Keras (tf.function), SavedModel, TFLite float32 / float16 /
dynamic int8 with free input size, TFLite full int8 and float16 exported at each fixed size, ONNX
float32 in onnxruntime as `load_stylizer` runs it and, as `onnx_spinning`, with its idle threads
spinning (onnxruntime's own default) (--exports picks among them); each row's ratio to the same
generator's Keras time is printed too.
Beside them the peer: the AnimeGANv2 generator in PyTorch, as the community runs it (bryandlee's
architecture, `animeganv2_torch.py`; needs `pip install torch==2.13.0`). Our v2 generator gets
the PyTorch peer's (random) weights through the converter, and the largest difference of their
outputs is printed: the same network with the same weights in both frameworks.

Also prints each generator's FLOPs per image (multiply-adds x 2 of its convolutions) and this
machine's measured float32 peak (a 2048^3 matmul in TensorFlow), so the fraction of the peak each
runtime reaches is visible.
"""

import importlib.util
import os
import pathlib
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from animegan_face.config import GENERATORS  # noqa: E402
from animegan_face.deployment import export  # noqa: E402
from animegan_face.deployment.inference import (  # noqa: E402
    KerasStylizer, OnnxStylizer, TFLiteStylizer, load_stylizer)
from animegan_face.models.animeganv2_weights import load_state_dict  # noqa: E402
from animegan_face.models.networks import build_generator, generator_architecture  # noqa: E402

flags.DEFINE_list("sizes", ["256", "512"], "Square input sizes.")
flags.DEFINE_list("generators", list(GENERATORS), f"Our generators to time: {GENERATORS}.")
flags.DEFINE_integer("runs", 5, "Timed calls per runtime, size and round.")
flags.DEFINE_integer("rounds", 2, "Interleaved rounds.")
flags.DEFINE_string("model", "", "A trained generator (model_dir or .weights.h5) instead of "
                    "random ones (--generators is then ignored).")
_EXPORTS = ("saved_model", "float32", "float16", "dynamic_int8", "float16_fixed", "int8_fixed",
            "onnx", "onnx_spinning")
flags.DEFINE_list("exports", list(_EXPORTS), f"Exports to time beside Keras, of {_EXPORTS} "
                  "(*_fixed: exported at each --sizes); empty: Keras only.")
flags.DEFINE_bool("torch_peer", True, "Time the PyTorch AnimeGANv2 generator too (needs "
                  "`pip install torch==2.13.0`; skipped with a note when torch is missing).")
flags.DEFINE_integer("threads", 0, "Threads of every runtime (TensorFlow's intra-op pool, LiteRT, "
                     "onnxruntime, PyTorch); 0: each its default, every core. 1 compares the "
                     "runtimes' own arithmetic on a machine whose cores other jobs keep busy.")
FLAGS = flags.FLAGS
_SHORT = {"animegan_v1": "v1", "animegan_v2": "v2"}
_PEER = "pytorch AnimeGANv2 (peer)"


def conv_flops(architecture, size):
    """FLOPs (2 x multiply-adds) of a generator's convolutions for one size x size image."""
    generator = build_generator(architecture, image_shape=(size, size, 3))
    total = 0
    for layer in generator.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.SeparableConv2D,
                              keras.layers.DepthwiseConv2D)):
            _, height, width, out_channels = layer.output.shape
            in_channels = layer.input.shape[-1]
            kh, kw = layer.kernel_size
            if isinstance(layer, keras.layers.SeparableConv2D):
                total += 2 * height * width * in_channels * (kh * kw + out_channels)
            elif isinstance(layer, keras.layers.DepthwiseConv2D):
                total += 2 * height * width * in_channels * kh * kw
            else:
                total += 2 * height * width * out_channels * kh * kw * in_channels
    return total


def peak_flops(n=2048, repeats=10):
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    matmul = tf.function(lambda x, y: tf.matmul(x, y))
    matmul(a, b).numpy()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        matmul(a, b).numpy()
        times.append(time.perf_counter() - started)
    return 2 * n ** 3 / float(np.median(times))


def torch_peer():
    """The PyTorch AnimeGANv2 generator (random weights), evaluation mode."""
    import torch

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from animeganv2_torch import AnimeGANv2Generator

    torch.set_num_threads(FLAGS.threads or os.cpu_count())
    torch.manual_seed(0)
    return AnimeGANv2Generator().eval()


def torch_runner(model, image):
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(0, 3, 1, 2)))

    def run():
        with torch.inference_mode():
            return model(tensor).numpy().transpose(0, 2, 3, 1)
    return run


def same_weights_difference(peer, keras_v2, image):
    """Largest |PyTorch - Keras| output of the v2 network given the same weights and image."""
    return float(np.abs(torch_runner(peer, image)() - np.asarray(keras_v2(image))).max())


def _stylizer(path, spinning=False):
    """The exported file as load_stylizer runs it, on --threads threads where given."""
    threads = FLAGS.threads or None
    if path.suffix == ".tflite":
        return TFLiteStylizer(path, num_threads=threads)
    if path.suffix == ".onnx":
        return OnnxStylizer(path, num_threads=threads, allow_spinning=spinning)
    return load_stylizer(path)


def runners(generators, size, folder, peer):
    # Timing only: a random generator quantises worse than a trained one, so the export checks
    # are not enforced here; their differences are printed instead.
    export.TOLERANCES.update({kind: (float("inf"), float("inf")) for kind in export.TOLERANCES})
    image = np.random.default_rng(0).uniform(-1, 1, (1, size, size, 3)).astype(np.float32)
    photos = export.check_photos("", size, 4)
    timed, results = {}, {}
    for architecture, generator in generators.items():
        short = _SHORT[architecture]
        found = {f"{short} keras": KerasStylizer(generator)}
        where = folder / short
        where.mkdir(parents=True, exist_ok=True)
        exporters = {
            "saved_model": lambda: export.export_saved_model(generator, where, photos),
            "float32": lambda: export.export_tflite(generator, where, "none", photos),
            "float16": lambda: export.export_tflite(generator, where, "float16", photos),
            "dynamic_int8": lambda: export.export_tflite(generator, where, "dynamic_int8", photos),
            "float16_fixed": lambda: export.export_tflite(generator, where, "float16", photos,
                                                          size),
            "int8_fixed": lambda: export.export_tflite(generator, where, "int8", photos, size,
                                                       photos),
            "onnx": lambda: export.export_onnx(generator, where, photos),
            "onnx_spinning": lambda: export.export_onnx(generator, where, photos),
        }
        for kind in FLAGS.exports:
            result = exporters[kind]()
            spinning = kind == "onnx_spinning"
            name = f"{short} {result.path.name}" + (", threads spinning" if spinning else "")
            found[name], results[name] = _stylizer(result.path, spinning), result
        timed.update({name: (lambda s=stylizer: s(image)) for name, stylizer in found.items()})
    if peer is not None:
        timed[_PEER] = torch_runner(peer, image)
    return timed, results


def main(argv):
    del argv
    unknown = set(FLAGS.generators) - set(GENERATORS)
    if unknown:
        raise app.UsageError(f"--generators: unknown {sorted(unknown)}")
    unknown = set(FLAGS.exports) - set(_EXPORTS)
    if unknown:
        raise app.UsageError(f"--exports: unknown {sorted(unknown)}, known: {_EXPORTS}")
    if FLAGS.threads:  # before TensorFlow's runtime starts; inter-op 1: one op at a time
        tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    if FLAGS.torch_peer and importlib.util.find_spec("torch") is None:
        print("PyTorch is not installed: the AnimeGANv2 peer row is skipped "
              "(pip install torch==2.13.0 to time it).", flush=True)
        FLAGS.torch_peer = False
    peer = torch_peer() if FLAGS.torch_peer else None
    if FLAGS.model:
        loaded = load_stylizer(FLAGS.model).generator
        generators = {generator_architecture(loaded): loaded}
    else:
        generators = {name: build_generator(name) for name in FLAGS.generators}
    if peer is not None and "animegan_v2" in generators and not FLAGS.model:
        tensors = load_state_dict(generators["animegan_v2"],
                                  {k: v.numpy() for k, v in peer.state_dict().items()})
        image = np.random.default_rng(1).uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32)
        print(f"v2 given the PyTorch peer's weights ({tensors} tensors): largest output difference "
              f"{same_weights_difference(peer, generators['animegan_v2'], image):.1e} (64x64, [-1, 1])")
    peak = peak_flops()
    threads = f"{FLAGS.threads} thread(s)" if FLAGS.threads else "all cores"
    print(f"{os.cpu_count()} CPUs, each runtime on {threads}, TensorFlow {tf.__version__}; "
          f"measured float32 peak (2048^3 matmul, same threads): {peak / 1e9:.0f} GFLOP/s")
    for size in (int(s) for s in FLAGS.sizes):
        flops = {name: conv_flops(name, size) for name in generators}
        flops_of = {_SHORT[name]: work for name, work in flops.items()}
        if peer is not None:  # the same network as our v2
            flops_of[_PEER] = flops.get("animegan_v2") or conv_flops("animegan_v2", size)
        with tempfile.TemporaryDirectory() as folder:
            timed, results = runners(generators, size, pathlib.Path(folder), peer)
            for run in timed.values():
                run()  # warm-up: traces, allocates, resizes tensors
            times = {name: [] for name in timed}
            for _ in range(FLAGS.rounds):
                for name, run in timed.items():
                    for _ in range(FLAGS.runs):
                        started = time.perf_counter()
                        run()
                        times[name].append(time.perf_counter() - started)
        base = f"{_SHORT[next(iter(generators))]} keras"
        base_median = float(np.median(times[base]))
        print(f"\n{size}x{size}, batch 1; median of {FLAGS.rounds} x {FLAGS.runs} calls; GFLOP per "
              "image (convolutions): " + ", ".join(f"{_SHORT[n]} {f / 1e9:.1f}" for n, f in flops.items()))
        print(f"| runtime | file MiB | max / mean diff to Keras | ms / image | ratio to {base} "
              "| ratio to its own Keras | GFLOP/s | % of peak |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for name, values in times.items():
            median = float(np.median(values))
            result = results.get(name)
            mib = f"{result.size_bytes / 2 ** 20:.1f}" if result else ""
            diff = f"{result.max_difference:.2g} / {result.mean_difference:.2g}" if result else ""
            short = _PEER if name == _PEER else name.split()[0]
            own = times.get(f"{short} keras")  # the same generator in Keras (the peer: our v2)
            own = own or (times.get("v2 keras") if name == _PEER else None)
            own_ratio = f"{median / float(np.median(own)):.2f}" if own else ""
            work = flops_of[short]
            print(f"| {name} | {mib} | {diff} | {1000 * median:.0f} | {median / base_median:.2f} | "
                  f"{own_ratio} | {work / median / 1e9:.0f} | {100 * work / median / peak:.0f} |")


if __name__ == "__main__":
    app.run(main)
