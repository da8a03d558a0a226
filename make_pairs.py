"""Makes pseudo-pair targets for a prepared dataset: the supervised signal of `--pair_weight`.

    python make_pairs.py --dataset_dir=dataset/selfie_256 --model=checkpoints/selfie2anime_v3
    python train.py --dataset_dir=dataset/selfie_256 --pair_weight=10 ...

For each photo of DATASET/photo, the model's stylisation with an edge-preserving filter applied
(on a contrast-stretched copy, so dark faces keep their eyes) goes to DATASET/pair/<stem>.png;
DATASET/pair.json records the model and the settings. Training then pulls the generator towards
these targets: it learns the flattening that no export could run as a filter. See
animegan_face/deployment/pseudo_pairs.py. Interrupted, the same command continues.
"""

import dataclasses
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from animegan_face.deployment import pseudo_pairs  # noqa: E402

flags.DEFINE_string("dataset_dir", None, "A prepared dataset (prepare.py).")
flags.DEFINE_string("model", None, "The model that stylises: a run folder, .weights.h5, .keras, "
                                   "SavedModel, .tflite or .onnx.")
flags.DEFINE_enum("smoothing", "edge_preserving", list(pseudo_pairs.SMOOTHINGS), "The filter that "
                  "flattens the model's output: OpenCV's edge-preserving filter, or L0 gradient "
                  "minimisation (flat regions, sharp edges).")
flags.DEFINE_float("l0_lambda", pseudo_pairs.L0_LAMBDA, "--smoothing=l0: the weight of an edge "
                   "pixel at a 256 px side; a thin line is kept when its width times its squared "
                   "contrast (0..1) exceeds about twice this.", lower_bound=1e-4, upper_bound=1.0)
flags.DEFINE_float("sigma_s", pseudo_pairs.SIGMA_S, "Spatial extent of the edge-preserving filter, "
                   "in pixels at a 256 px side (scaled with the side).", lower_bound=1.0)
flags.DEFINE_float("sigma_r", pseudo_pairs.SIGMA_R, "Colour differences the filter smooths over, "
                   "on the contrast-stretched 0..1 scale (larger: flatter).", lower_bound=0.01,
                   upper_bound=1.0)
flags.DEFINE_integer("skin_line_depth", 0, "Inpaint thin dark lines inside the skin (the photo's "
                     "face landmarks give the mask) that lie more than this many levels under "
                     "their surroundings; 0: off.", lower_bound=0, upper_bound=255)
flags.DEFINE_float("skin_flatness", 0.0, "Pull the skin this fraction of the way to a heavily "
                   "smoothed copy before the filter; 0: off.", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_float("skin_colour", 0.0, "After the filter, move the skin's mean colour this "
                   "fraction of the way to the photo's (lightness --skin_lightness as far); 0: off.",
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_float("skin_lightness", pseudo_pairs.SKIN_LIGHTNESS, "Of --skin_colour's move, "
                   "the share applied to lightness (anime skin is lighter than a photo's; 1: the "
                   "photo's lightness).",
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_float("line_strength", 0.0, "Then draw the filtered picture's XDoG lines (its region "
                   "borders) in dark brown at this opacity; 0: off.", lower_bound=0.0,
                   upper_bound=1.0)
flags.mark_flags_as_required(["dataset_dir", "model"])
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from animegan_face.data.image_files import printable
    from animegan_face.deployment.inference import ModelLoadError, load_stylizer

    try:
        stylizer = load_stylizer(FLAGS.model)
    except (FileNotFoundError, ModelLoadError) as error:
        sys.exit(f"make_pairs.py: --model: {printable(str(error))}")

    def progress(done, total):
        if done % 100 == 0 or done == total:
            print(f"{done}/{total} targets", flush=True)

    try:
        # one flag per recipe field, of the same name
        recipe = pseudo_pairs.TargetRecipe(**{field.name: FLAGS[field.name].value for field in
                                              dataclasses.fields(pseudo_pairs.TargetRecipe)})
        written = pseudo_pairs.write_pairs(FLAGS.dataset_dir, stylizer, FLAGS.model, recipe,
                                           progress)
    except (ValueError, OSError) as error:
        sys.exit(f"make_pairs.py: {printable(str(error))}")
    folder = pathlib.Path(FLAGS.dataset_dir) / pseudo_pairs.PAIR_FOLDER
    print(f"{written} targets written into {printable(folder)}")


if __name__ == "__main__":
    app.run(main)
