"""Tests for animegan_face.evaluation.metrics and evaluate.py: published values, hand-computed cases, rankings."""

import pathlib

import cv2
import numpy as np
import pytest

from animegan_face.data import demo_data
from animegan_face.data import image_files
from animegan_face.data.faces import FaceBox
from animegan_face.evaluation import metrics
from tests.helpers import ScriptRuns

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Sharma, Wu and Dalal 2005, table 1: L1 a1 b1 L2 a2 b2 and CIEDE2000 (all 34 pairs).
SHARMA_PAIRS = """
50.0000 2.6772 -79.7751 50.0000 0.0000 -82.7485 2.0425
50.0000 3.1571 -77.2803 50.0000 0.0000 -82.7485 2.8615
50.0000 2.8361 -74.0200 50.0000 0.0000 -82.7485 3.4412
50.0000 -1.3802 -84.2814 50.0000 0.0000 -82.7485 1.0000
50.0000 -1.1848 -84.8006 50.0000 0.0000 -82.7485 1.0000
50.0000 -0.9009 -85.5211 50.0000 0.0000 -82.7485 1.0000
50.0000 0.0000 0.0000 50.0000 -1.0000 2.0000 2.3669
50.0000 -1.0000 2.0000 50.0000 0.0000 0.0000 2.3669
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0009 7.1792
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0010 7.1792
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0011 7.2195
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0012 7.2195
50.0000 -0.0010 2.4900 50.0000 0.0009 -2.4900 4.8045
50.0000 -0.0010 2.4900 50.0000 0.0010 -2.4900 4.8045
50.0000 -0.0010 2.4900 50.0000 0.0011 -2.4900 4.7461
50.0000 2.5000 0.0000 50.0000 0.0000 -2.5000 4.3065
50.0000 2.5000 0.0000 73.0000 25.0000 -18.0000 27.1492
50.0000 2.5000 0.0000 61.0000 -5.0000 29.0000 22.8977
50.0000 2.5000 0.0000 56.0000 -27.0000 -3.0000 31.9030
50.0000 2.5000 0.0000 58.0000 24.0000 15.0000 19.4535
50.0000 2.5000 0.0000 50.0000 3.1736 0.5854 1.0000
50.0000 2.5000 0.0000 50.0000 3.2972 0.0000 1.0000
50.0000 2.5000 0.0000 50.0000 1.8634 0.5757 1.0000
50.0000 2.5000 0.0000 50.0000 3.2592 0.3350 1.0000
60.2574 -34.0099 36.2677 60.4626 -34.1751 39.4387 1.2644
63.0109 -31.0961 -5.8663 62.8187 -29.7946 -4.0864 1.2630
61.2901 3.7196 -5.3901 61.4292 2.2480 -4.9620 1.8731
35.0831 -44.1164 3.7933 35.0232 -40.0716 1.5901 1.8645
22.7233 20.0904 -46.6940 23.0331 14.9730 -42.5619 2.0373
36.4612 47.8580 18.3852 36.2715 50.5065 21.2231 1.4146
90.8027 -2.0831 1.4410 91.1528 -1.6435 0.0447 1.4441
90.9257 -0.5406 -0.9208 88.6381 -0.8985 -0.7239 1.5381
6.7747 -0.2908 -2.4247 5.8714 -0.0985 -2.2286 0.6377
2.0776 0.0795 -1.1350 0.9033 -0.0636 -0.5514 0.9082
"""


def cartoonize(rgb, colours=8):
    """A classic non-learned cartoon filter standing in for a real stylisation: edge-preserving
    smoothing, k-means colour quantisation, dark lines from an adaptive threshold."""
    smooth = cv2.bilateralFilter(cv2.bilateralFilter(rgb, 9, 75, 75), 9, 75, 75)
    cv2.setRNGSeed(0)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
    _, labels, centres = cv2.kmeans(smooth.reshape(-1, 3).astype(np.float32), colours, None,
                                    criteria, 1, cv2.KMEANS_PP_CENTERS)
    flat = centres.astype(np.uint8)[labels.ravel()].reshape(rgb.shape)
    gray = cv2.medianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), 7)
    lines = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 9, 4)
    flat[lines == 0] = (20, 20, 20)
    return flat


