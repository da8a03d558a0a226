"""The tf.data pipeline on a small prepared dataset generated on the fly."""

import cv2
import numpy as np
import pytest

import json

from animegan_face.data.pipeline import (NumpyBatches, crop_box, load_dataset_files, load_photo,
                                         make_dataset)
from animegan_face.loss import image_ops
from tests.helpers import write_face_patch_dataset

SIZE = 32


@pytest.fixture
def dataset_dir(tmp_path, rng):
    return write_face_patch_dataset(tmp_path, rng, SIZE)


def test_dataset_files(dataset_dir):
    files = load_dataset_files(dataset_dir)
    assert len(files.photos) == 3 and len(files.anime) == 2
    assert files.photos_without_face == 1
    assert files.steps_per_epoch_basis == 3


def test_missing_smooth_copy_is_named(dataset_dir):
    (dataset_dir / "smooth" / "a1.png").unlink()
    with pytest.raises(ValueError, match="a1.png"):
        load_dataset_files(dataset_dir)


def test_batches_shapes_ranges_and_flipped_boxes(dataset_dir):
    files = load_dataset_files(dataset_dir)
    dataset = make_dataset(files, image_size=SIZE, batch_size=4, seed=3)
    flipped_seen = set()
    for photo, box, anime, anime_gray, smooth_gray, _ in dataset.take(6):
        for tensor in (photo, anime, anime_gray, smooth_gray):
            assert tensor.shape == (4, SIZE, SIZE, 3) and tensor.dtype == "float32"
            assert float(np.min(tensor)) >= -1.0 and float(np.max(tensor)) <= 1.0
        assert box.shape == (4, 4)
        np.testing.assert_array_equal(anime_gray[..., 0], anime_gray[..., 2])  # gray in 3 channels
        for image, (y0, x0, y1, x1) in zip(np.asarray(photo), np.asarray(box)):
            if y1 <= y0:
                assert image.max() == -1.0  # the face-less photo is all black
                continue
            top, left, bottom, right = (int(round(v * SIZE)) for v in (y0, x0, y1, x1))
            # The box moved with the flip: it still frames the white patch exactly.
            assert image[top:bottom, left:right].min() == 1.0
            assert image.sum() == pytest.approx(1.0 * (bottom - top) * (right - left) * 3
                                                - 1.0 * (SIZE * SIZE - (bottom - top) * (right - left)) * 3)
            flipped_seen.add(left)
    assert len(flipped_seen) >= 3  # both photos seen both ways round


def test_same_seed_same_batches(dataset_dir):
    files = load_dataset_files(dataset_dir)
    first = [np.asarray(t) for t in next(iter(make_dataset(files, SIZE, 2, seed=7)))]
    again = [np.asarray(t) for t in next(iter(make_dataset(files, SIZE, 2, seed=7)))]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)


def test_any_size_photo_is_centre_cropped_with_its_box(tmp_path):
    photo = np.zeros((40, 80, 3), np.uint8)  # wide: the centre square is columns 20..60
    photo[10:30, 30:50] = 255
    assert cv2.imwrite(str(tmp_path / "wide.png"), photo)  # gray-white pattern: BGR == RGB
    box = [10 / 40, 30 / 80, 30 / 40, 50 / 80]
    image, moved = load_photo(str(tmp_path / "wide.png"), box, 20)
    assert image.shape == (20, 20, 3)
    np.testing.assert_allclose(moved, [0.25, 0.25, 0.75, 0.75], atol=1e-6)


def test_crop_box_outside_crop_is_no_face():
    assert crop_box(np.array([0.0, 0.0, 0.2, 0.1]), (0, 20, 40, 40), 40, 80).tolist() == [0, 0, 0, 0]
    assert crop_box(np.zeros(4), (0, 0, 10, 10), 10, 10).tolist() == [0, 0, 0, 0]


def _add_skin(dataset_dir):
    """faces.json as prepare.py writes it since format 3: each face's skin regions, here the
    ellipse inscribed in the white patch, without a box over its top-left quarter."""
    faces_file = dataset_dir / "faces.json"
    stored = json.loads(faces_file.read_text())
    stored["skin"] = {}
    for name, box in stored["boxes"].items():
        if box is not None:
            y0, x0, y1, x1 = box
            quarter = [y0, x0, (y0 + y1) / 2, (x0 + x1) / 2]
            stored["skin"][name] = box + quarter + [0.0] * 8
    faces_file.write_text(json.dumps(stored))


def test_faces_json_without_skin_reads_as_before_and_is_named_when_skin_is_asked(dataset_dir):
    assert load_dataset_files(dataset_dir).photo_boxes.shape == (3, 4)
    with pytest.raises(ValueError, match="faces.json holds no skin regions"):
        load_dataset_files(dataset_dir, skin_regions=True)
    _add_skin(dataset_dir)
    files = load_dataset_files(dataset_dir, skin_regions=True)
    assert files.photo_boxes.shape == (3, 20)
    np.testing.assert_array_equal(files.photo_boxes[2], np.zeros(20))  # the face-less photo
    np.testing.assert_array_equal(files.photo_boxes[:, :4], load_dataset_files(dataset_dir).photo_boxes)


def test_skin_regions_move_with_the_window_and_the_flip(dataset_dir):
    _add_skin(dataset_dir)
    files = load_dataset_files(dataset_dir, skin_regions=True)
    flips = set()
    with NumpyBatches(files, SIZE, batch_size=4, seed=5, workers=1, crop_size=24) as batches:
        for _ in range(8):
            photo, boxes = next(batches)[:2]
            assert boxes.shape == (4, 20)
            skin = np.asarray(image_ops.skin_region_mask(boxes[:, 4:], 24, 24))[..., 0] > 0.5
            for image, mask, row in zip(photo, skin, boxes):
                # Every skin pixel lies on the white patch, cut by the window or not, mirrored
                # or not.
                assert (image[mask] == 1.0).all()
                if mask.any():
                    flips.add(bool(row[9] > row[5]))  # the left-out box right of the oval's left
    assert flips == {False, True}  # both ways round seen


def test_tf_dataset_carries_the_skin_regions(dataset_dir):
    _add_skin(dataset_dir)
    files = load_dataset_files(dataset_dir, skin_regions=True)
    photo, boxes = next(iter(make_dataset(files, SIZE, batch_size=2, seed=1)))[:2]
    assert boxes.shape == (2, 20) and photo.shape == (2, SIZE, SIZE, 3)
    with NumpyBatches(files, SIZE, batch_size=2, seed=1, workers=1) as batches:
        np.testing.assert_array_equal(np.asarray(boxes), next(batches)[1])  # the same batch
