"""Pseudo-pair targets: a supervised signal for unpaired training (issue 24).

The clean public face models had one: face_paint was trained on pairs (photo -> an anime target
made by StyleGAN network blending, with pix2pix losses), and AnimeGANv3 regresses a head onto a
cleaned copy of its own output. Here a model that already stylises (any format `load_stylizer`
reads: a run folder, .keras, SavedModel, TFLite, ONNX) makes, once per training photo p,

    T(p) = flatten(model(p))

where `flatten` is OpenCV's edge-preserving filter (the domain transform, a recursive filter no
export format runs) applied to a contrast-stretched copy: skin texture, pores and shading noise
are averaged away, outlines, eyes and mouth are kept. The plain filter's `sigma_r` is absolute, so
on dark, low-contrast faces it erased the eyes and mouth (seen on held-out faces); stretching the
1st..99th luminance percentiles to 0..255 first makes it relative to each image's contrast.
Training pulls G(p) towards T(p) (`LossConfig.pair`), so the generator itself learns the
flattening and every export carries it.

Two optional clean-ups work on the skin only (the photo's face landmarks give the mask,
`face_regions.photo_skin_mask`; eyes, brows and lips are outside it): `skin_line_depth` removes
thin dark lines that the GAN draws across skin (the "cracks" of the stylised end: a 7 px
black-hat of luminance deeper than that many levels, inpainted) and `skin_flatness` pulls the
skin that fraction of the way to a heavily smoothed copy (anime skin is one or two flat tones).

Files, written only by `write_pairs`: DATASET/pair/<photo stem>.png (lossless) for every photo in
DATASET/photo, and DATASET/pair.json (the model, the filter settings and the files written). A
pair/ folder holding a file that pair.json does not list is refused; a run with the same model
and settings continues where an interrupted one stopped.
"""

import json
import pathlib

import cv2
import numpy as np

from animegan_face.data.face_regions import photo_skin_mask
from animegan_face.data.image_files import (list_images, printable, read_image, write_file_atomic,
                                            write_image)
from animegan_face.data.pipeline import PAIR_FILE, PAIR_FOLDER, pair_path, read_pair_settings
from animegan_face.deployment.stylize import stylize_full

# The filter at 256 px (its spatial sigma scales with the image side). 30 / 0.3 gave the best KID of
# the filters measured after the stylised end on the held-out photos (model card, "Filters after
# the generator").
SIGMA_S = 30.0
SIGMA_R = 0.3
_STRETCH_PERCENTILES = (1, 99)
_OFF = {"skin_line_depth": 0, "skin_flatness": 0.0}


def flatten(rgb, sigma_s=SIGMA_S, sigma_r=SIGMA_R):
    """The edge-preserving filter on a contrast-stretched copy of `rgb` (uint8 H x W x 3), mapped
    back to the original range; `sigma_s` is in pixels at a 256 px side and scales with the side."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    low, high = np.percentile(gray, _STRETCH_PERCENTILES)
    scale = 255.0 / max(float(high - low), 1.0)
    stretched = np.clip((rgb.astype(np.float32) - low) * scale, 0, 255).astype(np.uint8)
    side_scale = min(rgb.shape[:2]) / 256
    filtered = cv2.edgePreservingFilter(
        stretched, flags=cv2.RECURS_FILTER, sigma_s=sigma_s * side_scale, sigma_r=sigma_r)
    return np.clip(filtered.astype(np.float32) / scale + low, 0, 255).round().astype(np.uint8)


def remove_skin_lines(rgb, skin, depth, width=7):
    """`rgb` (uint8) with the thin dark lines inside the boolean `skin` mask inpainted: pixels whose
    luminance lies more than `depth` levels under its `width` px closing (a black-hat: lines
    narrower than `width`), grown by one pixel."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))
    lines = (cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, kernel) > depth) & skin
    lines = cv2.dilate(lines.astype(np.uint8) * 255, np.ones((3, 3), np.uint8))
    return cv2.inpaint(rgb, lines, 3, cv2.INPAINT_TELEA)


def flatten_skin(rgb, skin, amount):
    """`rgb` (uint8) pulled `amount` (0..1) of the way to a heavily smoothed copy inside the
    feathered `skin` mask; unchanged outside it. Spatial extent 60 px at a 256 px side."""
    heavy = cv2.edgePreservingFilter(rgb, flags=cv2.RECURS_FILTER,
                                     sigma_s=60 * min(rgb.shape[:2]) / 256, sigma_r=0.8)
    weight = cv2.GaussianBlur(skin.astype(np.float32), (0, 0), 4)[..., None] * amount
    return np.clip(rgb * (1 - weight) + heavy * weight, 0, 255).round().astype(np.uint8)


