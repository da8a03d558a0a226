"""Stylises photos (a file or a folder) and videos with a trained generator.

    python stylize.py --input=photo.jpg --output=anime.png   # the shipped model
    python stylize.py --model=runs/face --input=photo.jpg --output=anime.png
    python stylize.py --model=exports/generator_float16.tflite --input=photos/ --output=out/
    python stylize.py --model=runs/face --input=clip.mp4 --output=clip_anime.mp4 --side_by_side

--model is a training model_dir, a .weights.h5/.keras file, a SavedModel folder, a .tflite file or
a .onnx file (run with onnxruntime on the CPU); by default the shipped model's float16 TFLite.
Photos default to --mode=face (every face stylised at the training size and pasted back; the
whole frame if no face is found), videos to --mode=full.

Exit status: 0 when every file was done; 3 when some were skipped or done in part (a truncated
video), each listed with its reason on stderr; 1 when nothing was done. Inputs are never written
over, two inputs never share an output, and an existing file is replaced only if stylize.py wrote
it and it is unchanged since, or with --overwrite (animegan_face/deployment/outputs.py). Images
(one photo or a folder) and video frames are decoded in a worker process: a file that hangs or
crashes the decoder is named after --decode_timeout seconds, not waited on for ever (in a folder
it is skipped; a video ends at the frame before, exit status 3).
"""

import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from animegan_face.deployment.inference import SHIPPED_TFLITE  # noqa: E402

flags.DEFINE_string("model", str(SHIPPED_TFLITE), "model_dir, .weights.h5, .keras, SavedModel "
                    "folder, .tflite or .onnx; default: the shipped model.")
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
flags.DEFINE_bool("overwrite", False, "Replace existing outputs that stylize.py did not write, or "
                  "that were changed since (never an input).")
flags.DEFINE_float("decode_timeout", 120, "Seconds one image (or video frame) may take to "
                   "decode, in a worker process, before it is given up (a decoder caught in a "
                   "loop).",
                   lower_bound=0.1)
flags.DEFINE_float("max_megapixels", 50, "Images whose header declares more pixels are skipped "
                   "before decoding (a guard against decompression bombs).", lower_bound=0.001)
flags.mark_flags_as_required(["input", "output"])
FLAGS = flags.FLAGS


def _progress(done, total):
    total_text = f"/{total}" if total > 0 else ""
    print(f"\rframes: {done}{total_text}", end="", file=sys.stderr, flush=True)


def _finish(report):
    """Prints what was skipped and exits with the report's status."""
    if report.skipped or report.warnings:
        print(report.summary(), file=sys.stderr)
    sys.exit(report.exit_status())


def _video(stylizer, stylize, source, target, options, report, owned):
    from animegan_face.data.image_files import printable

    started = time.time()
    try:
        result = stylize.stylize_video(stylizer, source, target, options, FLAGS.side_by_side,
                                       _progress, lambda partial: owned.record_file(target, partial),
                                       FLAGS.decode_timeout)
    except (stylize.VideoError, OSError) as error:
        sys.exit(f"\nstylize.py: {printable(str(error))}")
    frames = result.frames
    print(f"\n{frames} frames -> {printable(target)} ({frames / (time.time() - started):.2f} frames/s)")
    report.done += 1
    # Decoding stopped, or the container's frame count against what was read and written.
    written = stylize.video_frame_count(target)
    if result.stopped:
        report.warnings.append((source, f"{result.stopped}; the {frames} frames before it were "
                                        f"written"))
    elif result.announced > frames:
        report.warnings.append((source, f"truncated or damaged: its header announces "
                                        f"{result.announced} frames, {frames} could be read and "
                                        f"were written"))
    if written and written != frames:
        report.warnings.append((target, f"holds {written} frames, {frames} were written"))


