"""Stylises photos (a file or a folder) and videos with a trained generator.

    python stylize.py --model=runs/face --input=photo.jpg --output=anime.png
    python stylize.py --model=exports/generator_float16.tflite --input=photos/ --output=out/
    python stylize.py --model=runs/face --input=clip.mp4 --output=clip_anime.mp4 --side_by_side

--model is a training model_dir, a .weights.h5/.keras file, a SavedModel folder, a .tflite file or
a .onnx file (run with onnxruntime on the CPU).
Photos default to --mode=face (every face stylised at the training size and pasted back; the
whole frame if no face is found), videos to --mode=full.
"""

import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

flags.DEFINE_string("model", None, "model_dir, .weights.h5, .keras, SavedModel folder, .tflite or .onnx.")
flags.DEFINE_string("input", None, "An image, a folder of images, or a video (.mp4/.avi/.mov/.mkv).")
flags.DEFINE_string("output", None, "Output file (or folder when --input is a folder).")
flags.DEFINE_enum("mode", "", ["", "face", "full", "both"],
                  "face / full / both; default: face for photos, full for videos.")
flags.DEFINE_integer("image_size", 0, "Face crop size fed to the model; 0: the model's training "
                     "size (its run's config.json or its export manifest), else 256.")
flags.DEFINE_float("margin", 0.25, "Face crop margin on each side, as a fraction of the face "
                   "size; 0.25 frames faces as the training selfies are.")
flags.DEFINE_integer("upsample", 1, "Face detector upsamplings (finds smaller faces, slower).")
flags.DEFINE_integer("max_side", 1024, "Full-frame mode shrinks larger frames to this side (0: never).")
flags.DEFINE_bool("side_by_side", False, "Write the input beside the output.")
flags.mark_flags_as_required(["model", "input", "output"])
FLAGS = flags.FLAGS


def _progress(done, total):
    total_text = f"/{total}" if total > 0 else ""
    print(f"\rframes: {done}{total_text}", end="", file=sys.stderr, flush=True)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)
    source, target = pathlib.Path(FLAGS.input), pathlib.Path(FLAGS.output)
    if not source.exists():
        raise app.UsageError(f"--input: not found: {source}")
    from animegan_face.deployment import stylize
    from animegan_face.data.image_files import (
        ImageReadError, check_writable_folder, list_images, read_image, write_image)
    from animegan_face.deployment.inference import ModelLoadError, load_stylizer
    from animegan_face.deployment.provenance import model_image_size

    try:  # before loading the model and stylising anything
        check_writable_folder(target if source.is_dir() else target.parent)
    except OSError as error:
        sys.exit(f"stylize.py: --output: {error}")
    is_video = source.is_file() and source.suffix.lower() in stylize.VIDEO_EXTENSIONS
    options = stylize.StylizeOptions(
        mode=FLAGS.mode or ("full" if is_video else "face"),
        image_size=FLAGS.image_size or model_image_size(FLAGS.model),
        margin=FLAGS.margin, upsample=FLAGS.upsample, max_side=FLAGS.max_side)
    try:
        stylizer = load_stylizer(FLAGS.model)
    except (ModelLoadError, FileNotFoundError) as error:
        sys.exit(f"stylize.py: {error}")

    if is_video:
        started = time.time()
        try:
            frames = stylize.stylize_video(stylizer, source, target, options, FLAGS.side_by_side, _progress)
        except (stylize.VideoError, OSError) as error:
            sys.exit(f"\nstylize.py: {error}")
        print(f"\n{frames} frames -> {target} ({frames / (time.time() - started):.2f} frames/s)")
        return

    pairs = ([(path, target / (path.stem + ".png")) for path in list_images(source)]
             if source.is_dir() else [(source, target)])
    if not pairs:
        sys.exit(f"stylize.py: {source} holds no images")
    skipped = []
    for path, out_path in pairs:
        try:
            rgb = read_image(path)
        except ImageReadError as error:
            if len(pairs) == 1:
                sys.exit(f"stylize.py: {error}")
            skipped.append(str(error))
            continue
        result = stylize.stylize_image(stylizer, rgb, options)
        image = stylize.side_by_side_pair(rgb, result.image) if FLAGS.side_by_side else result.image
        try:
            write_image(out_path, image)
        except (OSError, ValueError) as error:
            sys.exit(f"stylize.py: cannot write {out_path}: {error}")
        note = " (no face found: whole frame stylised)" if result.fell_back_to_full else (
            f" ({result.faces} face{'s' if result.faces != 1 else ''})" if options.mode != "full" else "")
        print(f"{path} -> {out_path}{note}")
    if skipped:
        print(f"skipped {len(skipped)} unreadable file(s):\n  " + "\n  ".join(skipped), file=sys.stderr)


if __name__ == "__main__":
    app.run(main)
