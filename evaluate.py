"""Offline quality metrics of one or more models on a folder of test photos.

    python evaluate.py --photo_dir=test/photo --anime_dir=dataset/mine/anime \
        --model=thesis=runs/mine --model=animegan=export/animegan.tflite \
        --outputs=other=stylised/other --output_markdown=eval.md

--model runs a generator (anything animegan_face.deployment.inference.load_stylizer accepts); --outputs takes
already stylised images, matched to the photos by file stem. Prints one row per model (plus two
baseline rows: the photo itself and a blurred copy) of the metrics in animegan_face/evaluation/metrics.py.
"""

import pathlib

import numpy as np
from absl import app
from absl import flags

from animegan_face.data import image_files
from animegan_face.evaluation import metrics
from animegan_face.flag_values import named_paths

flags.DEFINE_multi_string(
    "model", [], "NAME=PATH of a generator to run (model_dir, SavedModel folder, .tflite, .onnx, ...).")
flags.DEFINE_multi_string(
    "outputs", [], "NAME=DIR of already stylised images, named like the photos (any extension).")
flags.DEFINE_string("photo_dir", None, "Folder of test photos.")
flags.DEFINE_string("anime_dir", None, "Folder of anime images (the target domain).")
flags.DEFINE_integer(
    "image_size", 256, "Photos are centre-cropped and resized to this square (multiple of 4).",
    lower_bound=16)
flags.DEFINE_string(
    "photo_list", None, "Evaluate only the photos named in this file (one per line, # comments), "
    "e.g. a model's held-out list.")
flags.DEFINE_integer(
    "limit", 0, "Use at most this many photos and anime images, the first by name (0 = all).",
    lower_bound=0)
flags.DEFINE_integer("batch_size", 8, "Photos per generator call.", lower_bound=1)
flags.DEFINE_bool(
    "baselines", True, "Add the rows 'photo (identity)' and 'photo blurred' for scale.")
flags.DEFINE_string("output_markdown", None, "Also write the table to this file.")
flags.DEFINE_string(
    "grid", None, "Also write a PNG: one row per photo (the first --grid_count), the photo then "
    "output left to right: the --outputs folders, then the --model runs, each in the order given.")
flags.DEFINE_integer("grid_count", 6, "Photos in the --grid picture.", lower_bound=1)
flags.DEFINE_bool(
    "kid", True, "Also score KID (animegan_face/evaluation/kid.py) of each row against the anime "
    "set, on ImageNet VGG16 features (`fetch_weights.py vgg16` provides them offline).")
flags.DEFINE_string(
    "kid_weights", "imagenet", "VGG16 weights of the KID features: imagenet, none (random: a "
    "smoke test, not a measurement) or a file path.")
flags.DEFINE_integer(
    "kid_anime_count", 1000, "Anime images the KID reference uses (evenly spaced by name; 0 = "
    "all): VGG16 features cost about 0.1 s an image here.", lower_bound=0)
flags.DEFINE_string(
    "kid_cache_dir", "~/.cache/animegan_face/kid", "Keeps the anime reference's KID features, "
    "keyed by its pixels and the weights, so a rerun skips them ('' = no cache).")

flags.mark_flags_as_required(["photo_dir", "anime_dir"])
FLAGS = flags.FLAGS
flags.register_validator("image_size", lambda size: size % 4 == 0,
                         message="--image_size must be a multiple of 4 (the generator's stride)")


def _pairs(values, flag):
    try:
        return named_paths(values, flag)
    except ValueError as error:
        raise app.UsageError(str(error)) from None


def _stylize(model_path, photos, batch_size):
    # Imported here: TensorFlow is only needed when a model has to run.
    from animegan_face.deployment import inference  # pylint: disable=import-outside-toplevel

    stylizer = inference.load_stylizer(model_path)
    outputs = []
    for start in range(0, len(photos), batch_size):
        batch = image_files.from_uint8(np.stack(photos[start:start + batch_size]))
        outputs += list(image_files.to_uint8(stylizer(batch)))
    return outputs


def _add_kid(results, outputs_by_row, anime):
    """Adds "kid" and "kid_std" to each row of `results`: its images against the anime set."""
    from animegan_face.evaluation import kid  # pylint: disable=import-outside-toplevel

    count = FLAGS.kid_anime_count or len(anime)
    reference = [anime[int(i)] for i in np.linspace(0, len(anime) - 1, min(count, len(anime)))]
    features = kid.FeatureExtractor(FLAGS.kid_weights)
    anime_features = kid.cached_features(features, reference, FLAGS.kid_weights,
                                         FLAGS.kid_cache_dir)
    for name, images in outputs_by_row.items():
        results[name]["kid"], results[name]["kid_std"] = kid.kernel_inception_distance(
            features(images), anime_features)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    models, output_dirs = _pairs(FLAGS.model, "model"), _pairs(FLAGS.outputs, "outputs")
    if set(models) & set(output_dirs):
        raise app.UsageError(f"names used twice: {sorted(set(models) & set(output_dirs))}")
    if not models and not output_dirs:
        raise app.UsageError("give at least one --model=NAME=PATH or --outputs=NAME=DIR")
    size, limit = FLAGS.image_size, FLAGS.limit
    try:
        only = image_files.read_name_list(FLAGS.photo_list) if FLAGS.photo_list else None
        names, photos, skipped = metrics.load_folder(FLAGS.photo_dir, size, limit, only)
        _, anime, skipped_anime = metrics.load_folder(FLAGS.anime_dir, size, limit)
        if not photos or len(anime) < 2:
            raise ValueError("need at least one readable photo and two readable anime images")
        for path, reason in skipped + skipped_anime:
            print(f"skipped {path}: {reason}")
        outputs = {name: metrics.load_matching(folder, names, size)
                   for name, folder in output_dirs.items()}
        outputs.update({name: _stylize(path, photos, FLAGS.batch_size)
                        for name, path in models.items()})
        results = metrics.evaluate_models(photos, outputs, anime, baselines=FLAGS.baselines)
        if FLAGS.kid:
            rows = dict(metrics.baseline_outputs(photos)) if FLAGS.baselines else {}
            _add_kid(results, {**rows, **outputs}, anime)
    except (ValueError, OSError, RuntimeError) as error:
        raise SystemExit(f"evaluate.py: {error}") from error
    table = metrics.markdown_table(results)
    first = next(iter(results.values()))
    print(f"{len(photos)} photos ({first['no_face']} without a detected face, left out of skin "
          f"ΔE00), {len(anime)} anime images")
    print(table)
    if FLAGS.output_markdown:
        pathlib.Path(FLAGS.output_markdown).write_text(table + "\n", encoding="utf-8")
    if FLAGS.grid:
        count = FLAGS.grid_count
        columns = [photos[:count]] + [outputs[name][:count] for name in outputs]
        image_files.write_image(FLAGS.grid, image_files.image_grid(columns))
        print(f"Wrote {FLAGS.grid}: photo | {' | '.join(outputs)}, {len(columns[0])} rows")


if __name__ == "__main__":
    app.run(main)
