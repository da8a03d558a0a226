"""The training input pipeline, one for both backends: a prepared dataset folder -> batches of
five numpy arrays (`NumpyBatches`; `make_dataset` hands them to TensorFlow as a tf.data.Dataset).

Each batch is `(photo, photo_face_box, anime, anime_gray, smooth_gray)`:
    photo, anime, anime_gray, smooth_gray: float32 (B, S, S, 3) in [-1, 1], S = image_size;
    photo_face_box: float32 (B, 4) rows (y0, x0, y1, x1) in [0, 1], all zero when no face.
Images are decoded with OpenCV (any format it reads, any size: centre-cropped to a square and
resized to S). A random horizontal flip is applied to a photo and its face box together, and to
an anime image and its gray and smooth-gray copies together. Photos and anime images are
shuffled independently, a fresh permutation per pass (the shorter set simply passes more often,
as AnimeGAN repeats it); order and flips are fixed by the seed.

OpenCV releases the GIL while it decodes and resizes, so a thread pool decodes in parallel without
copying images between processes; `prefetch` batches are decoded ahead of the one consumed. This
measured faster than tf.data's own parallel map over the same decoders (bench/input_pipeline.py).
"""

import collections
import concurrent.futures
import dataclasses
import json
import os
import pathlib

import cv2
import numpy as np

from animegan_face.data.image_files import center_crop_resize, from_uint8, list_images, read_image

_NO_FACE = (0.0, 0.0, 0.0, 0.0)


@dataclasses.dataclass(frozen=True)
class DatasetFiles:
    """The files of a prepared dataset (see `animegan_face.data.preparation`).

    photo_boxes: float32 (N, 4), the face box of each photo relative to the stored photo file.
    """

    photos: tuple
    photo_boxes: np.ndarray
    anime: tuple
    smooth: tuple
    photos_without_face: int

    @property
    def steps_per_epoch_basis(self):
        """max(#photos, #anime): AnimeGAN's epoch length in images."""
        return max(len(self.photos), len(self.anime))


def load_dataset_files(dataset_dir):
    """Lists photo/, anime/, smooth/ and reads faces.json of a prepared dataset.

    Raises ValueError naming the folder or file that is missing or empty.
    """
    root = pathlib.Path(dataset_dir)
    faces_file = root / "faces.json"
    if not faces_file.is_file():
        raise ValueError(f"{faces_file} is missing: prepare the dataset first (prepare.py)")
    boxes_by_name = json.loads(faces_file.read_text())["boxes"]
    photos = list_images(root / "photo")
    anime = list_images(root / "anime")
    for folder, files in (("photo", photos), ("anime", anime)):
        if not files:
            raise ValueError(f"{root / folder} holds no images: nothing to train on")
    smooth = []
    for path in anime:
        smooth_path = root / "smooth" / path.name
        if not smooth_path.is_file():
            raise ValueError(f"{smooth_path} is missing (edge-smoothed copy of {path}); "
                             "run prepare.py again")
        smooth.append(str(smooth_path))
    boxes = np.array([boxes_by_name.get(p.name) or _NO_FACE for p in photos], dtype=np.float32)
    without_face = int(np.sum(~((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]))))
    return DatasetFiles(
        photos=tuple(str(p) for p in photos),
        photo_boxes=boxes,
        anime=tuple(str(p) for p in anime),
        smooth=tuple(smooth),
        photos_without_face=without_face,
    )


def _gray3(rgb):
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return np.repeat(gray[:, :, None], 3, axis=2)


def crop_box(box, crop, height, width):
    """Re-expresses a normalised box of an (height, width) image in the crop window (y0, x0, h, w).

    Returns the clipped box, or all zeros when the box was empty or falls outside the crop.
    """
    y0, x0, y1, x1 = box
    if y1 <= y0 or x1 <= x0:
        return np.zeros(4, np.float32)
    top, left, crop_height, crop_width = crop
    moved = np.array([
        (y0 * height - top) / crop_height,
        (x0 * width - left) / crop_width,
        (y1 * height - top) / crop_height,
        (x1 * width - left) / crop_width,
    ], dtype=np.float32)
    moved = np.clip(moved, 0.0, 1.0)
    if moved[2] <= moved[0] or moved[3] <= moved[1]:
        return np.zeros(4, np.float32)
    return moved


def flip_box(box):
    """The face box of the left-right mirrored image; the all-zero "no face" row stays zero."""
    y0, x0, y1, x1 = box
    if y1 <= y0 or x1 <= x0:
        return box
    return np.array([y0, 1.0 - x1, y1, 1.0 - x0], np.float32)


