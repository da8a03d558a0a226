"""The input pipeline's numpy batches (`NumpyBatches`, what both backends train on)."""

import cv2
import numpy as np
import pytest

from animegan_face.data.pipeline import NumpyBatches, flip_box, load_dataset_files, make_dataset
from tests.helpers import write_face_patch_dataset

SIZE = 32


@pytest.fixture
def files(tmp_path, rng):
    """3 photos (two with a face patch and its box, one without a face), 2 anime images."""
    return load_dataset_files(write_face_patch_dataset(tmp_path, rng, SIZE))


def test_flip_box_mirrors_x_and_keeps_no_face():
    np.testing.assert_allclose(flip_box(np.array([0.1, 0.2, 0.5, 0.3], np.float32)), [0.1, 0.7, 0.5, 0.8])
    np.testing.assert_array_equal(flip_box(np.zeros(4, np.float32)), np.zeros(4))


def test_batches_shapes_ranges_and_boxes_flipped_with_their_photos(files):
    flipped_seen = set()
    with NumpyBatches(files, SIZE, batch_size=4, seed=3, workers=2) as batches:
        for _ in range(6):
            photo, box, anime, anime_gray, smooth_gray, target = next(batches)
            np.testing.assert_array_equal(target, photo)  # no pair/ folder: the photo itself
            for images in (photo, anime, anime_gray, smooth_gray):
                assert images.shape == (4, SIZE, SIZE, 3) and images.dtype == np.float32
                assert images.min() >= -1.0 and images.max() <= 1.0
            assert box.shape == (4, 4) and box.dtype == np.float32
            np.testing.assert_array_equal(anime_gray[..., 0], anime_gray[..., 2])
            for image, (y0, x0, y1, x1) in zip(photo, box):
                if y1 <= y0:
                    assert image.max() == -1.0  # the face-less photo is all black
                    continue
                top, left, bottom, right = (int(round(v * SIZE)) for v in (y0, x0, y1, x1))
                # The box moved with the flip: it still frames the white patch, and only it.
                assert image[top:bottom, left:right].min() == 1.0
                assert (image == 1.0).sum() == (bottom - top) * (right - left) * 3
                flipped_seen.add(left)
    assert flipped_seen == {2, 5, 17, 20}  # both face photos seen both ways round (x0 and 32 - x1)


def test_anime_gray_and_smooth_flip_together(files):
    with NumpyBatches(files, SIZE, batch_size=2, seed=0, workers=1) as batches:
        for _ in range(8):
            _, _, anime, anime_gray, smooth_gray, _ = next(batches)
            gray_of_anime = np.array([cv2.cvtColor(np.round((a + 1) * 127.5).astype(np.uint8),
                                                   cv2.COLOR_RGB2GRAY) for a in anime])
            np.testing.assert_allclose((anime_gray[..., 0] + 1) * 127.5, gray_of_anime, atol=0.51)
            # The smooth copy is anime // 2 here: its gray is about half the anime gray, unflipped.
            np.testing.assert_allclose((smooth_gray[..., 0] + 1) * 127.5, gray_of_anime / 2, atol=1.6)


def test_same_seed_same_batches_other_seed_other_order(files):
    def first_batches(seed):
        with NumpyBatches(files, SIZE, 2, seed=seed, workers=2) as batches:
            return [np.concatenate([b.ravel() for b in next(batches)]) for _ in range(3)]

    np.testing.assert_array_equal(np.stack(first_batches(7)), np.stack(first_batches(7)))
    assert not np.array_equal(np.stack(first_batches(7)), np.stack(first_batches(8)))


def test_images_decode_exactly_as_the_tf_data_pipeline(files):
    """Every numpy image is one of tf.data's images for the same file (or its mirror), bit for bit."""
    def keyed(images):
        return {np.asarray(image).tobytes() for image in images}

    tf_photos, tf_anime = set(), set()
    for photo, _, anime, _, _, _ in make_dataset(files, SIZE, 3, seed=1).take(8):
        tf_photos |= keyed(photo) | keyed(np.asarray(photo)[:, :, ::-1])
        tf_anime |= keyed(anime) | keyed(np.asarray(anime)[:, :, ::-1])
    with NumpyBatches(files, SIZE, 3, seed=1, workers=2) as batches:
        for _ in range(4):
            photo, _, anime, _, _, _ = next(batches)
            assert keyed(photo) <= tf_photos
            assert keyed(anime) <= tf_anime
