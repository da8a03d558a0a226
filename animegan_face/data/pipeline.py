"""The training input pipeline, one for both backends: a prepared dataset folder -> batches of
six numpy arrays (`NumpyBatches`; `make_dataset` hands them to TensorFlow as a tf.data.Dataset).

Each batch is `(photo, photo_face_box, anime, anime_gray, smooth_gray, photo_target)`:
    photo, anime, anime_gray, smooth_gray, photo_target: float32 (B, C, C, 3) in [-1, 1];
    photo_face_box: float32 (B, 4) rows (y0, x0, y1, x1) in [0, 1], all zero when no face; (B, 20)
        with the skin regions (`load_dataset_files(skin_regions=True)`): the face box, then the
        16 numbers of `face_regions.skin_regions` moved into the window (not clipped: the skin's
        ellipse keeps its shape when the window cuts it), all zero when no face;
    photo_target: the photo's pseudo-pair target (DATASET/pair/, made by make_pairs.py), or the
        photo itself when the dataset has none (then no loss term reads it).
Images are decoded with OpenCV (any format it reads, any size: centre-cropped to a square and
resized to S = image_size). C = S, or `crop_size` when set: a random C x C window of the S x S
image (the scale of S at the cost of C; the generator and discriminator are convolutional). A
random horizontal flip is applied to a photo, its face box and its target together, and to an
anime image and its gray and smooth-gray copies together; a photo and its target share their
window. Photos and anime images are shuffled independently, a fresh permutation per pass (the
shorter set simply passes more often, as AnimeGAN repeats it); order, windows and flips are fixed
by the seed.

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

from animegan_face.data.image_files import (center_crop_resize, from_uint8, list_images, printable,
                                            read_image)

_NO_FACE = (0.0, 0.0, 0.0, 0.0)
_NO_SKIN = (0.0,) * 16  # face_regions.skin_regions' length
PAIR_FOLDER = "pair"  # pseudo-pair targets (deployment/pseudo_pairs.py writes them)
PAIR_FILE = "pair.json"


@dataclasses.dataclass(frozen=True)
class DatasetFiles:
    """The files of a prepared dataset (see `animegan_face.data.preparation`).

    photo_boxes: float32 (N, 4), the face box of each photo relative to the stored photo file;
        (N, 20) with its skin regions after it (`load_dataset_files(skin_regions=True)`).
    """

    photos: tuple
    photo_boxes: np.ndarray
    anime: tuple
    smooth: tuple
    photos_without_face: int
    pairs: tuple = ()  # the pseudo-pair target of each photo, () when the dataset has none

    @property
    def steps_per_epoch_basis(self):
        """max(#photos, #anime): AnimeGAN's epoch length in images."""
        return max(len(self.photos), len(self.anime))


def load_dataset_files(dataset_dir, skin_regions=False):
    """Lists photo/, anime/, smooth/ (and pair/ when complete) and reads faces.json of a prepared
    dataset; with `skin_regions`, each photo's skin regions too (faces.json "skin", written by
    prepare.py since format 3; a faces.json without it reads as before unless they are asked for).

    Raises ValueError naming the folder or file that is missing, empty or lacking skin regions.
    """
    root = pathlib.Path(dataset_dir)
    faces_file = root / "faces.json"
    if not faces_file.is_file():
        raise ValueError(f"{faces_file} is missing: prepare the dataset first (prepare.py)")
    faces_json = json.loads(faces_file.read_text())
    boxes_by_name = faces_json["boxes"]
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
    if skin_regions:
        if "skin" not in faces_json:
            raise ValueError(f"{faces_file} holds no skin regions (prepared before they were "
                             "stored): prepare the dataset again (prepare.py --force) to train "
                             "with --skin_region=landmarks")
        skin = [faces_json["skin"].get(p.name) or _NO_SKIN for p in photos]
        if any(len(regions) != len(_NO_SKIN) for regions in skin):
            raise ValueError(f"{faces_file}: a skin entry is not {len(_NO_SKIN)} numbers")
        boxes = np.concatenate([boxes, np.array(skin, np.float32)], axis=1)
    without_face = int(np.sum(~((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]))))
    return DatasetFiles(
        photos=tuple(str(p) for p in photos),
        photo_boxes=boxes,
        anime=tuple(str(p) for p in anime),
        smooth=tuple(smooth),
        photos_without_face=without_face,
        pairs=complete_pairs(root, photos),
    )