def photo_like(rng, size):
    """Colour noise at several scales: smooth shading plus fine grain, as in photos."""
    image = np.zeros((size, size, 3))
    for sigma, amplitude in ((24, 60), (8, 30), (2, 15), (0.6, 8)):
        noise = cv2.GaussianBlur(rng.normal(0, 1, (size, size, 3)), (0, 0), sigma)
        image += amplitude * noise / noise.std()
    return np.clip(image + rng.uniform(60, 190, 3), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    demo_data.write_demo_photos(folder, 8, size=256)
    astronaut_crops = [image_files.read_image(path) for path in image_files.list_images(folder)]
    rng = np.random.default_rng(0)
    return {
        "train_photos": astronaut_crops[:4] + [photo_like(rng, 256) for _ in range(4)],
        "test_photos": astronaut_crops[4:],
        "anime": [demo_data.draw_anime_face(rng, 256) for _ in range(8)],
    }


# ----------------------------------------------------------------------------- colour difference

def test_ciede2000_matches_sharma_pairs():
    rows = np.array([line.split() for line in SHARMA_PAIRS.strip().splitlines()], float)
    assert rows.shape == (34, 7)
    np.testing.assert_allclose(metrics.ciede2000(rows[:, :3], rows[:, 3:6]), rows[:, 6], atol=1e-4)
    np.testing.assert_allclose(metrics.ciede2000(rows[:, 3:6], rows[:, :3]), rows[:, 6], atol=1e-4)


def test_ciede2000_is_zero_on_identical_colours():
    lab = metrics.srgb_to_lab(np.random.default_rng(0).integers(0, 256, (50, 3)))
    np.testing.assert_array_equal(metrics.ciede2000(lab, lab), 0.0)


def test_srgb_to_lab_reference_colours():
    # sRGB red, white and black under D65 (published CIELAB values of sRGB primaries).
    lab = metrics.srgb_to_lab(np.array([[255, 0, 0], [255, 255, 255], [0, 0, 0]]))
    np.testing.assert_allclose(lab[0], [53.24, 80.09, 67.20], atol=0.01)
    np.testing.assert_allclose(lab[1], [100.0, 0.0, 0.0], atol=1e-4)
    np.testing.assert_allclose(lab[2], [0.0, 0.0, 0.0], atol=1e-9)


# ----------------------------------------------------------------------------- skin tone

def test_skin_mask_is_the_box_minus_eye_band_and_mouth():
    box = FaceBox(left=10, top=20, right=110, bottom=120, score=1.0)
    mask = metrics.skin_mask(140, 130, box)
    expected = np.zeros((140, 130), bool)
    expected[20:120, 20:100] = True      # columns 0.10..0.90 of the box
    expected[25:56, :] = False           # eye band, rows 0.05..0.36
    expected[80:108, 32:88] = False      # mouth, rows 0.60..0.88, columns 0.22..0.78
    np.testing.assert_array_equal(mask, expected)


def test_skin_delta_e_is_zero_for_identity_and_the_colour_difference_otherwise():
    box = FaceBox(left=0, top=0, right=40, bottom=40, score=1.0)
    photo = np.full((40, 40, 3), (224, 172, 150), np.uint8)
    assert metrics.skin_delta_e(photo, photo.copy(), box) == 0.0
    pale = np.full((40, 40, 3), (250, 245, 245), np.uint8)
    pale[3:13] = 0  # inside the eye band (rows 2..13), which does not count
    expected = metrics.ciede2000(metrics.srgb_to_lab(photo[0, 0]),
                                    metrics.srgb_to_lab(pale[0, 0]))
    assert metrics.skin_delta_e(photo, pale, box) == pytest.approx(float(expected))
    assert expected > 10


def test_skin_cracks_measures_thin_dark_marks_on_the_skin_only():
    box = FaceBox(left=0, top=0, right=40, bottom=40, score=1.0)
    skin = np.full((40, 40, 3), (224, 172, 150), np.uint8)
    assert metrics.skin_cracks(skin, box) == 0.0
    cracked = skin.copy()
    cracked[20, 4:36] -= 40  # a 1 px line 40 levels darker, across the skin below the eye band
    cracked[30:40, 4:36] -= 40  # a 10 px dark band: shading wider than the window, not a crack
    cracked[5:10, :] = 0  # thin dark rows inside the eye band, which does not count
    mask = metrics.skin_mask(40, 40, box)
    expected = 40 * np.count_nonzero(mask[20]) / np.count_nonzero(mask)
    assert metrics.skin_cracks(cracked, box) == pytest.approx(expected, rel=1e-5)


# ----------------------------------------------------------------------------- structure

def test_ssim_of_identical_images_is_one(rng):
    image = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    assert metrics.ssim(image, image) == pytest.approx(1.0, abs=1e-12)
    assert metrics.ssim_map(image, image).shape == (30, 38)


def test_ssim_of_constant_images_is_the_luminance_term():
    # Constant images: zero variances, so SSIM = (2 a b + C1) / (a^2 + b^2 + C1) everywhere.
    a, b, c1 = 100.0, 120.0, (0.01 * 255) ** 2
    value = metrics.ssim(np.full((16, 16, 3), a, np.uint8), np.full((16, 16, 3), b, np.uint8))
    assert value == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-9)


