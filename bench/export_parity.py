"""How far exported generators are from Keras, as export.py's parity check measures it.

    python bench/export_parity.py --sizes=64,128,256 --fit_steps=150
    python bench/export_parity.py --weights=checkpoints/selfie2anime_v3/generator.weights.h5

For each generator: both architectures with random weights, the same after --fit_steps Adam steps
at 64 px (a brief training: L1 to posterised demo photos, which moves every layer's weights away
from their initialisation as the first epochs do), and any --weights files (trained runs). Each is
exported as TFLite float32 and float16 and as ONNX (free input size, converted once) and run on
export.py's check images (4 astronaut crops) at every --sizes. Printed per file and size: the
largest |exported - Keras|, its 99.9th percentile and its mean (`export.parity`; values in
[-1, 1]).

Then what a broken conversion looks like under the same statistics: Keras itself with one layer's
kernel given Gaussian noise of --noise times its standard deviation (a middle convolution, and
the last), against the untouched Keras generator. The bounds in export.TOLERANCES sit between
the two tables.
"""

import os
import pathlib
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from animegan_face.config import GENERATORS  # noqa: E402
from animegan_face.deployment import export  # noqa: E402
from animegan_face.deployment.inference import load_stylizer  # noqa: E402
from animegan_face.models.networks import build_generator, generator_of_weights  # noqa: E402

flags.DEFINE_list("sizes", ["64", "128", "256"], "Square check image sizes.")
flags.DEFINE_list("generators", list(GENERATORS), "Architectures with random and fitted weights.")
flags.DEFINE_integer("fit_steps", 150, "Adam steps of the briefly trained generators (0: none).")
flags.DEFINE_list("weights", [], "Trained generator .weights.h5 files to measure too.")
flags.DEFINE_list("exports", ["none", "float16", "onnx"], "TFLite quantisations and/or onnx "
                  "(empty: the broken generators only).")
flags.DEFINE_list("noise", ["0.01", "0.03", "0.1"], "Kernel noise of the broken generators, as a "
                  "fraction of the kernel's standard deviation (empty: none).")
FLAGS = flags.FLAGS


def fitted(architecture, steps, seed=0):
    """A generator after `steps` Adam steps (learning rate 2e-4, AnimeGAN's) of L1 from demo photos
    at 64 px to the same photos posterised to 4 levels and blurred: a brief, real training."""
    keras.utils.set_random_seed(seed)
    generator = build_generator(architecture)
    photos = export.check_photos("", 64, 8)  # float32 [-1, 1]
    levels = np.round((photos + 1) * 1.5) / 1.5 - 1
    targets = np.stack([cv2.GaussianBlur(image, (3, 3), 0) for image in levels.astype(np.float32)])
    optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.abs(generator(x, training=True) - y))
        grads = tape.gradient(loss, generator.trainable_variables)
        optimizer.apply_gradients(zip(grads, generator.trainable_variables))
        return loss

    rng = np.random.default_rng(seed)
    for index in range(steps):
        batch = rng.choice(len(photos), 4, replace=False)
        loss = step(photos[batch], targets[batch])
    if steps:
        print(f"# {architecture}: L1 after {steps} steps {float(loss):.3f}", flush=True)
    return generator


def generators():
    """[(label, generator)] to measure."""
    nets = []
    for architecture in FLAGS.generators:
        keras.utils.set_random_seed(0)
        nets.append((f"{architecture} random", build_generator(architecture)))
        if FLAGS.fit_steps:
            nets.append((f"{architecture} fit {FLAGS.fit_steps}",
                         fitted(architecture, FLAGS.fit_steps)))
    for path in FLAGS.weights:
        architecture = generator_of_weights(path)
        if architecture is None:
            sys.exit(f"{path}: not a generator weights file")
        generator = build_generator(architecture)
        generator.load_weights(path)
        nets.append((f"{architecture} {pathlib.Path(path).parent.name}", generator))
    return nets


def export_file(generator, kind, folder):
    if kind == "onnx":
        return export.export_onnx(generator, folder, export.check_photos("", 32, 1)).path
    return export.export_tflite(generator, folder, kind, export.check_photos("", 32, 1)).path


def perturbed(generator, layer_name, noise, seed=1):
    """A copy of `generator` whose layer `layer_name` has Gaussian noise of `noise` times its
    kernel's standard deviation added to its kernel."""
    clone = keras.models.clone_model(generator)
    clone.set_weights(generator.get_weights())
    kernel = clone.get_layer(layer_name).kernel
    value = np.asarray(kernel)
    rng = np.random.default_rng(seed)
    change = noise * value.std() * rng.standard_normal(value.shape)
    kernel.assign(value + change.astype(value.dtype))
    return clone


def _conv_names(generator):
    """The plain convolutions (separable and depthwise ones are other classes)."""
    return [layer.name for layer in generator.layers if isinstance(layer, keras.layers.Conv2D)]


def _row(label, kind, size, stats):
    print(f"| {label} | {kind} | {size} | " + " | ".join(f"{value:.2e}" for value in stats) + " |",
          flush=True)


def _outputs(network, photos):
    return np.concatenate([np.asarray(network(image[None], training=False)) for image in photos])


def main(argv):
    del argv
    # Measuring, not checking: every export is written whatever its difference.
    export.TOLERANCES.update({kind: (float("inf"), float("inf")) for kind in export.TOLERANCES})
    sizes = [int(size) for size in FLAGS.sizes]
    photos = {size: export.check_photos("", size, 4) for size in sizes}
    header = ("| generator | export | px | max | p99.9 | mean |\n"
              "| --- | --- | --- | --- | --- | --- |")
    nets = [(label, generator, {size: _outputs(generator, photos[size]) for size in sizes})
            for label, generator in generators()]
    if FLAGS.exports:
        print(header)
    for label, generator, reference in nets:
        with tempfile.TemporaryDirectory() as folder:
            for kind in FLAGS.exports:
                stylizer = load_stylizer(export_file(generator, kind, folder))
                for size in sizes:
                    exported = np.concatenate([stylizer(image[None]) for image in photos[size]])
                    _row(label, "float32" if kind == "none" else kind, size,
                         export.parity(exported, reference[size]))
    if not FLAGS.noise:
        return
    print("\nbroken: Keras with one kernel perturbed, against Keras\n" + header)
    for label, generator, reference in nets:
        names = _conv_names(generator)
        for layer_name in (names[len(names) // 2], names[-1]):
            for noise in FLAGS.noise:
                broken = perturbed(generator, layer_name, float(noise))
                for size in sizes:
                    _row(label, f"{layer_name} noise {noise}", size,
                         export.parity(_outputs(broken, photos[size]), reference[size]))


if __name__ == "__main__":
    app.run(main)
