"""Pictures of results: photos beside their stylised versions."""

import numpy as np


def to_uint8(images):
    """[-1, 1] float images -> uint8 0..255 (rounded)."""
    return np.clip(np.round((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def side_by_side(photos, stylised, gap=4):
    """One uint8 RGB grid: row k is photo k, a white gap, stylised k. Inputs (K, H, W, 3) in [-1, 1]."""
    photos, stylised = to_uint8(photos), to_uint8(stylised)
    count, height, width, _ = photos.shape
    grid = np.full((count * height + (count - 1) * gap, 2 * width + gap, 3), 255, np.uint8)
    for k in range(count):
        top = k * (height + gap)
        grid[top:top + height, :width] = photos[k]
        grid[top:top + height, width + gap:] = stylised[k]
    return grid