def make_target(photo, stylised, sigma_s=SIGMA_S, sigma_r=SIGMA_R, skin_line_depth=0,
                skin_flatness=0.0):
    """The target of one photo (uint8 RGB, the size of `stylised`, the model's output): the skin
    clean-ups where they are on and a face is found, then `flatten`."""
    if skin_line_depth or skin_flatness:
        skin = photo_skin_mask(photo)
        if skin is not None:
            if skin_line_depth:
                stylised = remove_skin_lines(stylised, skin, skin_line_depth)
            if skin_flatness:
                stylised = flatten_skin(stylised, skin, skin_flatness)
    return flatten(stylised, sigma_s, sigma_r)


def write_pairs(dataset_dir, stylizer, model, sigma_s=SIGMA_S, sigma_r=SIGMA_R, progress=None,
                skin_line_depth=0, skin_flatness=0.0):
    """Writes the target of every photo of DATASET/photo; returns the number written this call.

    Args:
        dataset_dir: a prepared dataset (prepare.py).
        stylizer: a `load_stylizer` result: float images in [-1, 1] in and out.
        model: how the model is named in pair.json (its path).
        sigma_s, sigma_r: `flatten`'s settings.
        skin_line_depth, skin_flatness: `make_target`'s skin clean-ups (0: off).
        progress: called with (done, total) after each photo, or None.
    Raises ValueError when DATASET/photo holds no image, or pair/ holds files this tool did not
    write, or pair.json records other settings (delete pair/ and pair.json to make new targets).
    """
    root = pathlib.Path(dataset_dir)
    photos = list_images(root / "photo")
    if not photos:
        raise ValueError(f"{printable(root / 'photo')} holds no images: prepare the dataset first")
    settings = {"model": str(model), "sigma_s": sigma_s, "sigma_r": sigma_r,
                "stretch_percentiles": list(_STRETCH_PERCENTILES),
                "skin_line_depth": skin_line_depth, "skin_flatness": skin_flatness}
    names = sorted(pair_path(root, photo).name for photo in photos)
    earlier = read_pair_settings(root)
    if earlier is not None:
        # pair.json files written before the skin clean-ups existed had them off
        if {k: earlier.get(k, _OFF.get(k)) for k in settings} != settings:
            raise ValueError(
                f"{printable(root / PAIR_FILE)} records other settings ({earlier.get('model')}, "
                f"sigma_s {earlier.get('sigma_s')}, sigma_r {earlier.get('sigma_r')}, skin_line_depth "
                f"{earlier.get('skin_line_depth', 0)}, skin_flatness "
                f"{earlier.get('skin_flatness', 0.0)}): delete it "
                f"and {PAIR_FOLDER}/ to make new targets")
        owned = set(earlier.get("files", ()))
    else:
        owned = set()
    folder = root / PAIR_FOLDER
    foreign = sorted(p.name for p in folder.iterdir() if p.name not in owned) if folder.is_dir() else []
    if foreign:
        raise ValueError(f"{printable(folder)} holds files make_pairs.py did not write "
                         f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}): "
                         "move them away or choose another dataset folder")
    # Claimed before writing: a killed run still owns what it wrote, and the next run continues.
    _write_settings(root, {**settings, "complete": False, "files": sorted(owned | set(names))})
    written = 0
    for done, photo in enumerate(photos, 1):
        target = pair_path(root, photo)
        if target.name not in owned or not target.is_file():
            rgb = read_image(photo)
            write_image(target, make_target(rgb, stylize_full(stylizer, rgb, max_side=0),
                                            sigma_s, sigma_r, skin_line_depth, skin_flatness))
            written += 1
        if progress:
            progress(done, len(photos))
    for stale in sorted(owned - set(names)):  # targets of photos no longer in the dataset
        (folder / stale).unlink(missing_ok=True)
    _write_settings(root, {**settings, "complete": True, "files": names})
    return written


def _write_settings(root, settings):
    write_file_atomic(root / PAIR_FILE, (json.dumps(settings, indent=1) + "\n").encode(), fsync=True)
