"""Pseudo-pair targets (make_pairs.py): the filter, the files, and how batches carry them."""

import json
import pathlib

import cv2
import numpy as np
import pytest

from animegan_face.data.pipeline import NumpyBatches, load_dataset_files, pair_path
from animegan_face.deployment import pseudo_pairs
from tests.helpers import write_face_patch_dataset, write_prepared_dataset

SIZE = 64


def _scene(rng, spot=40, noise=6.0):
    """Mid gray with a step edge (right half brighter), a dark 'eye' and sensor noise."""
    image = np.full((SIZE, SIZE, 3), 128.0, np.float32)
    image[:, SIZE // 2:] += 2 * spot
    image[20:28, 10:18] -= spot
    image += rng.normal(0, noise, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def _eye_contrast(image):
    image = image.astype(np.float32)
    return image[22:26, 12:16].mean() - image[22:26, 22:26].mean()


def test_flatten_removes_noise_keeps_edges_and_eyes_at_any_contrast(rng):
    scene = _scene(rng)
    flat = pseudo_pairs.flatten(scene)
    assert flat.shape == scene.shape and flat.dtype == np.uint8
    # Noise in a flat region shrinks (5.5 -> 1.6 grey levels measured); the 80-level step and the
    # 40-level eye stay (119.8 of 120 and 35.5 of 38.9 measured). OpenCV's recursive filter is
    # deterministic float code; the bounds leave 2x margins for another CPU's rounding.
    assert flat[36:60, 36:60].std() < scene[36:60, 36:60].std() / 2
    assert flat[:, 40:60].mean() - flat[:, 4:8].mean() > 0.95 * (scene[:, 40:60].mean() - scene[:, 4:8].mean())
    assert _eye_contrast(flat) < 0.8 * _eye_contrast(scene)
    # The same scene at 30 % contrast (a dark face): the plain filter's absolute sigma_r loses a
    # third of the eye (38.3 -> 25.6 levels, scaled back), the stretched one keeps it (35.5 -> 36.2).
    dark = np.round(scene * 0.3).astype(np.uint8)
    plain = cv2.edgePreservingFilter(dark, flags=cv2.RECURS_FILTER, sigma_s=30 * SIZE / 256, sigma_r=0.3)
    assert _eye_contrast(plain) / 0.3 > 0.8 * _eye_contrast(flat)  # contrast is negative: lost
    assert _eye_contrast(pseudo_pairs.flatten(dark)) / 0.3 < 0.9 * _eye_contrast(flat)


def _lines_scene(rng, base=100, noise=4.0):
    """Flat grey: a 1 px line 51 levels (0.2) lighter, a 3 px line 128 levels (0.5) lighter, a
    right half 80 levels lighter, and sensor noise."""
    image = np.full((SIZE, SIZE, 3), float(base))
    image[:, SIZE // 2:] += 80
    image[10, 4:28] += 51  # thin and faint: width x contrast^2 = 0.04
    image[40:43, 4:28] += 128  # wide and strong: 3 x 0.25 = 0.75
    image += rng.normal(0, noise, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def test_l0_smooth_drops_what_costs_less_than_its_edges_and_keeps_the_rest(rng):
    # Without noise the solver is exact: a picture made of kept edges is its own result.
    flat = np.full((SIZE, SIZE, 3), 77, np.uint8)
    np.testing.assert_array_equal(pseudo_pairs.l0_smooth(flat, 0.05), flat)
    step = flat.copy(); step[:, SIZE // 2:] = 200
    np.testing.assert_array_equal(pseudo_pairs.l0_smooth(step, 0.05), step)
    scene = _lines_scene(rng)
    smooth = pseudo_pairs.l0_smooth(scene, 0.05).astype(float)
    # A kept line costs about 2 lambda per unit length, removing it width x contrast^2: at 0.05 the
    # faint 1 px line goes (0.04 < 0.1), the strong 3 px line stays (0.75 > 0.1). The bounds are
    # tens of grey levels away from the outcome either way, far beyond rounding on any CPU.
    assert abs(smooth[10, 8:24].mean() - smooth[14, 8:24].mean()) < 10  # was 51 levels
    assert smooth[41, 8:24].mean() - smooth[46, 8:24].mean() > 110  # was 128
    assert smooth[:, 40:60].mean() - smooth[:, 20:24].mean() > 60  # the step (72.6 with the lines)
    assert smooth[20:36, 36:60].std() < 1.0 < scene[20:36, 36:60].std()  # noise flattened to one tone
    # At 0.01 the faint line costs more to remove than to keep (0.04 > 0.02): it stays.
    fine = pseudo_pairs.l0_smooth(scene, 0.01).astype(float)
    assert fine[10, 8:24].mean() - fine[14, 8:24].mean() > 35


def test_l0_flatten_keeps_a_dark_pictures_lines_too(rng):
    scene = _lines_scene(rng)
    dark = np.round(scene * 0.3).astype(np.uint8)
    # l0_lambda 0.8 at 256 px is 0.2 at this 64 px side. The stretch maps the 1st..99th percentile
    # (about 95..232 levels here, 28..70 in the dark copy) to 0..255: in both the 1 px line becomes
    # about 0.37 (1 x 0.14 < 0.4: it goes) and the 3 px line 0.93 (2.6 > 0.4: it stays).
    # Unstretched, the dark copy's 3 px line is 38 levels, 3 x 0.15^2 = 0.07 < 0.4: it would go.
    out = pseudo_pairs.l0_flatten(dark, 0.8).astype(float)
    assert out[41, 8:24].mean() - out[46, 8:24].mean() > 30
    assert abs(out[10, 8:24].mean() - out[14, 8:24].mean()) < 8  # kept, it would be 15
    plain = pseudo_pairs.l0_smooth(dark, 0.2).astype(float)
    assert plain[41, 8:24].mean() - plain[46, 8:24].mean() < 10


def _negate(images):
    return -images


def test_write_pairs_writes_one_target_per_photo_and_records_them(tmp_path):
    root = write_prepared_dataset(tmp_path / "data", size=SIZE, photos=3)
    assert load_dataset_files(root).pairs == ()
    assert pseudo_pairs.write_pairs(root, _negate, "negate") == 3
    settings = json.loads((root / "pair.json").read_text())
    assert settings["complete"] and settings["model"] == "negate"
    assert settings["files"] == ["p0.png", "p1.png", "p2.png"]
    photo = cv2.cvtColor(cv2.imread(str(root / "photo" / "p1.png")), cv2.COLOR_BGR2RGB)
    target = cv2.cvtColor(cv2.imread(str(pair_path(root, root / "photo" / "p1.png"))), cv2.COLOR_BGR2RGB)
    # The model's output (255 - photo, up to the [-1, 1] round trip), then the filter.
    np.testing.assert_array_equal(target, pseudo_pairs.flatten(255 - photo))
    files = load_dataset_files(root)
    assert files.pairs == tuple(str(root / "pair" / f"p{k}.png") for k in range(3))
    assert pseudo_pairs.write_pairs(root, _negate, "negate") == 0  # up to date: nothing redone


def test_an_interrupted_run_continues_and_other_settings_are_refused(tmp_path):
    root = write_prepared_dataset(tmp_path / "data", size=SIZE, photos=3)
    pseudo_pairs.write_pairs(root, _negate, "negate")
    settings = json.loads((root / "pair.json").read_text())
    (root / "pair" / "p2.png").unlink()  # as a killed run leaves it: claimed, not written
    (root / "pair.json").write_text(json.dumps({**settings, "complete": False}))
    assert load_dataset_files(root).pairs == ()  # incomplete targets are not trained on
    assert pseudo_pairs.write_pairs(root, _negate, "negate") == 1
    assert len(load_dataset_files(root).pairs) == 3
    with pytest.raises(ValueError, match="other settings"):
        pseudo_pairs.write_pairs(root, _negate, "negate", pseudo_pairs.TargetRecipe(sigma_r=0.5))
    with pytest.raises(ValueError, match="skin_line_depth 0 \\(asked: 10\\)"):
        pseudo_pairs.write_pairs(root, _negate, "negate", pseudo_pairs.TargetRecipe(skin_line_depth=10))
    with pytest.raises(ValueError, match="smoothing 'edge_preserving' \\(asked: 'l0'\\)"):
        pseudo_pairs.write_pairs(root, _negate, "negate", pseudo_pairs.TargetRecipe(smoothing="l0"))
    # A pair.json from before the skin clean-ups and the L0 filter existed means the
    # edge-preserving filter without clean-ups: it continues.
    old = json.loads((root / "pair.json").read_text())
    (root / "pair.json").write_text(json.dumps(
        {k: v for k, v in old.items()
         if k not in ("skin_line_depth", "skin_flatness", "smoothing", "l0_lambda", "skin_colour",
                      "skin_lightness", "line_strength")}))
    assert pseudo_pairs.write_pairs(root, _negate, "negate") == 0
    (root / "pair" / "holiday.jpg").write_bytes(b"a user's file")
    with pytest.raises(ValueError, match="holiday.jpg"):
        pseudo_pairs.write_pairs(root, _negate, "negate")
    assert (root / "pair" / "holiday.jpg").read_bytes() == b"a user's file"


def test_a_photo_removed_from_the_dataset_loses_its_target(tmp_path):
    root = write_prepared_dataset(tmp_path / "data", size=SIZE, photos=3)
    pseudo_pairs.write_pairs(root, _negate, "negate")
    (root / "photo" / "p0.png").unlink()
    assert pseudo_pairs.write_pairs(root, _negate, "negate") == 0
    assert sorted(p.name for p in (root / "pair").iterdir()) == ["p1.png", "p2.png"]


def _skin_scene():
    """Flat skin tone with a 2 px dark crack across it and on past the skin mask, a wide dark 'eye'
    inside the mask, and the mask (rows 8..56, columns 8..40)."""
    image = np.empty((SIZE, SIZE, 3), np.uint8)
    image[:] = (200, 160, 140)
    image[30:32, :] = (90, 60, 50)  # the crack, 110 levels deep, runs past the mask's right edge
    image[12:24, 14:30] = (40, 30, 30)  # the eye: 12 x 16 px, wider than the 7 px line width
    skin = np.zeros((SIZE, SIZE), bool)
    skin[8:56, 8:40] = True
    return image, skin


def test_skin_lines_are_inpainted_inside_the_mask_and_nothing_else_moves():
    image, skin = _skin_scene()
    clean = pseudo_pairs.remove_skin_lines(image, skin, depth=10)
    inside = clean[30:32, 10:38].astype(int)
    # Inpainted from the plain skin around it: within a few levels of the tone (was 110 off).
    assert np.abs(inside - (200, 160, 140)).max() <= 8
    np.testing.assert_array_equal(clean[30:32, 44:], image[30:32, 44:])  # outside the skin: kept
    np.testing.assert_array_equal(clean[14:22, 16:28], image[14:22, 16:28])  # the eye: kept
    shallow = pseudo_pairs.remove_skin_lines(image, skin, depth=120)  # the crack is 110 deep
    np.testing.assert_array_equal(shallow[26:36], image[26:36])


def test_flatten_skin_smooths_the_skin_only(rng):
    image, skin = _skin_scene()
    noisy = np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)
    flat = pseudo_pairs.flatten_skin(noisy, skin, 0.7)
    patch = (slice(40, 52), slice(14, 34))  # plain skin, well inside the mask
    spread = lambda x: x[patch].astype(float).std(axis=(0, 1)).mean()  # per channel
    assert spread(flat) < 0.6 * spread(noisy)
    # Columns 56.. lie 16 px (4 feather sigmas) past the mask: untouched.
    np.testing.assert_array_equal(flat[:, 56:], noisy[:, 56:])
    np.testing.assert_array_equal(pseudo_pairs.flatten_skin(noisy, skin, 0.0), noisy)


def test_make_target_without_a_face_is_the_filter_alone(rng):
    image, _ = _skin_scene()  # no face for the landmark finder
    stylised = np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(
        pseudo_pairs.make_target(image, stylised, pseudo_pairs.TargetRecipe(
            skin_line_depth=10, skin_flatness=0.5)),
        pseudo_pairs.flatten(stylised))
    np.testing.assert_array_equal(
        pseudo_pairs.make_target(image, stylised, pseudo_pairs.TargetRecipe(smoothing="l0")),
        pseudo_pairs.l0_flatten(stylised))
    with pytest.raises(ValueError, match="smoothing 'median' is not one of edge_preserving, l0"):
        pseudo_pairs.TargetRecipe(smoothing="median")


def test_skin_colour_moves_the_skins_mean_to_the_photos_and_leaves_the_rest():
    target, skin = _skin_scene()  # skin tone (200, 160, 140)
    photo = np.empty_like(target); photo[:] = (170, 150, 150)  # a cooler, darker skin in the photo
    moved = pseudo_pairs.pull_skin_colour(target, photo, skin, 1.0)
    lab = lambda rgb: cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(float)
    patch = (slice(40, 52), slice(14, 34))  # plain skin well inside the mask: the full shift
    want = lab(target)[patch].mean((0, 1)) + (lab(photo)[patch].mean((0, 1)) - lab(target)[skin].mean(0)) * (0.5, 1, 1)
    # uint8 Lab and back: within 2 levels of the shift asked (OpenCV's integer conversion, the same
    # tables on every CPU)
    np.testing.assert_allclose(lab(moved)[patch].mean((0, 1)), want, atol=2)
    # Columns 60.. lie 20 px (over 3 feather sigmas) past the mask: untouched.
    np.testing.assert_array_equal(moved[:, 60:], target[:, 60:])
    np.testing.assert_array_equal(pseudo_pairs.pull_skin_colour(target, photo, skin, 0.0), target)
    # The whole lightness step (the photo's skin lightness, not anime's lighter one): L moves
    # as far as a and b do.
    full = pseudo_pairs.pull_skin_colour(target, photo, skin, 1.0, lightness=1.0)
    want_full = lab(target)[patch].mean((0, 1)) + (lab(photo)[patch].mean((0, 1)) - lab(target)[skin].mean(0))
    np.testing.assert_allclose(lab(full)[patch].mean((0, 1)), want_full, atol=2)
    # ... which here is 4 levels of L from the half step (measured 185 against 181): the share acts.
    assert abs(lab(full)[patch].mean((0, 1))[0] - lab(moved)[patch].mean((0, 1))[0]) > 3


def test_make_target_passes_the_skin_lightness_share_on(monkeypatch):
    seen = []
    monkeypatch.setattr(pseudo_pairs, "photo_skin_mask", lambda photo: np.ones(photo.shape[:2], bool))
    monkeypatch.setattr(pseudo_pairs, "pull_skin_colour",
                        lambda target, photo, skin, amount, lightness: seen.append((amount, lightness)) or target)
    image = np.full((32, 32, 3), 128, np.uint8)
    pseudo_pairs.make_target(image, image, pseudo_pairs.TargetRecipe(skin_colour=0.7))
    pseudo_pairs.make_target(image, image, pseudo_pairs.TargetRecipe(skin_colour=1.0, skin_lightness=1.0))
    assert seen == [(0.7, 0.5), (1.0, 1.0)]


def test_lines_are_drawn_on_the_dark_side_of_edges_only():
    image = np.full((256, 256, 3), 200, np.uint8)  # XDoG's sigma is 1 px at this side
    image[:, 128:] = 90  # one 110-level step
    lines = pseudo_pairs.xdog_lines(image)
    assert lines.shape == (256, 256) and 0 <= lines.min() and lines.max() <= 1
    # A line on the dark side next to the edge (0.83 in column 129, 0.12 in 128 measured), nothing
    # on flat ground or on the light side. Gaussians of one step: the values are fixed by the
    # filter's taps (float32), far from the bounds on any CPU.
    assert lines[:, 129].min() > 0.7 and lines[:, 128].max() < 0.3
    assert lines[:, :128].max() == 0 and lines[:, 136:].max() == 0
    drawn = pseudo_pairs.draw_lines(image, lines, 0.8)
    np.testing.assert_array_equal(drawn[:, :128], image[:, :128])
    np.testing.assert_array_equal(drawn[:, 136:], image[:, 136:])
    expected = (1 - 0.8 * lines[:, 129:130]) * 90 + 0.8 * lines[:, 129:130] * np.array(pseudo_pairs.LINE_COLOUR)
    assert np.abs(drawn[:, 129] - expected).max() <= 1  # rounding
    np.testing.assert_array_equal(pseudo_pairs.draw_lines(image, lines, 0.0), image)


def test_make_target_draws_the_smoothed_pictures_lines(rng):
    image, _ = _skin_scene()  # no face: the skin colour step is skipped
    stylised = np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)
    recipe = pseudo_pairs.TargetRecipe(smoothing="l0", skin_colour=1.0, line_strength=0.8)
    smooth = pseudo_pairs.l0_flatten(stylised)
    np.testing.assert_array_equal(
        pseudo_pairs.make_target(image, stylised, recipe),
        pseudo_pairs.draw_lines(smooth, pseudo_pairs.xdog_lines(smooth), 0.8))


def _with_pairs(root, transform):
    """pair/ holding transform(photo) for every photo, recorded as complete."""
    names = []
    for photo in sorted((root / "photo").iterdir()):
        target = pair_path(root, photo)
        target.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(target), transform(cv2.imread(str(photo))))
        names.append(target.name)
    (root / "pair.json").write_text(json.dumps({"complete": True, "files": names}))
    return load_dataset_files(root)


@pytest.mark.parametrize("crop", [0, 24])
def test_targets_share_their_photos_window_and_flip(tmp_path, crop):
    files = _with_pairs(write_prepared_dataset(tmp_path / "data", size=32, photos=4),
                        lambda bgr: 255 - bgr)
    side = crop or 32
    windows = set()
    with NumpyBatches(files, 32, batch_size=4, seed=5, workers=2, crop_size=crop) as batches:
        for _ in range(5):
            photo, _, anime, _, _, target = next(batches)
            assert photo.shape == target.shape == anime.shape == (4, side, side, 3)
            # Random noise photos: only the same window, flipped the same way, gives -photo.
            np.testing.assert_allclose(target, -photo, atol=1e-6)
            windows |= {photo[k].tobytes() for k in range(4)}
    assert len(windows) > 4 if crop else len(windows) <= 8  # crops differ; whole photos repeat


def test_crop_windows_move_the_face_box(tmp_path, rng):
    files = load_dataset_files(write_face_patch_dataset(tmp_path, rng, 32))
    seen = 0
    with NumpyBatches(files, 32, batch_size=3, seed=2, workers=1, crop_size=20) as batches:
        for _ in range(10):
            photo, box, *_ = next(batches)
            assert photo.shape == (3, 20, 20, 3)
            for image, (y0, x0, y1, x1) in zip(photo, box):
                white = int((image == 1.0).all(axis=-1).sum())
                if y1 <= y0:  # no face, or the window missed it
                    assert white == 0
                    continue
                top, left, bottom, right = (int(round(v * 20)) for v in (y0, x0, y1, x1))
                # The box frames exactly the part of the white patch inside the window.
                assert image[top:bottom, left:right].min() == 1.0
                assert white == (bottom - top) * (right - left)
                seen += 1
    assert seen > 5


def test_uncropped_batches_do_not_change_with_the_crop_option_off(tmp_path):
    files = load_dataset_files(write_prepared_dataset(tmp_path / "data", size=32, photos=4))
    with NumpyBatches(files, 32, 2, seed=3, workers=1) as a, \
            NumpyBatches(files, 32, 2, seed=3, workers=1, crop_size=32) as b:
        for _ in range(3):
            for x, y in zip(next(a), next(b)):
                np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match="crop_size"):
        NumpyBatches(files, 32, 2, crop_size=40)


@pytest.mark.parametrize("loss", [{"pair": 1.0}, {"content_source": "pair"}])
def test_training_with_pair_weight_needs_the_targets(tmp_path, loss):
    from animegan_face.config import LossConfig
    from animegan_face.training.loop import resolve_dataset
    from animegan_face.training.run_checks import SetupError
    from tests.helpers import tiny_config
    import dataclasses

    root = write_prepared_dataset(tmp_path / "data", size=32, photos=2)
    config = tiny_config(root, tmp_path / "run")
    config = dataclasses.replace(config, loss=LossConfig(**loss))
    with pytest.raises(SetupError, match="make_pairs.py"):
        resolve_dataset(config)
    pseudo_pairs.write_pairs(root, _negate, "negate")
    assert len(resolve_dataset(config).pairs) == 2


def test_make_pairs_script_names_a_missing_model(tmp_path):
    import subprocess
    import sys

    root = write_prepared_dataset(tmp_path / "data", size=32, photos=1)
    result = subprocess.run(
        [sys.executable, "make_pairs.py", f"--dataset_dir={root}", f"--model={tmp_path / 'nope'}"],
        capture_output=True, text=True, cwd=pathlib.Path(__file__).parents[1])
    assert result.returncode == 1 and "nope" in result.stderr
    assert not (root / "pair").exists()  # nothing written
