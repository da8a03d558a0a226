"""Face mode before and after alignment: turned heads, and the seam around the pasted face.

    python bench/face_alignment.py                 # the astronaut photo and a 2x2 group of it
    python bench/face_alignment.py --photo_dir=../shared/data/selfie2anime/photo \
        --holdout=checkpoints/selfie2anime_v2/holdout_photos.txt --count=40   # and held-out selfies
    python bench/face_alignment.py --figure=docs/face_mode_before_after.jpg \
        --group_figure=docs/face_mode_group.jpg --figure_only

Each photo is stylised by face mode three ways, with the same detections (face_finder) and model:
  square (before)      the axis-aligned square around dlib's box (margin 0.6), pasted back
                       through a feathered square (face mode until this change);
  square, margin 0.25  the same at the new framing (on close-up selfies the 0.6 square covers
                       the whole photo, leaving no seam in it to measure);
  aligned (after)      warped to the canonical framing (eyes level, margin 0.25), pasted back
                       through the feathered head mask (face_paste.stylize_aligned).
Turned heads: the photo is turned by --angles (degrees) on a larger canvas, stylised, and turned
back; printed are skin dE00 (evaluation.metrics.skin_delta_e on the upright photo's dlib box) and
SSIM (over the box widened by half its size) of that result against the upright photo's result.
Lower dE00 and higher SSIM: the turned head came out as the upright one did.
Seam: the pasted face's mask is cut into 32 sectors around the face; in each, the mean colour
just inside the soft edge (mask 0.9..0.99) is compared with the mean just outside it
(0.01..0.1) by CIEDE2000, in the output and in the photo at the same places. "step" is the
output's mean step, "excess" the output's step minus the photo's, "added step" the mean over
sectors of the output's step minus the photo's where positive: what the paste added.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from animegan_face.data import face_alignment, face_finder, faces  # noqa: E402
from animegan_face.data.image_files import (  # noqa: E402
    from_uint8, image_grid, read_image, to_uint8, write_image)
from animegan_face.deployment import face_paste, stylize  # noqa: E402
from animegan_face.deployment.inference import SHIPPED_TFLITE, load_stylizer  # noqa: E402
from animegan_face.deployment.provenance import model_image_size  # noqa: E402
from animegan_face.evaluation import metrics  # noqa: E402
from bench import face_sets  # noqa: E402

flags.DEFINE_string("model", str(SHIPPED_TFLITE), "The generator (default: the shipped one).")
flags.DEFINE_string("photo_dir", "", "Folder of the held-out selfies (optional).")
flags.DEFINE_string("holdout", "", "Their name list (holdout_photos.txt).")
flags.DEFINE_integer("count", 40, "How many held-out selfies: the first of the list in which "
                     "face mode finds a face (the others are skipped and counted).")
flags.DEFINE_list("angles", ["20", "35"], "Head turns to measure, degrees (empty: the seam only).")
flags.DEFINE_integer("image_size", 0, "Face crop size; 0: the model's training size.")
flags.DEFINE_string("figure", "", "Also write the README's figure here (.jpg or .png): the "
                    "astronaut, turned by 35 degrees, and as a 2x2 group; photo | face mode before "
                    "this change (every dlib box, squares) | face mode now.")
flags.DEFINE_string("group_figure", "", "Also write this figure: three public-domain people "
                    "in one picture (face_sets.group), top to bottom photo | face mode before | "
                    "face mode now.")
flags.DEFINE_bool("verbose", False, "Print the seam of every photo.")
flags.DEFINE_bool("figure_only", False, "Write --figure and measure nothing.")
FLAGS = flags.FLAGS

METHODS = {"square (before)": dict(face_crop="square", margin=0.6),
           "square, margin 0.25": dict(face_crop="square", margin=0.25),
           "aligned (after)": dict(face_crop="aligned")}
_SECTORS = 32


def turned_back_result(stylizer, rgb, options, degrees):
    """Stylise ``rgb`` turned by ``degrees``, turn the result back to ``rgb``'s frame. Returns
    (image, faces found in the turned photo)."""
    height, width = rgb.shape[:2]
    turned = face_sets.rotate_whole(rgb, degrees)
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    matrix[:, 2] += ((turned.shape[1] - width) / 2, (turned.shape[0] - height) / 2)
    result = stylize.stylize_image(stylizer, turned, options)
    back = cv2.warpAffine(result.image, matrix, (width, height),
                          flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP)
    return back, result.faces


def paste_alpha(rgb, options, size):
    """The paste mask of face mode in ``rgb``'s pixels, in [0, 1] (all faces)."""
    canvas = np.zeros_like(rgb)
    white = lambda crop: np.full_like(crop, 255)
    for face in face_finder.find_faces(rgb, upsample=options.upsample):
        if options.face_crop == "aligned":
            # The mask itself: stylize_aligned would bring a white crop's edge to the photo's colour.
            matrix = face_alignment.alignment_matrix(face.landmarks, size, options.margin)
            face_paste.paste_warped(canvas, np.full((size, size, 3), 255, np.uint8),
                                    face_paste.aligned_paste_mask(face.landmarks, matrix, size),
                                    matrix)
        else:
            face_paste.stylize_square(white, rgb, canvas, face.box, size, options.margin,
                                      options.feather)
    return canvas[..., 0].astype(np.float32) / 255