def pair_path(dataset_dir, photo_path):
    """Where the pseudo-pair target of `photo_path` (a file of DATASET/photo) lives."""
    return pathlib.Path(dataset_dir) / PAIR_FOLDER / (pathlib.Path(photo_path).stem + ".png")


def read_pair_settings(dataset_dir):
    """DATASET/pair.json as a dict, or None when there is none; ValueError when it is damaged."""
    path = pathlib.Path(dataset_dir) / PAIR_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{printable(path)} is not valid JSON ({error}): delete it and its "
                         f"{PAIR_FOLDER}/ folder, then run make_pairs.py again") from error


def complete_pairs(dataset_dir, photos):
    """The target path of every photo in `photos`, or () when the dataset has no complete set of
    targets (pair.json missing or not marked complete, or a target file missing)."""
    settings = read_pair_settings(dataset_dir)
    if not settings or not settings.get("complete"):
        return ()
    paths = tuple(str(pair_path(dataset_dir, photo)) for photo in photos)
    return paths if all(pathlib.Path(p).is_file() for p in paths) else ()


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


def move_regions(regions, crop, height, width):
    """Skin regions (16 numbers: four boxes, see `face_regions.skin_regions`) of an (height, width)
    image re-expressed in the crop window (y0, x0, h, w), not clipped; all-zero boxes stay zero."""
    boxes = np.asarray(regions, np.float32).reshape(-1, 4)
    top, left, crop_height, crop_width = crop
    scale = np.array([height / crop_height, width / crop_width] * 2, np.float32)
    shift = np.array([top / crop_height, left / crop_width] * 2, np.float32)
    empty = ~boxes.any(axis=1)
    moved = boxes * scale - shift
    moved[empty] = 0.0
    return moved.reshape(-1)


def flip_regions(regions):
    """Skin regions of the left-right mirrored image (each box mirrored; left and right eye swap
    places, which the mask, a union, does not mind); all-zero boxes stay zero."""
    boxes = np.asarray(regions, np.float32).reshape(-1, 4)
    return np.array([flip_box(box) for box in boxes], np.float32).reshape(-1)


def flip_box(box):
    """The face box of the left-right mirrored image; the all-zero "no face" row stays zero."""
    y0, x0, y1, x1 = box
    if y1 <= y0 or x1 <= x0:
        return box
    return np.array([y0, 1.0 - x1, y1, 1.0 - x0], np.float32)


def _window(image, window):
    """The (top, left, side) window of an (S, S, 3) image, or the image when `window` is None."""
    if window is None:
        return image
    top, left, side = window
    return image[top:top + side, left:left + side]


def _flipped(image, flip):
    return np.ascontiguousarray(image[:, ::-1]) if flip else image


def load_photo(path, box, image_size, flip=False, window=None):
    """One photo in [-1, 1] (S, S, 3) and its face box moved into the centre crop, then cut to
    `window` (top, left, side) of the S x S square when given; both mirrored left-right when
    `flip`."""
    rgb = read_image(path)
    height, width = rgb.shape[:2]
    square, crop = center_crop_resize(rgb, image_size)
    box = np.asarray(box, np.float32)
    box, regions = box[:4], box[4:]  # regions: the skin regions, when the dataset has them
    box = crop_box(box, crop, height, width)
    regions = move_regions(regions, crop, height, width)
    if window is not None:
        top, left, side = window
        box = crop_box(box, (top, left, side, side), image_size, image_size)
        regions = move_regions(regions, (top, left, side, side), image_size, image_size)
    if flip:
        box, regions = flip_box(box), flip_regions(regions)
    photo = from_uint8(_window(square, window))
    return (_flipped(photo, flip), np.concatenate([box, regions]).astype(np.float32))


def load_target(path, image_size, flip=False, window=None):
    """A photo's pseudo-pair target in [-1, 1], cut and mirrored as `load_photo` cuts its photo."""
    square, _ = center_crop_resize(read_image(path), image_size)
    return _flipped(from_uint8(_window(square, window)), flip)


def _load_photo_and_target(path, box, target_path, image_size, flip, window):
    photo, box = load_photo(path, box, image_size, flip, window)
    target = photo if target_path is None else load_target(target_path, image_size, flip, window)
    return photo, box, target


