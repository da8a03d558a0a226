"""Pseudo-pair targets: a supervised signal for unpaired training (issue 24).

The clean public face models had one: face_paint was trained on pairs (photo -> an anime target
made by StyleGAN network blending, with pix2pix losses), and AnimeGANv3 regresses a head onto a
cleaned copy of its own output. Here a model that already stylises (any format `load_stylizer`
reads: a run folder, .keras, SavedModel, TFLite, ONNX) makes, once per training photo p,

    T(p) = flatten(model(p))

where `flatten` smooths a contrast-stretched copy with one of two filters (`TargetRecipe.smoothing`):
OpenCV's edge-preserving filter (the domain transform, a recursive filter no export format runs),
which averages skin texture, pores and shading noise away and keeps outlines, eyes and mouth; or
L0 gradient minimisation (Xu, Lu, Xu and Jia 2011), which leaves flat regions bounded by sharp
edges, the cel look, and drops every structure whose removal costs less than its edges: a thin
line is kept when its width times its squared contrast exceeds about twice `l0_lambda`. Both
filters' settings are absolute, so on dark, low-contrast faces they erased the eyes and mouth
(seen on held-out faces); stretching the 1st..99th luminance percentiles to 0..255 first makes
them relative to each image's contrast.
Training pulls G(p) towards T(p) (`LossConfig.pair`), so the generator itself learns the
flattening and every export carries it.

Two optional clean-ups work on the skin only (the photo's face landmarks give the mask,
`face_regions.photo_skin_mask`; eyes, brows and lips are outside it): `skin_line_depth` removes
thin dark lines that the GAN draws across skin (the "cracks" of the stylised end: a 7 px
black-hat of luminance deeper than that many levels, inpainted) and `skin_flatness` pulls the
skin that fraction of the way to a heavily smoothed copy (anime skin is one or two flat tones).
Two more act after the filter: `skin_colour` moves the skin's mean colour towards the photo's
(the thesis keeps skin tone; the stylised end warms and cools it; lightness `skin_lightness` as
far, since anime skin is lighter), and `line_strength` draws the
filtered picture's own XDoG lines, dark outlines along its region borders, which the anime set
has everywhere and the filtered targets lacked (KID of the targets 94.9 -> 79.2, model card).

Files, written only by `write_pairs`: DATASET/pair/<photo stem>.png (lossless) for every photo in
DATASET/photo, and DATASET/pair.json (the model, the filter settings and the files written). A
pair/ folder holding a file that pair.json does not list is refused; a run with the same model
and settings continues where an interrupted one stopped.
"""

import dataclasses
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
# L0 smoothing's weight of an edge pixel against squared error (0..1 scale, at a 256 px side).
L0_LAMBDA = 0.02
# Of the skin colour move (`pull_skin_colour`), the share applied to lightness: anime skin is
# lighter than a photo's and its shading comes from the drawing.
SKIN_LIGHTNESS = 0.5
SMOOTHINGS = ("edge_preserving", "l0")
_STRETCH_PERCENTILES = (1, 99)


@dataclasses.dataclass(frozen=True)
class TargetRecipe:
    """How a target is made from the model's output (recorded in pair.json)."""
    smoothing: str = "edge_preserving"  # one of SMOOTHINGS
    sigma_s: float = SIGMA_S  # edge_preserving: spatial extent, px at a 256 px side
    sigma_r: float = SIGMA_R  # edge_preserving: colour range, contrast-stretched 0..1 scale
    l0_lambda: float = L0_LAMBDA  # l0: edge weight at a 256 px side (larger: flatter)
    skin_line_depth: int = 0  # inpaint thin dark skin lines deeper than this (0: off)
    skin_flatness: float = 0.0  # pull skin this fraction towards a smoothed copy (0: off)
    skin_colour: float = 0.0  # after smoothing: move the skin's mean colour this fraction to the photo's
    skin_lightness: float = SKIN_LIGHTNESS  # of that move, the share applied to lightness
    line_strength: float = 0.0  # then draw the smoothed target's XDoG lines at this opacity (0: off)

    def __post_init__(self):
        if self.smoothing not in SMOOTHINGS:
            raise ValueError(f"smoothing {self.smoothing!r} is not one of {', '.join(SMOOTHINGS)}")


# A setting missing from a pair.json written before it existed meant its default (off, or the
# edge-preserving filter).
_BEFORE = dataclasses.asdict(TargetRecipe())


def flatten(rgb, sigma_s=SIGMA_S, sigma_r=SIGMA_R):
    """The edge-preserving filter on a contrast-stretched copy of `rgb` (uint8 H x W x 3), mapped
    back to the original range; `sigma_s` is in pixels at a 256 px side and scales with the side."""
    side_scale = min(rgb.shape[:2]) / 256
    return _on_stretched(rgb, lambda stretched: cv2.edgePreservingFilter(
        stretched, flags=cv2.RECURS_FILTER, sigma_s=sigma_s * side_scale, sigma_r=sigma_r))