def seam_steps(photo, output, alpha):
    """(output's mean colour step across the mask edge, the photo's at the same places, the mean
    over sectors of max(0, output's step - photo's): the step the paste added), dE00. In the
    signed difference of the first two, a sector where the stylised face lowers the photo's own
    step (a dark hair line lightened) cancels a seam in another; the third counts only seams."""
    inner = (alpha >= 0.9) & (alpha < 0.99)
    outer = (alpha > 0.01) & (alpha <= 0.1)
    rows, columns = np.nonzero(alpha > 0.5)
    if not len(rows):
        return float("nan"), float("nan"), float("nan")
    centre_y, centre_x = rows.mean(), columns.mean()
    y, x = np.indices(alpha.shape)
    sector = ((np.arctan2(y - centre_y, x - centre_x) + np.pi) / (2 * np.pi) * _SECTORS).astype(int)
    sector = np.minimum(sector, _SECTORS - 1)
    steps = {"output": [], "photo": []}
    lab = {"output": metrics.srgb_to_lab(output), "photo": metrics.srgb_to_lab(photo)}
    for index in range(_SECTORS):
        here_in, here_out = inner & (sector == index), outer & (sector == index)
        if here_in.sum() < 5 or here_out.sum() < 5:  # the edge left the image here
            continue
        for name, image in lab.items():
            steps[name].append(float(metrics.ciede2000(image[here_in].mean(axis=0),
                                                       image[here_out].mean(axis=0))))
    if not steps["output"]:
        return float("nan"), float("nan"), float("nan")
    output_steps, photo_steps = np.array(steps["output"]), np.array(steps["photo"])
    return (float(output_steps.mean()), float(photo_steps.mean()),
            float(np.maximum(output_steps - photo_steps, 0).mean()))


def face_mode_before(stylizer, rgb, size):
    """Face mode as it was before this change: every dlib HOG box (no landmark check), square
    crop at margin 0.6, feathered square paste."""
    canvas = rgb.copy()
    for box in faces.detect_faces(rgb, upsample=1):
        face_paste.stylize_square(lambda crop: to_uint8(stylizer(from_uint8(crop[None]))[0]),
                                  rgb, canvas, box, size, margin=0.6, feather=0.15)
    return canvas


def write_figure(path, stylizer, size, side=384):
    """Rows: the astronaut's head, the same turned by 35 degrees, a 2x2 group of her; columns:
    photo, face mode before this change (``face_mode_before``), face mode now."""
    astronaut = read_image(face_sets.ASTRONAUT)
    turned = face_sets.rotate_whole(astronaut, 35)
    group = face_sets.make_image(astronaut, {"make": "tiled"})
    after = stylize.StylizeOptions(image_size=size)
    # Head regions: 320 px squares around the face (224, 127), moved with the turn.
    matrix = cv2.getRotationMatrix2D((256, 256), 35, 1.0)
    matrix[:, 2] += ((turned.shape[1] - 512) / 2, (turned.shape[0] - 512) / 2)
    turned_x, turned_y = (matrix @ np.array([224.0, 127.0, 1.0])).round().astype(int)
    cuts = [(slice(0, 320), slice(64, 384)),
            (slice(turned_y - 150, turned_y + 170), slice(turned_x - 160, turned_x + 160)),
            (slice(None), slice(None))]
    photos = [astronaut, turned, group]
    columns = [photos,
               [face_mode_before(stylizer, photo, size) for photo in photos],
               [stylize.stylize_image(stylizer, photo, after).image for photo in photos]]
    columns = [[cv2.resize(image[cut], (side, side), interpolation=cv2.INTER_AREA)
                for image, cut in zip(column, cuts)] for column in columns]
    write_image(path, image_grid(columns), quality=90)
    print(f"wrote {path} (rows: astronaut, turned 35 deg, 2x2 group; columns: photo | "
          "face mode before | face mode now)")


def write_group_figure(path, stylizer, size, width=960):
    """Top to bottom: ``face_sets.group``, face mode before this change, face mode now."""
    group = face_sets.group(read_image(face_sets.ASTRONAUT))
    rows = [group, face_mode_before(stylizer, group, size),
            stylize.stylize_image(stylizer, group, stylize.StylizeOptions(image_size=size)).image]
    height = round(group.shape[0] * width / group.shape[1])
    write_image(path, image_grid([[cv2.resize(row, (width, height), interpolation=cv2.INTER_AREA)
                                   for row in rows]]), quality=90)
    print(f"wrote {path} (top to bottom: photo | face mode before | face mode now)")


