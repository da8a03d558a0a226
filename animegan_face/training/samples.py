"""Pictures of results: photos beside their stylised versions."""

import numpy as np

from animegan_face.data.image_files import to_uint8


def image_grid(columns, gap=4):
    """One uint8 RGB grid: row k holds image k of every column, left to right, white gaps between.

    columns: a list of (K, H, W, 3) uint8 arrays (or lists of (H, W, 3) arrays), all alike in shape.
    """
    columns = [np.asarray(column, np.uint8) for column in columns]
    count, height, width, _ = columns[0].shape
    if any(column.shape != columns[0].shape for column in columns):
        raise ValueError(f"columns differ in shape: {[column.shape for column in columns]}")
    grid = np.full((count * height + (count - 1) * gap,
                    len(columns) * width + (len(columns) - 1) * gap, 3), 255, np.uint8)
    for k in range(count):
        top = k * (height + gap)
        for c, column in enumerate(columns):
            left = c * (width + gap)
            grid[top:top + height, left:left + width] = column[k]
    return grid


def side_by_side(photos, stylised, gap=4):
    """One uint8 RGB grid: row k is photo k, a white gap, stylised k. Inputs (K, H, W, 3) in [-1, 1]."""
    return image_grid([to_uint8(photos), to_uint8(stylised)], gap)
