"""One face through the stylizer and back into the picture: aligned crop, soft face-shaped mask.

``stylize_aligned`` warps the face to the canonical framing (``face_alignment``: eyes level, fixed
eye distance and centre, as ``prepare.py --crop_faces`` writes training crops), stylises that
crop, brings the stylised colours to the photo's where the mask fades (``match_edge_colour``), and
warps the result back through a mask that follows the face (``face_regions.paste_mask``: the face
oval widened to take the hair, feathered). ``stylize_square`` is the earlier way,
kept to measure against (bench/face_alignment.py): an axis-aligned square around the detector's
box pasted back with a feathered square.
All images are uint8 RGB; ``run`` maps a (size, size, 3) uint8 crop to its stylised uint8 crop.
"""

import cv2
import numpy as np

from animegan_face.data import face_alignment, face_regions
from animegan_face.data.faces import cut_square, square_crop_box
from animegan_face.data.image_files import resize_square


# Colour matching across the mask's soft edge (``match_edge_colour``), in eye distances. SMOOTH: the
# Gaussian that takes the low frequencies (colour, shading) of the photo-stylised difference, wide
# enough to drop the stylised lines and texture, narrow enough to follow hair against background.
# FINE: a second, narrower Gaussian for what SMOOTH leaves of that difference in the band (a dark
# hair line the model drew darker still), which fades out within a few of its widths inside.
# REACH: how far into the mask's core (mask >= 0.99) the correction fades out. Chosen for
# selfie2anime_v3 (docs/face_mode.md, "Colour across the mask's edge"): with the head mask of
# face_regions.paste_mask, the seam the paste adds (bench/face_alignment.py, "added step") is
# below both squares' on all 43 photos of the bench (35 of 40 with SMOOTH alone and the face oval).
EDGE_SMOOTH = 0.25
EDGE_FINE = 0.1
EDGE_REACH = 0.3


def stylize_aligned(run, rgb, canvas, landmarks, size, margin=face_alignment.DEFAULT_MARGIN):
    """Stylises the face of ``landmarks`` (in pixels of ``rgb``) and pastes it onto ``canvas``
    (same size as ``rgb``) in place."""
    crop, matrix = face_alignment.aligned_face(rgb, landmarks, size, margin)
    mask = aligned_paste_mask(landmarks, matrix, size)
    eye_distance = size / face_alignment.crop_side_in_eye_distances(margin)
    stylised = match_edge_colour(crop, run(crop), mask, eye_distance)
    paste_warped(canvas, stylised, mask, matrix)


def aligned_paste_mask(landmarks, matrix, size):
    """``face_regions.paste_mask`` of the aligned crop that ``matrix`` maps ``landmarks`` (pixels
    of the photo) into: (size, size) float32 in [0, 1]."""
    return face_regions.paste_mask(face_alignment.points_in_crop(landmarks, matrix), size)


def match_edge_colour(photo, stylised, mask, eye_distance, smooth=EDGE_SMOOTH, reach=EDGE_REACH,
                      fine=EDGE_FINE):
    """``stylised`` with its colour brought to ``photo``'s where ``mask`` fades, so that the
    paste adds no colour step at the mask's edge (a multi-band blend in one step: the low
    frequencies cross over inside the mask, the stylised lines and texture stay).

    All (s, s, 3) uint8 but ``mask`` ((s, s) in [0, 1], the paste mask in the same frame).
    With the band B = {0.01 < mask < 0.99}, d = photo - stylised and G_s a Gaussian of sigma
    ``s * eye_distance``:
        coarse   = G_smooth * (d B) / G_smooth * B            (the band's low-frequency difference)
        residual = G_fine * ((d - coarse) B) / max(G_fine * B, 1/2)   (what it missed, in the band)
        out      = stylised + w (coarse + residual),  w = exp(-t^2 / (2 (reach * eye_distance)^2)),
    t the distance into the core {mask >= 0.99} (0 in the band and outside it). The residual fades
    within a few fine widths of the band (the 1/2 floor), the coarse part over ``reach``: so
    ``out`` has the photo's low frequencies in the band and the stylised colours deep in the
    face, with no step where either correction ends. Returns uint8; ``stylised`` unchanged (a
    copy) when the mask has no band, and wherever the photo and the stylised crop agree."""
    photo = np.asarray(photo, np.float32)
    result = np.asarray(stylised, np.float32)
    mask = np.asarray(mask, np.float32)
    band = ((mask > 0.01) & (mask < 0.99)).astype(np.float32)
    if not band.any():
        return np.asarray(stylised, np.uint8).copy()

    def blurred(values, scale):
        sigma = max(0.5, scale * eye_distance)
        blur = lambda image: cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
        return blur(values * band[..., None]), blur(band)[..., None]

    difference = photo - result
    spread, weight = blurred(difference, smooth)
    # Far from the band both blurs vanish: no offset there (1e-3 keeps 0 / 0 away).
    coarse = np.where(weight > 1e-3, spread / np.maximum(weight, 1e-3), 0.0)
    spread, weight = blurred(difference - coarse, fine)
    offset = coarse + spread / np.maximum(weight, 0.5)
    core = (mask >= 0.99).astype(np.uint8)
    depth = cv2.distanceTransform(core, cv2.DIST_L2, 5)
    fade = np.exp(-0.5 * (depth / max(reach * eye_distance, 1e-6)) ** 2)[..., None]
    return np.clip(np.round(result + fade * offset), 0, 255).astype(np.uint8)