def load_anime(path, smooth_path, image_size, flip=False, window=None):
    """An anime image, its grayscale and the grayscale of its edge-smoothed copy, in [-1, 1], cut
    to `window` (top, left, side) when given; all three mirrored left-right when `flip`."""
    anime, _ = center_crop_resize(read_image(path), image_size)
    smooth, _ = center_crop_resize(read_image(smooth_path), image_size)
    anime, smooth = _window(anime, window), _window(smooth, window)
    images = from_uint8(anime), from_uint8(_gray3(anime)), from_uint8(_gray3(smooth))
    return tuple(_flipped(image, flip) for image in images)


def _shuffled_indices(count, rng):
    """Endless stream of indices: one permutation of range(count) after another."""
    while True:
        yield from rng.permutation(count)


class NumpyBatches:
    """Endless iterator of 6-tuples of numpy arrays, batched by `batch_size`. Use as a context
    manager (or call `close()`) to stop the decoding threads.

    Args:
        files: `DatasetFiles` of a prepared dataset.
        image_size: side S of the square training images.
        batch_size: images of each domain per batch.
        seed: fixes the shuffling, the windows and the flips (photos and anime draw from separate
            generators).
        workers: decoding threads; default the machine's CPU count.
        prefetch: batches decoded ahead of the consumer.
        crop_size: side of the random window cut from each S x S image; 0 (or S): none.
    """

    def __init__(self, files, image_size, batch_size, seed=0, workers=None, prefetch=4,
                 crop_size=0):
        if crop_size > image_size:
            raise ValueError(f"crop_size {crop_size} is larger than image_size {image_size}")
        self.files = files
        self.image_size = image_size
        self.batch_size = batch_size
        self.crop_size = crop_size if crop_size and crop_size < image_size else 0
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

    def _draw_window(self, rng):
        if not self.crop_size:  # no draw: the stream of an uncropped run stays as it was
            return None
        top, left = rng.integers(0, self.image_size - self.crop_size + 1, size=2)
        return int(top), int(left), self.crop_size

    def _submit_batch(self):
        photos, anime = [], []
        for _ in range(self.batch_size):
            k = next(self._photo_order)
            flip = bool(self._photo_rng.random() < 0.5)
            photos.append(self._pool.submit(
                _load_photo_and_target, self.files.photos[k], self.files.photo_boxes[k],
                self.files.pairs[k] if self.files.pairs else None, self.image_size, flip,
                self._draw_window(self._photo_rng)))
            k = next(self._anime_order)
            flip = bool(self._anime_rng.random() < 0.5)
            anime.append(self._pool.submit(
                load_anime, self.files.anime[k], self.files.smooth[k], self.image_size, flip,
                self._draw_window(self._anime_rng)))
        self._pending.append((photos, anime))

    def __iter__(self):
        return self

    def __next__(self):
        photos, anime = self._pending.popleft()
        self._submit_batch()
        photo_triples = [future.result() for future in photos]
        anime_triples = [future.result() for future in anime]
        return (np.stack([p for p, _, _ in photo_triples]),
                np.stack([b for _, b, _ in photo_triples]).astype(np.float32),
                *(np.stack([t[k] for t in anime_triples]) for k in range(3)),
                np.stack([t for _, _, t in photo_triples]))

    def close(self):
        for photos, anime in self._pending:
            for future in photos + anime:
                future.cancel()
        self._pool.shutdown(wait=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def make_dataset(files, image_size, batch_size, seed=0, crop_size=0):
    """`NumpyBatches` as an endless tf.data.Dataset, for TensorFlow's tf.distribute.

    The same batches, in the same order, as the JAX path gets for the same seed: tf.data only
    carries them (prefetched, auto-sharded by data for tf.distribute). Every worker of a
    multi-worker run draws the same seeded stream, so sharding by data splits one global batch.
    """
    import tensorflow as tf  # TensorFlow-only: kept at the edge, the pipeline above is numpy.

    def batches():
        with NumpyBatches(files, image_size, batch_size, seed=seed, crop_size=crop_size) as source:
            yield from source

    side = crop_size if crop_size and crop_size < image_size else image_size
    image = tf.TensorSpec((batch_size, side, side, 3), tf.float32)
    box = tf.TensorSpec((batch_size, files.photo_boxes.shape[1]), tf.float32)
    dataset = tf.data.Dataset.from_generator(
        batches, output_signature=(image, box, image, image, image, image)).prefetch(
            tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
