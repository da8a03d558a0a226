"""Exports a trained generator to SavedModel, TFLite and ONNX, checking every file against Keras.

    python export.py --model_dir=runs/face --output_dir=exports/face \
        --formats=saved_model,tflite,onnx --quantize=none,float16,dynamic_int8,int8 \
        --input_size=256 --representative_dir=dataset/face_256/photo

Each written file is run on check images and compared with the Keras generator; its size and its
largest, 99.9th-percentile and mean difference are printed. A file whose 99.9th percentile or mean
is past its tolerance (see docs/export.md) fails the run and is not written; earlier exports are
never harmed. A file or folder in output_dir under an output's name is replaced only if export.py
wrote it and it is unchanged since (recorded in output_dir/.export_outputs.json), or with
--overwrite; otherwise the run stops before converting anything and names it
(animegan_face/deployment/outputs.py). Leftovers of a killed export (*.partial*, *.old) are removed
only when that record says export.py started them; others are named and left alone. output_dir/export_manifest.json records where
the files came from (`animegan_face.deployment.provenance`): the source weights and their sha256, the training
run's config and progress, the extractor weights, the code and package versions, each file's sha256.
"""

import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

flags.DEFINE_string("model_dir", None, "A training model_dir (generator.weights.h5) or a .weights.h5/.keras file.")
flags.DEFINE_string("output_dir", None, "Where the exports go.")
flags.DEFINE_list("formats", ["saved_model", "tflite"], "saved_model, tflite and/or onnx.")
flags.DEFINE_list("quantize", ["none", "float16"], "TFLite variants: none, float16, dynamic_int8, int8.")
flags.DEFINE_integer("input_size", 0, "Fixed square input size (multiple of 4); 0: any size "
                     "(int8 needs a fixed size).")
flags.DEFINE_string("representative_dir", "", "Photo folder for int8 calibration and the checks.")
flags.DEFINE_integer("check_images", 4, "Images the exported files are checked on.")
flags.DEFINE_bool("overwrite", False, "Replace whatever is in output_dir under the outputs' "
                  "names (a file, a folder or a link, never what a link points to) that export.py "
                  "did not write, or that was changed since. Other files, even ones named like "
                  "export.py's temporary *.partial* and *.old names, are never removed.")
flags.mark_flags_as_required(["model_dir", "output_dir"])
FLAGS = flags.FLAGS


