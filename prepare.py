"""Prepares a training folder from a folder of face photos and a folder of anime images.

    python prepare.py --photo_dir=dataset/selfie/photo --anime_dir=dataset/selfie/anime \
        --output_dir=dataset/selfie_256

See animegan_face/data/preparation.py for the output layout. prepare.py writes only into
photo/, anime/ and smooth/ of --output_dir and the three JSON files beside them; it refuses an
output folder holding files it did not write (its manifest, prepare_manifest.json, lists its own).

Exit status: 0 when every input image was prepared; 3 when some were skipped (each listed with its
reason); 1 on an error (no readable image, a foreign file in the output folder, ...).
"""

import pathlib
import sys

from absl import app
from absl import flags

from animegan_face.data import face_alignment, preparation
from animegan_face.data.image_files import EXIT_SOME_SKIPPED, printable, read_name_list

flags.DEFINE_string("photo_dir", None, "Folder of real face photos (any size/format).")
flags.DEFINE_string("anime_dir", None, "Folder of anime images (any size/format).")
flags.DEFINE_string(
    "output_dir", None, "Folder to write photo/, anime/, smooth/, faces.json into.")
flags.DEFINE_integer("image_size", 256, "Side of the square outputs.", lower_bound=8)
flags.DEFINE_bool(
    "crop_faces", False, "Write one aligned face crop (eyes level, as stylize.py's face mode) "
    "per detected face instead of the centre crop.")
flags.DEFINE_float(
    "face_margin", face_alignment.DEFAULT_MARGIN,
    "Crop margin on each side, as a fraction of the face size; 0.25 frames "
    "faces as the selfie2anime photos are, and as stylize.py's default.", lower_bound=0)
flags.DEFINE_integer(
    "upsample", 1, "Face detector upsamplings (each finds 2x smaller faces, 4x slower).",
    lower_bound=0)
flags.DEFINE_integer(
    "num_workers", None, "Worker processes (default: number of CPUs).", lower_bound=1)
flags.DEFINE_bool("force", False, "Redo the work even if the output is up to date.")
flags.DEFINE_float(
    "max_megapixels", 50, "Images whose header declares more pixels are skipped before decoding "
    "(a guard against decompression bombs).", lower_bound=0.001)
flags.DEFINE_string(
    "exclude_list", None, "A text file of photo file names (one per line, # comments) to leave "
    "out, e.g. a held-out evaluation set.")
flags.DEFINE_integer(
    "photo_sample", None, "Prepare only this many photos: a seeded random sample (--sample_seed) "
    "of the names left after --exclude_list, the same on any machine.", lower_bound=1)
flags.DEFINE_integer("sample_seed", 0, "Seed of --photo_sample's draw.")

flags.mark_flags_as_required(["photo_dir", "anime_dir", "output_dir"])
FLAGS = flags.FLAGS
for _name in ("photo_dir", "anime_dir"):
    flags.register_validator(
        _name, lambda value: value is None or pathlib.Path(value).is_dir(),
        message=f"--{_name} must be an existing folder")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        excluded = read_name_list(FLAGS.exclude_list) if FLAGS.exclude_list else ()
        report = preparation.prepare_dataset(
            FLAGS.photo_dir, FLAGS.anime_dir, FLAGS.output_dir,
            image_size=FLAGS.image_size, crop_faces=FLAGS.crop_faces,
            face_margin=FLAGS.face_margin, upsample=FLAGS.upsample,
            num_workers=FLAGS.num_workers, force=FLAGS.force, exclude_photos=excluded,
            photo_sample=FLAGS.photo_sample, sample_seed=FLAGS.sample_seed,
            max_pixels=round(FLAGS.max_megapixels * 1e6))
    except (ValueError, OSError) as error:
        raise SystemExit(f"prepare.py: {printable(str(error))}") from error
    print(report.summary())
    sys.exit(EXIT_SOME_SKIPPED if report.skipped else 0)


if __name__ == "__main__":
    app.run(main)