def test_ssim_map_matches_an_explicit_gaussian_window(rng):
    x_rgb = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    y_rgb = np.clip(x_rgb * 0.7 + rng.normal(0, 20, x_rgb.shape), 0, 255).astype(np.uint8)
    x, y = metrics.luma(x_rgb), metrics.luma(y_rgb)
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5 ** 2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    top, left = 3, 7  # window rows 3..13, columns 7..17 -> map entry (3, 7)
    wx, wy = x[top:top + 11, left:left + 11], y[top:top + 11, left:left + 11]
    mx, my = (w * wx).sum(), (w * wy).sum()
    vx, vy = (w * wx ** 2).sum() - mx ** 2, (w * wy ** 2).sum() - my ** 2
    cxy = (w * wx * wy).sum() - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    expected = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    assert metrics.ssim_map(x_rgb, y_rgb)[top, left] == pytest.approx(expected, rel=1e-9)


def test_edge_f1(data):
    photo = data["test_photos"][0]
    assert metrics.edge_f1(photo, photo) == 1.0
    shifted = np.roll(photo, 1, axis=1)  # within the 2-pixel tolerance
    assert metrics.edge_f1(photo, shifted) > 0.95
    flat = np.full_like(photo, 128)
    assert metrics.edge_f1(photo, flat) == 0.0
    assert metrics.edge_f1(flat, flat) == 1.0


# ----------------------------------------------------------------------------- anime domain

def test_features_are_in_unit_range(data):
    for image in data["anime"][:2] + data["train_photos"][:2]:
        features = metrics.domain_features(image)
        assert features.shape == (len(metrics.DOMAIN_FEATURE_NAMES),)
        assert np.all((features >= 0) & (features <= 1))


def test_anime_score_ranks_a_stylisation_above_identity_and_blur(data):
    classifier = metrics.fit_domain_classifier(data["anime"], data["train_photos"])
    assert classifier.training_accuracy == 1.0
    photos = data["test_photos"]  # not seen in training

    def score(images):
        return metrics.anime_probability(classifier, images)

    cartoon = score([cartoonize(photo) for photo in photos])
    identity = score(photos)
    # Blurs unlike the training negatives' (sigma 2.5 Gaussian): stronger, and a box filter.
    blurred = score([cv2.GaussianBlur(photo, (0, 0), 4) for photo in photos])
    boxed = score([cv2.blur(photo, (7, 7)) for photo in photos])
    assert np.all(cartoon > identity) and np.all(cartoon > blurred) and np.all(cartoon > boxed)
    assert cartoon.mean() > 0.4 > max(identity.mean(), blurred.mean(), boxed.mean())
    assert score(data["anime"][:2]).min() > 0.9


def test_classifier_is_deterministic(data):
    first = metrics.fit_domain_classifier(data["anime"][:4], data["train_photos"][:4])
    second = metrics.fit_domain_classifier(data["anime"][:4], data["train_photos"][:4])
    np.testing.assert_array_equal(first.coef, second.coef)


# ----------------------------------------------------------------------------- together

def test_evaluate_pairs_on_identity_counts_faceless_photos(data):
    photos = data["test_photos"][:2] + [photo_like(np.random.default_rng(5), 256)]
    result = metrics.evaluate_pairs(photos, [p.copy() for p in photos], data["anime"])
    assert (result["images"], result["faces"], result["no_face"]) == (3, 2, 1)
    assert result["skin_delta_e"] == 0.0
    assert result["skin_cracks"] == pytest.approx(np.mean(
        [metrics.skin_cracks(p, metrics.detect_face_box(p)) for p in photos[:2]]))
    assert result["ssim"] == pytest.approx(1.0)
    assert result["edge_f1"] == 1.0
    assert result["anime_probability"] < 0.2


def test_evaluate_models_and_table(data):
    photos = data["test_photos"][:2]
    results = metrics.evaluate_models(
        photos, {"cartoon": [cartoonize(p) for p in photos]}, data["anime"])
    assert list(results) == ["photo (identity)", "photo blurred (sigma 1.5)", "cartoon"]
    identity, blurred, cartoon = results.values()
    assert cartoon["anime_probability"] > max(identity["anime_probability"],
                                              blurred["anime_probability"])
    assert identity["ssim"] > blurred["ssim"]
    table = metrics.markdown_table({**results, "faceless": {**cartoon, "skin_delta_e": None}})
    lines = table.splitlines()
    assert lines[0] == ("| model | images | faces | skin ΔE00 ↓ | SSIM ↑ | edge F1 ↑ "
                        "| P(anime) ↑ | skin cracks ↓ |")
    assert lines[2].startswith("| photo (identity) | 2 | 2 | 0.000 | 1.000 | 1.000 |")
    assert "| n/a |" in lines[-1]