def _validate():
    from animegan_face.deployment.export import FORMATS, QUANTIZATIONS

    for name, values, allowed in (("formats", FLAGS.formats, FORMATS),
                                  ("quantize", FLAGS.quantize, QUANTIZATIONS)):
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise app.UsageError(f"--{name}: unknown {unknown}; choose from {list(allowed)}")
    if FLAGS.input_size % 4 or FLAGS.input_size < 0:
        raise app.UsageError(f"--input_size: must be 0 or a multiple of 4, got {FLAGS.input_size}")
    if "tflite" in FLAGS.formats and "int8" in FLAGS.quantize:
        if not FLAGS.input_size:
            raise app.UsageError("--quantize=int8 needs a fixed --input_size")
        if not FLAGS.representative_dir:
            raise app.UsageError("--quantize=int8 needs --representative_dir (calibration photos)")
    if FLAGS.representative_dir and not os.path.isdir(FLAGS.representative_dir):
        raise app.UsageError(f"--representative_dir: no such folder: {FLAGS.representative_dir}")
    # Files and folders at fault: one line naming them, as for every other bad input.
    if not os.path.exists(FLAGS.model_dir):
        sys.exit(f"export.py: --model_dir: not found: {FLAGS.model_dir}")
    from animegan_face.data.image_files import check_writable_folder

    try:  # before hours of conversion, not at the first write
        check_writable_folder(FLAGS.output_dir)
    except OSError as error:
        sys.exit(f"export.py: --output_dir: {error}")
    from animegan_face.deployment import export
    from animegan_face.deployment.provenance import MANIFEST

    kinds = [kind for kind in ("saved_model", "onnx") if kind in FLAGS.formats]
    kinds += FLAGS.quantize if "tflite" in FLAGS.formats else []
    size = FLAGS.input_size or None
    names = [export.output_name(kind, size) for kind in kinds] + [MANIFEST]
    owned = export.owned_outputs(FLAGS.output_dir)
    refusals = [] if FLAGS.overwrite else [owned.refusal(os.path.join(FLAGS.output_dir, name))
                                           for name in names]
    # The names written before the final ones: a user's file there is never removed, even with
    # --overwrite (which replaces what is under the outputs' own names only).
    refusals += [export.taken_by_others(path, owned) for kind in kinds
                 for path in export.temporary_paths(FLAGS.output_dir, kind, size)]
    if any(refusals):
        sys.exit("export.py: --output_dir: " + "; ".join(filter(None, refusals)))


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)
    _validate()
    from animegan_face.data.image_files import printable
    from animegan_face.deployment import export, provenance
    from animegan_face.deployment.inference import KerasStylizer, ModelLoadError, load_stylizer

    try:
        stylizer = load_stylizer(FLAGS.model_dir)
    except (ModelLoadError, FileNotFoundError) as error:
        sys.exit(f"export.py: {error}")
    if not isinstance(stylizer, KerasStylizer):
        sys.exit(f"export.py: {FLAGS.model_dir} is already an export; give a model_dir or Keras weights")
    generator = stylizer.generator
    source = provenance.source_record(FLAGS.model_dir)
    warning = provenance.random_extractor_warning(source)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    output_dir = pathlib.Path(FLAGS.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    owned = export.owned_outputs(output_dir)
    removed, kept = export.remove_partial_leftovers(output_dir, owned)
    for name in removed:
        print(f"removed {printable(name)}, left by an export that was killed", file=sys.stderr)
    for name in kept:
        print(f"warning: {printable(name)} looks like a leftover of a killed export, but "
              f"export.py's record ({export.RECORD}) does not say it wrote it: left as it is",
              file=sys.stderr)
    check_size = FLAGS.input_size or 256
    photos = export.check_photos(FLAGS.representative_dir, check_size, FLAGS.check_images)
    representative = (export.check_photos(FLAGS.representative_dir, check_size, 100)
                      if "int8" in FLAGS.quantize else None)

    print(f"| file | MiB | max diff | p{export.PERCENTILE:g} diff | mean diff | "
          f"tolerance p{export.PERCENTILE:g} / mean |")
    print("| --- | --- | --- | --- | --- | --- |")
    failures, entries = [], []
    jobs = []
    if "saved_model" in FLAGS.formats:
        jobs.append(lambda: export.export_saved_model(
            generator, output_dir, photos, FLAGS.input_size or None, owned=owned))
    if "tflite" in FLAGS.formats:
        for quantize in FLAGS.quantize:
            jobs.append(lambda q=quantize: export.export_tflite(
                generator, output_dir, q, photos, FLAGS.input_size or None, representative, owned))
    if "onnx" in FLAGS.formats:
        jobs.append(lambda: export.export_onnx(
            generator, output_dir, photos, FLAGS.input_size or None, owned=owned))
    for job in jobs:
        try:
            result = job()
        except (export.ExportDriftError, ValueError) as error:
            failures.append(str(error))
            print(f"FAILED: {error}", file=sys.stderr, flush=True)
            continue
        print(result.row(), flush=True)
        entries.append(provenance.export_entry(result, FLAGS.input_size or None))
    if entries:
        manifest = provenance.write_manifest(output_dir, source, provenance.software_record(), entries,
                                             owned)
        print(f"provenance: {manifest}")
    if failures:
        sys.exit(f"export.py: {len(failures)} export(s) failed; the others were written")


if __name__ == "__main__":
    app.run(main)
