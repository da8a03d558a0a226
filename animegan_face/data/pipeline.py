"""The training input pipeline: a prepared dataset folder -> batches of five tensors.

Each batch is `(photo, photo_face_box, anime, anime_gray, smooth_gray)`:
    photo, anime, anime_gray, smooth_gray: float32 (B, S, S, 3) in [-1, 1], S = image_size;
    photo_face_box: float32 (B, 4) rows (y0, x0, y1, x1) in [0, 1], all zero when no face.
Images are decoded with OpenCV (any format it reads, any size: centre-cropped to a square and
resized to S), so the same loaders serve tf.data here and a numpy loader on other backends.
A random horizontal flip is applied to a photo and its face box together, and to an anime image
and its smooth copy together. Photos and anime images are shuffled independently; the shorter
set is repeated, as AnimeGAN does.
"""

import dataclasses
import json
import pathlib

import cv2
import numpy as np

from animegan_face.data.image_files import from_uint8, list_images, read_image
from animegan_face.data.preparation import center_crop_resize

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


def make_dataset(files, image_size, batch_size, seed=0, shuffle_buffer=2048):
    """An endless, shuffled, prefetched tf.data.Dataset of 5-tuples, batched by `batch_size`.

    Flips are drawn from stateless random numbers keyed by (seed, element index), so a run with the
    same seed sees the same flips. Auto-sharding is by data, ready for tf.distribute.
    """
    import tensorflow as tf  # TensorFlow-only: kept at the edge, the loaders above are numpy.

    def decode_photo(path, box, flip):
        return load_photo(path.decode(), box, image_size, bool(flip))

    def decode_anime(path, smooth_path, flip):
        return load_anime(path.decode(), smooth_path.decode(), image_size, bool(flip))

    image_shape = (image_size, image_size, 3)

    def draw_flip(stream, index):
        return tf.random.stateless_uniform([], seed=tf.stack([tf.constant(stream, tf.int64), index])) < 0.5

    def photo_element(index, element):
        path, box = element
        photo, box = tf.numpy_function(decode_photo, [path, box, draw_flip(seed, index)],
                                       [tf.float32, tf.float32])
        photo.set_shape(image_shape)
        box.set_shape((4,))
        return photo, box

    def anime_element(index, element):
        images = tf.numpy_function(decode_anime, [*element, draw_flip(seed + 1, index)],
                                   [tf.float32] * 3)
        for image in images:
            image.set_shape(image_shape)
        return tuple(images)

    def indexed(dataset):
        return tf.data.Dataset.zip(tf.data.Dataset.counter(dtype=tf.int64), dataset)

    photos = (tf.data.Dataset.from_tensor_slices((list(files.photos), files.photo_boxes))
              .shuffle(min(shuffle_buffer, len(files.photos)), seed=seed, reshuffle_each_iteration=True)
              .repeat())
    photos = indexed(photos).map(photo_element, num_parallel_calls=tf.data.AUTOTUNE)
    anime = (tf.data.Dataset.from_tensor_slices((list(files.anime), list(files.smooth)))
             .shuffle(min(shuffle_buffer, len(files.anime)), seed=seed + 1, reshuffle_each_iteration=True)
             .repeat())
    anime = indexed(anime).map(anime_element, num_parallel_calls=tf.data.AUTOTUNE)

    def flatten(photo_pair, anime_triple):
        return (photo_pair[0], photo_pair[1]) + tuple(anime_triple)

    dataset = (tf.data.Dataset.zip(photos, anime)
               .map(flatten)
               .batch(batch_size, drop_remainder=True)
               .prefetch(tf.data.AUTOTUNE))
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
