"""Blind rating of stylised faces, as in the thesis (0-10 scores, mean x100 per model).

    python rate.py make --model=animegan=out/animegan --model=thesis=out/thesis \
        --output=rating.html [--limit=100] [--seed=0]
    # send rating.html to the raters; keep rating.key.json (written beside it) to yourself
    python rate.py aggregate --key=rating.key.json scores-alice.json scores-bob.json ...

`make` writes one self-contained HTML page (images embedded, shuffled, no model names) and the key
that maps its opaque image ids to models. `aggregate` prints "model | raters | images | mean score
x100". See animegan_face/evaluation/rating.py.
"""

import json
import pathlib
import sys

from absl import app
from absl import flags

from animegan_face.data import image_files
from animegan_face.evaluation import rating
from animegan_face.flag_values import named_paths

flags.DEFINE_multi_string(
    "model", [], "make: NAME=DIR, a folder of one model's outputs (repeat per model).")
flags.DEFINE_string(
    "output", "rating.html", "make: the page to write; the key goes to <stem>.key.json beside it.")
flags.DEFINE_integer(
    "limit", 0, "make: at most this many images per model, the first by file name (0 = all).",
    lower_bound=0)
flags.DEFINE_integer("seed", 0, "make: seed of the shuffle.")
flags.DEFINE_integer(
    "max_side", 512, "make: longer images are shrunk to this side in the page.", lower_bound=16)
flags.DEFINE_string("key", None, "aggregate: the key JSON written by `make`.")

FLAGS = flags.FLAGS
_USAGE = "usage: rate.py make --model=NAME=DIR ... | rate.py aggregate --key=KEY SCORES.json ..."


def key_path(page_path):
    """Where `make` puts the key of ``page_path``: rating.html -> rating.key.json."""
    page_path = pathlib.Path(page_path)
    return page_path.with_name(page_path.stem + ".key.json")


def make(model_flags):
    if not model_flags:
        raise app.UsageError("make needs at least one --model=NAME=DIR")
    images_by_model = {}
    for name, folder in _parse_pairs(model_flags):
        files = image_files.list_images(folder)[:FLAGS.limit or None]
        if not files:
            raise SystemExit(f"rate.py: no image in {folder} (--model={name}={folder})")
        images_by_model[name] = [(path.name, image_files.read_image(path)) for path in files]
    page, key = rating.make_page(images_by_model, seed=FLAGS.seed, max_side=FLAGS.max_side)
    output = pathlib.Path(FLAGS.output)
    image_files.write_file_atomic(output, page.encode("utf-8"))
    image_files.write_file_atomic(key_path(output), json.dumps(key, indent=1).encode("utf-8"))
    counts = ", ".join(f"{name}: {len(images)}" for name, images in images_by_model.items())
    print(f"wrote {output} ({len(key['images'])} images; {counts})")
    print(f"wrote {key_path(output)}: keep it; it reveals which model made which image")


def aggregate(score_paths):
    if FLAGS.key is None or not score_paths:
        raise app.UsageError("aggregate needs --key=KEY.json and at least one scores file")
    key = _read_json(FLAGS.key, "--key")
    score_files = [(str(path), _read_json(path, "scores file")) for path in score_paths]
    try:
        rating.check_key(key, FLAGS.key)
        rows = rating.aggregate(key, score_files)
        kept, duplicates = rating.unique_raters(key, score_files)
    except rating.ScoresError as error:
        raise SystemExit(f"rate.py: {error}") from error
    for file_name, why in duplicates:
        print(f"note: {file_name} counted once: {why}", file=sys.stderr)
    for file_name, rater, scored, total in rating.incomplete_raters(key, kept):
        print(f"note: {file_name} ({rater}) scored {scored} of {total} images", file=sys.stderr)
    print(rating.markdown_table(rows))


def _read_json(path, what):
    """The parsed JSON file at `path`; SystemExit naming it when it is missing or not JSON."""
    try:
        return json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise SystemExit(f"rate.py: {what} {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise SystemExit(f"rate.py: {what} {path}: not a JSON file ({error})") from None


def _parse_pairs(values):
    try:
        return named_paths(values, "model", path_word="DIR").items()
    except ValueError as error:
        raise app.UsageError(str(error)) from None


def main(argv):
    if len(argv) < 2 or argv[1] not in ("make", "aggregate"):
        raise app.UsageError(_USAGE)
    if argv[1] == "make":
        if len(argv) > 2:
            raise app.UsageError(f"unexpected arguments: {' '.join(argv[2:])}")
        make(FLAGS.model)
    else:
        aggregate(argv[2:])


if __name__ == "__main__":
    app.run(main)
