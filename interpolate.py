"""Blends two generators of one lineage, weight by weight (network interpolation, ESRGAN).

    python interpolate.py --model_a=runs/faithful --model_b=runs/stylised --alpha=0.5 \
        --output=models/blend.weights.h5
    python stylize.py --model=models/blend.weights.h5 --input=me.jpg --output=me_anime.png
    python export.py --model_dir=models/blend.weights.h5 --output_dir=exports/blend

Each tensor becomes (1 - alpha) * a + alpha * b: alpha 0 is model_a, 1 is model_b, and values
between trade a's fidelity against b's stylisation. It works for two generators fine-tuned from
the same weights (for example a run and its `--init_from` continuation with other loss weights);
two independently trained networks do not blend into anything useful. Both must be the same
architecture. Beside the output goes OUTPUT.source.json (alpha and both sources' records, their
training configs included), which export.py copies into its manifest.
"""

import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

flags.DEFINE_string("model_a", None, "The first generator (alpha 0): a model_dir, .weights.h5 or .keras.")
flags.DEFINE_string("model_b", None, "The second generator (alpha 1), of the same architecture.")
flags.DEFINE_float("alpha", 0.5, "Weight of model_b, in [0, 1].", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_string("output", None, "The Keras weights file to write (ends in .weights.h5).")
flags.mark_flags_as_required(["model_a", "model_b", "output"])
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    output = pathlib.Path(FLAGS.output)
    if not output.name.endswith(".weights.h5"):
        raise app.UsageError(f"--output: must end in .weights.h5, got {output}")
    from animegan_face.data.image_files import check_writable_folder

    try:
        check_writable_folder(output.parent)
    except OSError as error:
        sys.exit(f"interpolate.py: --output: {error}")

    from animegan_face.data.image_files import save_weights_atomic
    from animegan_face.deployment import provenance
    from animegan_face.deployment.inference import ModelLoadError, load_keras_generator
    from animegan_face.models.interpolation import InterpolationError, interpolate_weights
    from animegan_face.models.networks import generator_architecture

    generators = []
    for flag in ("model_a", "model_b"):
        try:
            generators.append(load_keras_generator(FLAGS[flag].value))
        except (FileNotFoundError, ModelLoadError) as error:
            sys.exit(f"interpolate.py: --{flag}: {error}")
    model_a, model_b = generators
    architectures = [generator_architecture(model) for model in generators]
    if architectures[0] != architectures[1]:
        sys.exit(f"interpolate.py: --model_a is {architectures[0]}, --model_b {architectures[1]}: "
                 "only generators of one architecture (and one lineage) can be blended")
    try:
        model_a.set_weights(interpolate_weights(model_a.get_weights(), model_b.get_weights(),
                                                FLAGS.alpha))
    except InterpolationError as error:
        sys.exit(f"interpolate.py: {FLAGS.model_a} and {FLAGS.model_b}: {error}")
    output.parent.mkdir(parents=True, exist_ok=True)
    save_weights_atomic(model_a, output)
    provenance.write_interpolation_record(output, FLAGS.model_a, FLAGS.model_b, FLAGS.alpha)
    print(f"{FLAGS.model_a} x {1 - FLAGS.alpha:g} + {FLAGS.model_b} x {FLAGS.alpha:g} "
          f"({architectures[0]}, {len(model_a.weights)} tensors) -> {output} and "
          f"{provenance.conversion_record_path(output)}")


if __name__ == "__main__":
    app.run(main)