def load_photo(path, box, image_size, flip=False):
    """One photo in [-1, 1] (S, S, 3) and its face box moved into the centre crop; both mirrored
    left-right when `flip`."""
    rgb = read_image(path)
    height, width = rgb.shape[:2]
    square, crop = center_crop_resize(rgb, image_size)
    photo, box = from_uint8(square), crop_box(np.asarray(box, np.float32), crop, height, width)
    return (np.ascontiguousarray(photo[:, ::-1]), flip_box(box)) if flip else (photo, box)


def load_anime(path, smooth_path, image_size, flip=False):
    """An anime image, its grayscale and the grayscale of its edge-smoothed copy, in [-1, 1]; all
    three mirrored left-right when `flip`."""
    anime, _ = center_crop_resize(read_image(path), image_size)
    smooth, _ = center_crop_resize(read_image(smooth_path), image_size)
    images = from_uint8(anime), from_uint8(_gray3(anime)), from_uint8(_gray3(smooth))
    return tuple(np.ascontiguousarray(image[:, ::-1]) for image in images) if flip else images


def _shuffled_indices(count, rng):
    """Endless stream of indices: one permutation of range(count) after another."""
    while True:
        yield from rng.permutation(count)


class NumpyBatches:
    """Endless iterator of 5-tuples of numpy arrays, batched by `batch_size`. Use as a context
    manager (or call `close()`) to stop the decoding threads.

    Args:
        files: `DatasetFiles` of a prepared dataset.
        image_size: side S of the square training images.
        batch_size: images of each domain per batch.
        seed: fixes the shuffling and the flips (photos and anime draw from separate generators).
        workers: decoding threads; default the machine's CPU count.
        prefetch: batches decoded ahead of the consumer.
    """

    def __init__(self, files, image_size, batch_size, seed=0, workers=None, prefetch=4):
        self.files = files
        self.image_size = image_size
        self.batch_size = batch_size
        photo_rng = np.random.default_rng([seed, 0])
        anime_rng = np.random.default_rng([seed, 1])
        self._photo_order = _shuffled_indices(len(files.photos), photo_rng)
        self._anime_order = _shuffled_indices(len(files.anime), anime_rng)
        self._photo_rng, self._anime_rng = photo_rng, anime_rng
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers or os.cpu_count() or 1, thread_name_prefix="input_pipeline")
        self._pending = collections.deque()
        for _ in range(max(1, prefetch)):
            self._submit_batch()

    def _submit_batch(self):
        photos, anime = [], []
        for _ in range(self.batch_size):
            k = next(self._photo_order)
            photos.append(self._pool.submit(
                load_photo, self.files.photos[k], self.files.photo_boxes[k], self.image_size,
                bool(self._photo_rng.random() < 0.5)))
            k = next(self._anime_order)
            anime.append(self._pool.submit(
                load_anime, self.files.anime[k], self.files.smooth[k], self.image_size,
                bool(self._anime_rng.random() < 0.5)))
        self._pending.append((photos, anime))

    def __iter__(self):
        return self

    def __next__(self):
        photos, anime = self._pending.popleft()
        self._submit_batch()
        photo_pairs = [future.result() for future in photos]
        anime_triples = [future.result() for future in anime]
        return (np.stack([p for p, _ in photo_pairs]),
                np.stack([b for _, b in photo_pairs]).astype(np.float32),
                *(np.stack([t[k] for t in anime_triples]) for k in range(3)))

    def close(self):
        for photos, anime in self._pending:
            for future in photos + anime:
                future.cancel()
        self._pool.shutdown(wait=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def make_dataset(files, image_size, batch_size, seed=0):
    """`NumpyBatches` as an endless tf.data.Dataset, for TensorFlow's tf.distribute.

    The same batches, in the same order, as the JAX path gets for the same seed: tf.data only
    carries them (prefetched, auto-sharded by data for tf.distribute). Every worker of a
    multi-worker run draws the same seeded stream, so sharding by data splits one global batch.
    """
    import tensorflow as tf  # TensorFlow-only: kept at the edge, the pipeline above is numpy.

    def batches():
        with NumpyBatches(files, image_size, batch_size, seed=seed) as source:
            yield from source

    image = tf.TensorSpec((batch_size, image_size, image_size, 3), tf.float32)
    box = tf.TensorSpec((batch_size, 4), tf.float32)
    dataset = tf.data.Dataset.from_generator(
        batches, output_signature=(image, box, image, image, image)).prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
