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

_MODEL = flags.DEFINE_multi_string(
    "model", [], "NAME=PATH of a generator to run (model_dir, SavedModel folder, .tflite, .onnx, ...).")
_OUTPUTS = flags.DEFINE_multi_string(
    "outputs", [], "NAME=DIR of already stylised images, named like the photos (any extension).")
_PHOTO_DIR = flags.DEFINE_string("photo_dir", None, "Folder of test photos.")
_ANIME_DIR = flags.DEFINE_string("anime_dir", None, "Folder of anime images (the target domain).")
_IMAGE_SIZE = flags.DEFINE_integer(
    "image_size", 256, "Photos are centre-cropped and resized to this square (multiple of 4).",
    lower_bound=16)
_PHOTO_LIST = flags.DEFINE_string(
    "photo_list", None, "Evaluate only the photos named in this file (one per line, # comments), "
    "e.g. a model's held-out list.")
_LIMIT = flags.DEFINE_integer(
    "limit", 0, "Use at most this many photos and anime images, the first by name (0 = all).",
    lower_bound=0)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 8, "Photos per generator call.", lower_bound=1)
_BASELINES = flags.DEFINE_bool(
    "baselines", True, "Add the rows 'photo (identity)' and 'photo blurred' for scale.")
_OUTPUT_MARKDOWN = flags.DEFINE_string("output_markdown", None, "Also write the table to this file.")
_GRID = flags.DEFINE_string(
    "grid", None, "Also write a PNG: one row per photo (the first --grid_count), the photo then "
    "output left to right: the --outputs folders, then the --model runs, each in the order given.")
_GRID_COUNT = flags.DEFINE_integer("grid_count", 6, "Photos in the --grid picture.", lower_bound=1)
_KID = flags.DEFINE_bool(
    "kid", True, "Also score KID (animegan_face/evaluation/kid.py) of each row against the anime "
    "set, on ImageNet VGG16 features (`fetch_weights.py vgg16` provides them offline).")
_KID_WEIGHTS = flags.DEFINE_string(
    "kid_weights", "imagenet", "VGG16 weights of the KID features: imagenet, none (random: a "
    "smoke test, not a measurement) or a file path.")
_KID_ANIME_COUNT = flags.DEFINE_integer(
    "kid_anime_count", 1000, "Anime images the KID reference uses (evenly spaced by name; 0 = "
    "all): VGG16 features cost about 0.1 s an image here.", lower_bound=0)

flags.mark_flags_as_required(["photo_dir", "anime_dir"])
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

    count = _KID_ANIME_COUNT.value or len(anime)
    reference = [anime[int(i)] for i in np.linspace(0, len(anime) - 1, min(count, len(anime)))]
    features = kid.FeatureExtractor(_KID_WEIGHTS.value)
    anime_features = features(reference)
    for name, images in outputs_by_row.items():
        results[name]["kid"], results[name]["kid_std"] = kid.kernel_inception_distance(
            features(images), anime_features)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    models, output_dirs = _pairs(_MODEL.value, "model"), _pairs(_OUTPUTS.value, "outputs")
    if set(models) & set(output_dirs):
        raise app.UsageError(f"names used twice: {sorted(set(models) & set(output_dirs))}")
    if not models and not output_dirs:
        raise app.UsageError("give at least one --model=NAME=PATH or --outputs=NAME=DIR")
    size, limit = _IMAGE_SIZE.value, _LIMIT.value
    try:
        only = image_files.read_name_list(_PHOTO_LIST.value) if _PHOTO_LIST.value else None
        names, photos, skipped = metrics.load_folder(_PHOTO_DIR.value, size, limit, only)
        _, anime, skipped_anime = metrics.load_folder(_ANIME_DIR.value, size, limit)
        if not photos or len(anime) < 2:
            raise ValueError("need at least one readable photo and two readable anime images")
        for path, reason in skipped + skipped_anime:
            print(f"skipped {path}: {reason}")
        outputs = {name: metrics.load_matching(folder, names, size)
                   for name, folder in output_dirs.items()}
        outputs.update({name: _stylize(path, photos, _BATCH_SIZE.value)
                        for name, path in models.items()})
        results = metrics.evaluate_models(photos, outputs, anime, baselines=_BASELINES.value)
        if _KID.value:
            rows = dict(metrics.baseline_outputs(photos)) if _BASELINES.value else {}
            _add_kid(results, {**rows, **outputs}, anime)
    except (ValueError, OSError, RuntimeError) as error:
        raise SystemExit(f"evaluate.py: {error}") from error
    table = metrics.markdown_table(results)
    first = next(iter(results.values()))
    print(f"{len(photos)} photos ({first['no_face']} without a detected face, left out of skin "
          f"ΔE00), {len(anime)} anime images")
    print(table)
    if _OUTPUT_MARKDOWN.value:
        pathlib.Path(_OUTPUT_MARKDOWN.value).write_text(table + "\n", encoding="utf-8")
    if _GRID.value:
        count = _GRID_COUNT.value
        columns = [photos[:count]] + [outputs[name][:count] for name in outputs]
        image_files.write_image(_GRID.value, image_files.image_grid(columns))
        print(f"Wrote {_GRID.value}: photo | {' | '.join(outputs)}, {len(columns[0])} rows")


if __name__ == "__main__":
    app.run(main)