@pytest.fixture(scope="module")
def run_evaluate():
    """`run_evaluate(*flags)`: evaluate.py with `flags`, as its own command would run it (exit
    status, stdout, stderr); the module's runs share one child process (`tests.helpers.ScriptRuns`),
    which imports TensorFlow once instead of once per run."""
    runs = ScriptRuns("evaluate.py", ROOT)
    yield runs
    runs.close()


def test_evaluate_script_with_output_folders(data, tmp_path, run_evaluate):
    photo_dir, anime_dir, cartoon_dir = tmp_path / "photo", tmp_path / "anime", tmp_path / "cartoon"
    for index, photo in enumerate(data["test_photos"][:2]):
        image_files.write_image(photo_dir / f"p{index}.png", photo)
        image_files.write_image(cartoon_dir / f"p{index}.jpg", cartoonize(photo))
    for index, anime in enumerate(data["anime"][:4]):
        image_files.write_image(anime_dir / f"a{index}.png", anime)
    markdown = tmp_path / "eval.md"
    flags = [f"--photo_dir={photo_dir}", f"--anime_dir={anime_dir}",
             f"--outputs=cartoon={cartoon_dir}", f"--outputs=same={photo_dir}",
             f"--output_markdown={markdown}",
             "--kid_weights=none"]  # random VGG16: the column's plumbing, not a measurement
    done = run_evaluate(*flags)
    assert done.returncode == 0, done.stderr
    assert "2 photos (0 without a detected face" in done.stdout
    rows = {line.split(" | ")[0][2:]: line for line in markdown.read_text().splitlines()[2:]}
    assert set(rows) == {"photo (identity)", "photo blurred (sigma 1.5)", "cartoon", "same"}
    assert markdown.read_text().splitlines()[0].endswith("| KID ↓ |")
    # Identical images give the identical row, KID included (same features, same subsets).
    assert rows["same"].replace("same", "") == rows["photo (identity)"].replace("photo (identity)", "")

    (cartoon_dir / "p1.jpg").unlink()
    done = run_evaluate(*flags)
    assert done.returncode != 0 and "no output for 1 photo(s): p1.png" in done.stderr

    # A held-out list picks the photos; a listed photo that is absent is named.
    listing = tmp_path / "holdout.txt"
    listing.write_text("# held out\np0.png\n")
    done = run_evaluate(*flags[:3], "--nokid", f"--photo_list={listing}")
    assert done.returncode == 0, done.stderr
    assert "1 photos (0 without a detected face" in done.stdout
    listing.write_text("p0.png\nnot_there.png\n")
    done = run_evaluate(*flags[:3], "--nokid", f"--photo_list={listing}")
    assert done.returncode != 0 and "not_there.png" in done.stderr


def test_evaluate_script_writes_the_comparison_grid(data, tmp_path, run_evaluate):
    photo_dir, anime_dir, cartoon_dir = tmp_path / "photo", tmp_path / "anime", tmp_path / "cartoon"
    photos = data["test_photos"][:3]
    for index, photo in enumerate(photos):
        image_files.write_image(photo_dir / f"p{index}.png", photo)
        image_files.write_image(cartoon_dir / f"p{index}.png", cartoonize(photo))
    for index, anime in enumerate(data["anime"][:4]):
        image_files.write_image(anime_dir / f"a{index}.png", anime)
    grid = tmp_path / "grid.png"
    done = run_evaluate(f"--photo_dir={photo_dir}", f"--anime_dir={anime_dir}",
                        f"--outputs=cartoon={cartoon_dir}", f"--grid={grid}", "--grid_count=2",
                        "--image_size=64", "--nokid")
    assert done.returncode == 0, done.stderr
    picture = image_files.read_image(grid)
    assert picture.shape == (2 * 64 + 4, 2 * 64 + 4, 3)  # 2 rows; photo | cartoon
    first_photo = image_files.center_crop_resize(photos[0], 64)[0]
    np.testing.assert_array_equal(picture[:64, :64], first_photo)
    np.testing.assert_array_equal(picture[:64, 68:], image_files.center_crop_resize(
        image_files.read_image(cartoon_dir / "p0.png"), 64)[0])
    assert (picture[64:68] == 255).all()