def _photo(stylizer, stylize, path, rgb, out_path, options, report, owned):
    """One decoded photo in, one file out; a problem with it is recorded in `report`, not raised."""
    from animegan_face.data.image_files import encode_image, printable, write_file_atomic

    try:
        result = stylize.stylize_image(stylizer, rgb, options)
    except Exception as error:  # pylint: disable=broad-except  # one bad image must not end a batch
        report.skip(path, f"stylising failed: {type(error).__name__}: {str(error).splitlines()[0]}")
        return
    image = stylize.side_by_side_pair(rgb, result.image) if FLAGS.side_by_side else result.image
    try:
        data = encode_image(out_path, image)
        owned.record(out_path, data)  # before the rename: a run killed in between owns the file
        write_file_atomic(out_path, data)
    except (OSError, ValueError) as error:
        report.skip(path, f"cannot write {printable(out_path)}: {error}")
        return
    report.done += 1
    note = " (no face found: whole frame stylised)" if result.fell_back_to_full else (
        f" ({result.faces} face{'s' if result.faces != 1 else ''})" if options.mode != "full" else "")
    print(f"{printable(path)} -> {printable(out_path)}{note}")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)
    source, target = pathlib.Path(FLAGS.input), pathlib.Path(FLAGS.output)
    if not source.exists():
        raise app.UsageError(f"--input: not found: {source}")
    from animegan_face.deployment import outputs, stylize
    from animegan_face.data.image_files import check_writable_folder, printable

    try:  # before loading the model (and TensorFlow) and stylising anything
        check_writable_folder(target if source.is_dir() else target.parent)
        if source.is_dir():
            plan = outputs.plan_folder(source, target, overwrite=FLAGS.overwrite)
        else:
            outputs.check_not_an_input(source, target)
            refusal = None if FLAGS.overwrite else outputs.OwnedOutputs(target.parent).refusal(target)
            if refusal:
                raise outputs.OutputError(f"--output: {refusal}")
    except OSError as error:
        sys.exit(f"stylize.py: --output: {printable(str(error))}")
    except outputs.OutputError as error:
        sys.exit(f"stylize.py: {printable(str(error))}")
    from animegan_face.data import guarded_reading

    is_video = source.is_file() and source.suffix.lower() in stylize.VIDEO_EXTENSIONS
    max_pixels = round(FLAGS.max_megapixels * 1e6)
    # Decoded in a worker process, before the model loads: a photo that hangs or crashes the
    # decoder is named after --decode_timeout, not waited on for ever (so are a video's frames,
    # in stylize_video, and a folder's images, below).
    if not is_video and not source.is_dir():
        [(_, rgb, reason)] = guarded_reading.read_images([source], max_pixels, FLAGS.decode_timeout)
        if rgb is None:
            sys.exit(f"stylize.py: {printable(source)}: {reason}")
    from animegan_face.deployment.inference import ModelLoadError, load_stylizer
    from animegan_face.deployment.provenance import model_image_size
    options = stylize.StylizeOptions(
        mode=FLAGS.mode or ("full" if is_video else "face"),
        image_size=FLAGS.image_size or model_image_size(FLAGS.model),
        margin=FLAGS.margin, upsample=FLAGS.upsample, max_side=FLAGS.max_side)
    try:
        stylizer = load_stylizer(FLAGS.model)
    except (ModelLoadError, FileNotFoundError) as error:
        sys.exit(f"stylize.py: {error}")

    report = outputs.BatchReport()
    owned = outputs.OwnedOutputs(target if source.is_dir() else target.parent)
    if is_video:
        _video(stylizer, stylize, source, target, options, report, owned)
    elif not source.is_dir():
        _photo(stylizer, stylize, source, rgb, target, options, report, owned)
        if report.skipped:
            path, reason = report.skipped[0]
            sys.exit(f"stylize.py: {printable(path)}: {reason}")
    else:
        if not plan.pairs and not plan.skipped:
            sys.exit(f"stylize.py: {printable(source)} holds no images")
        report.skipped += plan.skipped
        # Decoded in a worker process: a file that hangs or crashes the decoder is skipped.
        images = guarded_reading.read_images([path for path, _ in plan.pairs], max_pixels,
                                             FLAGS.decode_timeout)
        for (path, out_path), (_, rgb, reason) in zip(plan.pairs, images):
            if rgb is None:
                report.skip(path, reason)
            else:
                _photo(stylizer, stylize, path, rgb, out_path, options, report, owned)
        for path, out_path in plan.renamed:
            print(f"note: {printable(path)} -> {printable(out_path.name)}: another input has the "
                  f"same name stem")
    _finish(report)


if __name__ == "__main__":
    app.run(main)
