"""Generator inference latency at 256 and 512, every runtime side by side, plus FLOPs and peak.

    python bench/inference.py --sizes=256,512 --runs=5
    python bench/inference.py --model=runs/mine      # a trained generator instead of random weights

Times one image per call (batch 1, the phone case), median of --runs calls after a warm-up, the
runtimes interleaved round by round: Keras (tf.function), SavedModel, TFLite float32 / float16 /
dynamic int8 with free input size, TFLite full int8 and float16 exported at each fixed size, and
the AnimeGANv2 generator in PyTorch (the community's lighter peer, random weights; needs
`pip install torch==2.13.0`). Also prints the generator's FLOPs per image (multiply-adds x 2 of
its convolutions) and this machine's measured float32 peak (a 2048^3 matmul in TensorFlow), so the
fraction of the peak each runtime reaches is visible.
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

from animegan_face import export  # noqa: E402
from animegan_face.inference import KerasStylizer, load_stylizer  # noqa: E402
from animegan_face.networks import build_generator  # noqa: E402

flags.DEFINE_list("sizes", ["256", "512"], "Square input sizes.")
flags.DEFINE_integer("runs", 5, "Timed calls per runtime, size and round.")
flags.DEFINE_integer("rounds", 2, "Interleaved rounds.")
flags.DEFINE_string("model", "", "A trained generator (model_dir or .weights.h5); default random.")
flags.DEFINE_bool("torch_peer", True, "Time the PyTorch AnimeGANv2 generator too (needs "
                  "`pip install torch==2.13.0`; skipped with a note when torch is missing).")
FLAGS = flags.FLAGS


def conv_flops(size):
    """FLOPs (2 x multiply-adds) of the generator's convolutions for one size x size image."""
    generator = build_generator(image_shape=(size, size, 3))
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


def _torch_runner(size):
    import torch

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from animeganv2_torch import AnimeGANv2Generator

    torch.set_num_threads(os.cpu_count())
    model = AnimeGANv2Generator().eval()
    image = torch.zeros(1, 3, size, size)

    def run():
        with torch.inference_mode():
            model(image).numpy()
    return run


def runners(generator, size, folder):
    # Timing only: a random generator quantises worse than a trained one, so the export checks
    # are not enforced here; their differences are printed instead.
    export.TOLERANCES.update({kind: (float("inf"), float("inf")) for kind in export.TOLERANCES})
    image = np.random.default_rng(0).uniform(-1, 1, (1, size, size, 3)).astype(np.float32)
    photos = export.check_photos("", size, 4)
    found = {"keras": KerasStylizer(generator)}
    exports = [
        export.export_saved_model(generator, folder, photos),
        export.export_tflite(generator, folder, "none", photos),
        export.export_tflite(generator, folder, "float16", photos),
        export.export_tflite(generator, folder, "dynamic_int8", photos),
        export.export_tflite(generator, folder, "float16", photos, size),
        export.export_tflite(generator, folder, "int8", photos, size, photos),
    ]
    for result in exports:
        found[result.path.name] = load_stylizer(result.path)
    timed = {name: (lambda s=stylizer: s(image)) for name, stylizer in found.items()}
    if FLAGS.torch_peer:
        timed["pytorch AnimeGANv2 (2.14 M)"] = _torch_runner(size)
    return timed, {result.path.name: result for result in exports}


def main(argv):
    del argv
    if FLAGS.torch_peer and importlib.util.find_spec("torch") is None:
        print("PyTorch is not installed: the AnimeGANv2 peer row is skipped "
              "(pip install torch==2.13.0 to time it).", flush=True)
        FLAGS.torch_peer = False
    generator = (load_stylizer(FLAGS.model).generator if FLAGS.model else build_generator())
    peak = peak_flops()
    print(f"{os.cpu_count()} CPUs, TensorFlow {tf.__version__}; measured float32 peak "
          f"(2048^3 matmul): {peak / 1e9:.0f} GFLOP/s")
    for size in (int(s) for s in FLAGS.sizes):
        flops = conv_flops(size)
        with tempfile.TemporaryDirectory() as folder:
            timed, sizes = runners(generator, size, pathlib.Path(folder))
            for run in timed.values():
                run()  # warm-up: traces, allocates, resizes tensors
            times = {name: [] for name in timed}
            for _ in range(FLAGS.rounds):
                for name, run in timed.items():
                    for _ in range(FLAGS.runs):
                        started = time.perf_counter()
                        run()
                        times[name].append(time.perf_counter() - started)
        keras_median = float(np.median(times["keras"]))
        print(f"\n{size}x{size}, batch 1: generator {flops / 1e9:.1f} GFLOP per image "
              f"(convolutions); median of {FLAGS.rounds} x {FLAGS.runs} calls")
        print("| runtime | file MiB | max / mean diff to Keras | ms / image | ratio to Keras | GFLOP/s "
              "| % of peak |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for name, values in times.items():
            median = float(np.median(values))
            result = sizes.get(name)
            mib = f"{result.size_bytes / 2 ** 20:.1f}" if result else ""
            diff = f"{result.max_difference:.2g} / {result.mean_difference:.2g}" if result else ""
            achieved = "" if name.startswith("pytorch") else f"{flops / median / 1e9:.0f}"
            share = "" if name.startswith("pytorch") else f"{100 * flops / median / peak:.0f}"
            print(f"| {name} | {mib} | {diff} | {1000 * median:.0f} | {median / keras_median:.2f} | "
                  f"{achieved} | {share} |")


if __name__ == "__main__":
    app.run(main)
