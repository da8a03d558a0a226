"""Converts a published AnimeGANv2 PyTorch generator (bryandlee/animegan2-pytorch's `.pt` files,
e.g. `face_paint_512_v2.pt`) into this project's Keras AnimeGANv2 generator.

    python convert_weights.py --torch_weights=face_paint_512_v2.pt \
        --output=models/face_paint_512_v2.weights.h5
    python stylize.py --model=models/face_paint_512_v2.weights.h5 --image_size=512 --input=me.jpg ...
    python export.py --model_dir=models/face_paint_512_v2.weights.h5 --output_dir=exports/face_paint

Needs PyTorch to read the file (`pip install torch`, the CPU build is enough). Every tensor must
find its Keras variable with the same shape, or nothing is written. Beside the output goes
OUTPUT.source.json (the source file and its sha256), which export.py copies into its manifest.
The weights keep their authors' licence.
"""

import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

flags.DEFINE_string("torch_weights", None, "A PyTorch state dict of the AnimeGANv2 generator (.pt).")
flags.DEFINE_string("output", None, "The Keras weights file to write (ends in .weights.h5).")
flags.mark_flags_as_required(["torch_weights", "output"])
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    source, output = pathlib.Path(FLAGS.torch_weights), pathlib.Path(FLAGS.output)
    if not output.name.endswith(".weights.h5"):
        raise app.UsageError(f"--output: must end in .weights.h5, got {output}")
    if not source.is_file():
        sys.exit(f"convert_weights.py: --torch_weights: not found: {source}")
    from animegan_face.data.image_files import check_writable_folder

    try:
        check_writable_folder(output.parent)
    except OSError as error:
        sys.exit(f"convert_weights.py: --output: {error}")

    import numpy as np

    from animegan_face.data.demo_data import demo_photos
    from animegan_face.data.image_files import from_uint8, save_weights_atomic
    from animegan_face.deployment import provenance
    from animegan_face.models import animeganv2_weights
    from animegan_face.models.networks import build_generator

    try:
        state_dict = animeganv2_weights.read_torch_state_dict(source)
        generator = build_generator("animegan_v2")
        tensors = animeganv2_weights.load_state_dict(generator, state_dict)
    except animeganv2_weights.ConversionError as error:
        sys.exit(f"convert_weights.py: {source}: {error}")
    # A converted generator that yields NaN or a constant image is not worth writing.
    photos = from_uint8(np.stack(demo_photos(2, 256)))
    stylised = np.asarray(generator(photos))
    if not np.isfinite(stylised).all() or float(stylised.std()) < 1e-3:
        sys.exit(f"convert_weights.py: {source}: the converted generator gives "
                 f"{'non-finite' if not np.isfinite(stylised).all() else 'constant'} images")
    output.parent.mkdir(parents=True, exist_ok=True)
    save_weights_atomic(generator, output)
    provenance.write_conversion_record(output, source, "animegan_v2", tensors)
    parameters = sum(int(np.prod(w.shape)) for w in generator.weights)
    print(f"{source}: {tensors} tensors, {parameters:,} parameters -> {output} "
          f"({output.stat().st_size / 2 ** 20:.1f} MiB) and {provenance.conversion_record_path(output)}")


if __name__ == "__main__":
    app.run(main)