def l0_flatten(rgb, l0_lambda=L0_LAMBDA):
    """`l0_smooth` on a contrast-stretched copy of `rgb` (uint8 H x W x 3), mapped back to the
    original range; `l0_lambda` is for a 256 px side and scales with the side (a line twice as
    wide at twice the size stays as costly to keep)."""
    side_scale = min(rgb.shape[:2]) / 256
    return _on_stretched(rgb, lambda stretched: l0_smooth(stretched, l0_lambda * side_scale))


def _on_stretched(rgb, smooth):
    """smooth(uint8 copy of `rgb` with its luminance 1st..99th percentiles stretched to 0..255),
    mapped back to the original range, uint8."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    low, high = np.percentile(gray, _STRETCH_PERCENTILES)
    scale = 255.0 / max(float(high - low), 1.0)
    stretched = np.clip((rgb.astype(np.float32) - low) * scale, 0, 255).astype(np.uint8)
    filtered = smooth(stretched)
    return np.clip(filtered.astype(np.float32) / scale + low, 0, 255).round().astype(np.uint8)


def l0_smooth(rgb, l0_lambda, kappa=2.0, beta_max=1e5):
    """L0 gradient minimisation of a uint8 image (Xu, Lu, Xu and Jia 2011, the authors' solver):
    minimises |S - I|^2 + lambda * #{pixels where S's gradient is not 0} by alternating a hard
    threshold of the gradients with a screened Poisson solve (FFT, periodic boundary), the
    coupling weight beta doubling from 2 lambda to `beta_max`. Colour channels share one edge set.
    Intensities on the 0..1 scale; float64 throughout. Returns uint8."""
    image = rgb.astype(np.float64) / 255.0
    height, width = image.shape[:2]
    forward_x = np.zeros((height, width)); forward_x[0, 0], forward_x[0, -1] = -1, 1
    forward_y = np.zeros((height, width)); forward_y[0, 0], forward_y[-1, 0] = -1, 1
    gradient_energy = (np.abs(np.fft.fft2(forward_x)) ** 2 + np.abs(np.fft.fft2(forward_y)) ** 2)
    gradient_energy = gradient_energy[..., None]
    image_spectrum = np.fft.fft2(image, axes=(0, 1))
    smooth, beta = image, 2 * l0_lambda
    while beta < beta_max:
        dx = np.roll(smooth, -1, axis=1) - smooth
        dy = np.roll(smooth, -1, axis=0) - smooth
        kept = (dx ** 2 + dy ** 2).sum(axis=-1, keepdims=True) >= l0_lambda / beta
        dx, dy = dx * kept, dy * kept
        # the adjoint of the forward differences applied to the kept gradients
        divergence = (np.roll(dx, 1, axis=1) - dx) + (np.roll(dy, 1, axis=0) - dy)
        spectrum = image_spectrum + beta * np.fft.fft2(divergence, axes=(0, 1))
        smooth = np.real(np.fft.ifft2(spectrum / (1 + beta * gradient_energy), axes=(0, 1)))
        beta *= kappa
    return np.clip(smooth * 255, 0, 255).round().astype(np.uint8)


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


def make_target(photo, stylised, recipe=TargetRecipe()):
    """The target of one photo (uint8 RGB, the size of `stylised`, the model's output): the skin
    clean-ups where they are on and a face is found, `flatten` or `l0_flatten`, the skin colour
    pulled towards the photo's (a face found), then the smoothed picture's own lines drawn."""
    skin = None
    if recipe.skin_line_depth or recipe.skin_flatness or recipe.skin_colour:
        skin = photo_skin_mask(photo)
    if skin is not None:
        if recipe.skin_line_depth:
            stylised = remove_skin_lines(stylised, skin, recipe.skin_line_depth)
        if recipe.skin_flatness:
            stylised = flatten_skin(stylised, skin, recipe.skin_flatness)
    if recipe.smoothing == "l0":
        smooth = l0_flatten(stylised, recipe.l0_lambda)
    else:
        smooth = flatten(stylised, recipe.sigma_s, recipe.sigma_r)
    target = smooth
    if skin is not None and recipe.skin_colour:
        target = pull_skin_colour(target, photo, skin, recipe.skin_colour, recipe.skin_lightness)
    if recipe.line_strength:
        target = draw_lines(target, xdog_lines(smooth), recipe.line_strength)
    return target


def pull_skin_colour(target, photo, skin, amount, lightness=SKIN_LIGHTNESS):
    """`target` (uint8 RGB) with the mean CIELAB colour of its `skin` pixels moved `amount` (0..1)
    of the way to the photo's skin mean, lightness by only `lightness` of that (anime skin is
    lighter than the photo's and its shading comes from the drawing); one shift for the whole
    skin, applied through the mask feathered by 6 px at a 256 px side, so the flat tones stay flat.
    The shipped model's cool casts and the stylised end's orange skin are what it corrects (skin
    ΔE00 of the targets 9.2 -> 7.2, model card)."""
    if not amount or not skin.any():
        return target
    target_lab = cv2.cvtColor(target, cv2.COLOR_RGB2LAB).astype(np.float32)
    photo_lab = cv2.cvtColor(photo, cv2.COLOR_RGB2LAB).astype(np.float32)
    shift = (photo_lab[skin].mean(axis=0) - target_lab[skin].mean(axis=0)) * amount
    shift[0] *= lightness
    weight = cv2.GaussianBlur(skin.astype(np.float32), (0, 0), 6 * min(target.shape[:2]) / 256)
    weight = np.minimum(1.5 * weight / max(float(weight.max()), 1e-6), 1.0)[..., None]
    # Shifted everywhere, then blended in RGB: pixels off the mask keep their exact values (a uint8
    # Lab round trip alone moves some by a level).
    moved = cv2.cvtColor(np.clip(target_lab + shift, 0, 255).round().astype(np.uint8),
                         cv2.COLOR_LAB2RGB)
    return (target * (1 - weight) + moved * weight).round().astype(np.uint8)


# XDoG (Winnemoeller, Kyprianidis and Olsen 2012) on the 0..1 luminance: sigma 1 px at a 256 px
# side, the second Gaussian 1.6 times wider, weighted 0.98; differences under -0.02 become lines
# with a soft tanh edge of slope 60. Thin: a line follows the smoothed target's region borders.
_XDOG_SIGMA, _XDOG_K, _XDOG_TAU, _XDOG_EPSILON, _XDOG_PHI = 1.0, 1.6, 0.98, -0.02, 60.0
LINE_COLOUR = (40, 20, 20)  # a dark warm brown, as anime outlines are drawn


def xdog_lines(rgb):
    """Line strength 0..1 (1: a full line) of a uint8 RGB picture: the dark side of its edges."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
    sigma = _XDOG_SIGMA * min(rgb.shape[:2]) / 256
    difference = (cv2.GaussianBlur(gray, (0, 0), sigma)
                  - _XDOG_TAU * cv2.GaussianBlur(gray, (0, 0), sigma * _XDOG_K))
    edge = np.where(difference >= _XDOG_EPSILON, 1.0,
                    1.0 + np.tanh(_XDOG_PHI * (difference - _XDOG_EPSILON)))
    return np.clip(1.0 - edge, 0.0, 1.0)


def draw_lines(rgb, lines, strength):
    """`rgb` (uint8) blended towards LINE_COLOUR by `lines` (0..1) times `strength`."""
    weight = (lines * strength)[..., None]
    return np.clip(rgb * (1 - weight) + np.array(LINE_COLOUR, np.float32) * weight,
                   0, 255).round().astype(np.uint8)


def write_pairs(dataset_dir, stylizer, model, recipe=TargetRecipe(), progress=None):
    """Writes the target of every photo of DATASET/photo; returns the number written this call.

    Args:
        dataset_dir: a prepared dataset (prepare.py).
        stylizer: a `load_stylizer` result: float images in [-1, 1] in and out.
        model: how the model is named in pair.json (its path).
        recipe: a `TargetRecipe`.
        progress: called with (done, total) after each photo, or None.
    Raises ValueError when DATASET/photo holds no image, or pair/ holds files this tool did not
    write, or pair.json records other settings (delete pair/ and pair.json to make new targets).
    """
    root = pathlib.Path(dataset_dir)
    photos = list_images(root / "photo")
    if not photos:
        raise ValueError(f"{printable(root / 'photo')} holds no images: prepare the dataset first")
    settings = {"model": str(model), **dataclasses.asdict(recipe),
                "stretch_percentiles": list(_STRETCH_PERCENTILES)}
    names = sorted(pair_path(root, photo).name for photo in photos)
    earlier = read_pair_settings(root)
    if earlier is not None:
        recorded = {k: earlier.get(k, _BEFORE.get(k)) for k in settings}
        if recorded != settings:
            differing = ", ".join(f"{k} {recorded[k]!r} (asked: {settings[k]!r})"
                                  for k in settings if recorded[k] != settings[k])
            raise ValueError(
                f"{printable(root / PAIR_FILE)} records other settings ({differing}): delete it "
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
            write_image(target, make_target(rgb, stylize_full(stylizer, rgb, max_side=0), recipe))
            written += 1
        if progress:
            progress(done, len(photos))
    for stale in sorted(owned - set(names)):  # targets of photos no longer in the dataset
        (folder / stale).unlink(missing_ok=True)
    _write_settings(root, {**settings, "complete": True, "files": names})
    return written


def _write_settings(root, settings):
    write_file_atomic(root / PAIR_FILE, (json.dumps(settings, indent=1) + "\n").encode(), fsync=True)