def _photos():
    """(label, rgb) of the astronaut, its group, then the held-out selfies in list order, read
    one at a time (main stops after --count of them with a face)."""
    astronaut = read_image(face_sets.ASTRONAUT)
    yield "astronaut", astronaut
    yield "astronaut group (2x2)", face_sets.make_image(astronaut, {"make": "tiled"})
    yield "astronaut three people", face_sets.group(astronaut)
    if FLAGS.photo_dir:
        for path in face_sets.holdout_selfies(FLAGS.photo_dir, FLAGS.holdout):
            yield path.name, read_image(path)


def main(argv):
    del argv
    stylizer = load_stylizer(FLAGS.model)
    size = FLAGS.image_size or model_image_size(FLAGS.model)
    options = {name: stylize.StylizeOptions(image_size=size, **settings)
               for name, settings in METHODS.items()}
    if FLAGS.figure:
        write_figure(FLAGS.figure, stylizer, size)
    if FLAGS.group_figure:
        write_group_figure(FLAGS.group_figure, stylizer, size)
    if FLAGS.figure or FLAGS.group_figure:
        if FLAGS.figure_only:
            return
    angles = [float(angle) for angle in FLAGS.angles]
    turns = {(name, angle): [] for name in METHODS for angle in angles}
    seams = {name: [] for name in METHODS}
    missed = {(name, angle): 0 for name in METHODS for angle in angles}
    used = given = selfies = 0
    for label, rgb in _photos():
        is_selfie = not label.startswith("astronaut")
        if is_selfie and selfies >= FLAGS.count:
            break
        given += 1
        found = face_finder.find_faces(rgb)
        if not found:
            continue
        used += 1
        selfies += is_selfie
        box = found[0].box
        pad_y, pad_x = box.height // 2, box.width // 2
        region = (slice(max(0, box.top - pad_y), box.bottom + pad_y),
                  slice(max(0, box.left - pad_x), box.right + pad_x))
        for name, option in options.items():
            upright = stylize.stylize_image(stylizer, rgb, option).image
            seams[name].append(seam_steps(rgb, upright, paste_alpha(rgb, option, size)))
            for angle in angles:
                back, faces_found = turned_back_result(stylizer, rgb, option, angle)
                if faces_found == 0:
                    missed[(name, angle)] += 1
                turns[(name, angle)].append((metrics.skin_delta_e(upright, back, box),
                                             metrics.ssim(upright[region], back[region])))
        if label.startswith("astronaut") or FLAGS.verbose:
            print(f"{label}: seam step / photo step / added step: " + ", ".join(
                f"{name} {seams[name][-1][0]:.2f} / {seams[name][-1][1]:.2f} / "
                f"{seams[name][-1][2]:.2f}" for name in METHODS), flush=True)
    print(f"\n{used} photos with a face ({given} given), model {FLAGS.model}, crops {size} px")
    if angles:
        print("\nTurned heads against the upright result (mean over photos):")
        print("| method | turn | skin dE00 | SSIM | photos where the turned face was missed |")
        print("| --- | --- | --- | --- | --- |")
    for (name, angle), values in turns.items():
        values = np.array(values)
        print(f"| {name} | {angle:g} deg | {values[:, 0].mean():.2f} | {values[:, 1].mean():.3f} "
              f"| {missed[(name, angle)]} |")
    # A method whose mask edge lies wholly outside a photo has no seam there to measure.
    print("\nSeam across the mask edge (dE00; means over the photos where the method's mask "
          "edge lies in the image):")
    print("| method | photos | output step | photo step | excess | largest excess | "
          "aligned's excess lower on | added step | largest added | aligned's added lower on |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    aligned = np.array(seams["aligned (after)"])
    for name, values in seams.items():
        values = np.array(values)
        ok = np.isfinite(values).all(axis=1)
        excess = values[ok, 0] - values[ok, 1]
        both = ok & np.isfinite(aligned).all(axis=1)
        lower = int(np.sum((aligned[both, 0] - aligned[both, 1])
                           < (values[both, 0] - values[both, 1])))
        added_lower = int(np.sum(aligned[both, 2] < values[both, 2]))
        print(f"| {name} | {int(ok.sum())} | {values[ok, 0].mean():.2f} | {values[ok, 1].mean():.2f} "
              f"| {excess.mean():.2f} | {excess.max():.2f} | {lower} of {int(both.sum())} "
              f"| {values[ok, 2].mean():.2f} | {values[ok, 2].max():.2f} "
              f"| {added_lower} of {int(both.sum())} |")

if __name__ == "__main__":
    app.run(main)