def paste_warped(canvas, crop, mask, matrix):
    """Blends ``crop`` ((s, s, 3) uint8, in the frame ``matrix`` maps the canvas to) into
    ``canvas`` in place, weighted by ``mask`` ((s, s) in [0, 1]) warped back alike. Only the
    crop's footprint on the canvas is touched."""
    size = crop.shape[0]
    inverse = cv2.invertAffineTransform(np.asarray(matrix, np.float64))
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
    footprint = corners @ inverse[:, :2].T + inverse[:, 2]
    height, width = canvas.shape[:2]
    x0, y0 = np.maximum(np.floor(footprint.min(axis=0)).astype(int), 0)
    x1 = min(width, int(np.ceil(footprint[:, 0].max())))
    y1 = min(height, int(np.ceil(footprint[:, 1].max())))
    if x1 <= x0 or y1 <= y0:
        return
    to_region = inverse.copy()
    to_region[:, 2] -= (x0, y0)
    region_size = (x1 - x0, y1 - y0)
    back = cv2.warpAffine(crop.astype(np.float32), to_region, region_size, flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(mask.astype(np.float32), to_region, region_size,
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    alpha = np.clip(alpha, 0.0, 1.0)[..., None]
    region = canvas[y0:y1, x0:x1].astype(np.float32)
    blended = alpha * np.clip(back, 0, 255) + (1 - alpha) * region
    canvas[y0:y1, x0:x1] = np.clip(np.round(blended), 0, 255).astype(np.uint8)


def square_mask(side, feather):
    """(side, side) float mask: 1 in the middle, falling smoothly to 0 at the border over
    ``feather * side`` pixels (smoothstep on each axis)."""
    ramp = max(1.0, feather * side)
    distance = np.minimum(np.arange(side), np.arange(side)[::-1]).astype(np.float32)
    edge = np.clip((distance + 0.5) / ramp, 0.0, 1.0)
    edge = edge * edge * (3 - 2 * edge)  # smoothstep: no visible seam at the ramp's ends
    return np.outer(edge, edge)


def stylize_square(run, rgb, canvas, box, size, margin, feather):
    """The face of detector box ``box`` as before alignment: the square of
    ``faces.square_crop_box`` (padded by reflection), resized to ``size``, stylised, resized back
    and pasted onto ``canvas`` in place through ``square_mask``."""
    height, width = rgb.shape[:2]
    top, left, side, _ = square_crop_box(box, height, width, margin)
    stylised = run(resize_square(cut_square(rgb, top, left, side), size))
    stylised = cv2.resize(stylised, (side, side), interpolation=cv2.INTER_CUBIC)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + side, height), min(left + side, width)
    if y1 <= y0 or x1 <= x0:
        return
    part = (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))
    alpha = square_mask(side, feather)[part][..., None]
    region = canvas[y0:y1, x0:x1].astype(np.float32)
    blended = alpha * stylised[part].astype(np.float32) + (1 - alpha) * region
    canvas[y0:y1, x0:x1] = np.clip(np.round(blended), 0, 255).astype(np.uint8)
