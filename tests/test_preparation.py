"""Tests for animegan_face.data.preparation and prepare.py, on tiny generated datasets."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from animegan_face.data import face_alignment, face_finder, face_regions
from animegan_face.data import image_files
from animegan_face.data import preparation
from tests import hostile_files

REPO = pathlib.Path(__file__).parent.parent
ASTRONAUT = REPO / "assets" / "astronaut.jpg"


def _noise(height, width, seed):
    """A smooth random image: edges for Canny, no face for dlib."""
    noise = np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 2)


def _naive_edge_smooth(rgb):
    """The AnimeGAN reference (tools/edge_smooth.py), loop for loop, on an RGB image."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    dilation = cv2.dilate(cv2.Canny(gray, 100, 200), np.ones((5, 5), np.uint8))
    gauss = cv2.getGaussianKernel(5, 0)
    gauss = gauss * gauss.transpose(1, 0)
    pad_img = np.pad(rgb, ((2, 2), (2, 2), (0, 0)), mode="reflect")
    gauss_img = np.copy(rgb)
    idx = np.where(dilation != 0)
    for i in range(np.sum(dilation != 0)):
        for channel in range(3):
            gauss_img[idx[0][i], idx[1][i], channel] = np.sum(np.multiply(
                pad_img[idx[0][i]:idx[0][i] + 5, idx[1][i]:idx[1][i] + 5, channel], gauss))
    return gauss_img


def _make_dataset(root):
    """photos: astronaut, two faceless noise images, one corrupt file; anime: a.png/a.jpg clash, b."""
    photo_dir, anime_dir = root / "in" / "photo", root / "in" / "anime"
    photo_dir.mkdir(parents=True)
    anime_dir.mkdir(parents=True)
    shutil.copy(ASTRONAUT, photo_dir / "astronaut.jpg")
    image_files.write_image(photo_dir / "noise1.png", _noise(90, 120, seed=1))
    image_files.write_image(photo_dir / "noise2.jpg", _noise(100, 70, seed=2))
    (photo_dir / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    (photo_dir / "notes.txt").write_text("not an image")
    image_files.write_image(anime_dir / "a.png", _noise(80, 80, seed=3))
    image_files.write_image(anime_dir / "a.jpg", _noise(60, 90, seed=4))
    image_files.write_image(anime_dir / "b.bmp", _noise(40, 40, seed=5))
    return photo_dir, anime_dir


def _mtimes(folder):
    return {path: path.stat().st_mtime_ns for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """One full preparation (two worker processes), shared by the layout tests."""
    root = tmp_path_factory.mktemp("prepared")
    photo_dir, anime_dir = _make_dataset(root)
    output_dir = root / "out"
    report = preparation.prepare_dataset(
        photo_dir, anime_dir, output_dir, image_size=64, upsample=0, num_workers=2, progress=False)
    return photo_dir, anime_dir, output_dir, report


# --- pure functions ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_edge_smooth_matches_the_reference_bit_for_bit(seed):
    rgb = _noise(36, 44, seed)
    rgb[8:28, 10:22] = (200, 40, 100)  # a flat block: smoothed sums that land on integers
    expected = _naive_edge_smooth(rgb)
    assert (expected != rgb).any()
    np.testing.assert_array_equal(preparation.edge_smooth(rgb), expected)


def test_edge_smooth_leaves_pixels_far_from_edges_alone():
    rgb = np.full((48, 48, 3), 30, np.uint8)
    rgb[16:32, 16:32] = 220  # edges only along this square's border
    smoothed = preparation.edge_smooth(rgb)
    changed = np.any(smoothed != rgb, axis=2)
    assert changed.any()
    ys, xs = np.nonzero(changed)
    # Canny marks the border +-1 pixel, the 5x5 dilation adds 2: nothing further than 3 changes.
    assert ys.min() >= 16 - 3 and ys.max() <= 31 + 3 and xs.min() >= 16 - 3 and xs.max() <= 31 + 3
    np.testing.assert_array_equal(smoothed[20:28, 20:28], rgb[20:28, 20:28])  # square's interior
    flat = np.full((16, 16, 3), 77, np.uint8)
    np.testing.assert_array_equal(preparation.edge_smooth(flat), flat)


def test_edge_smooth_rejects_non_uint8():
    with pytest.raises(ValueError, match="HxWx3"):
        preparation.edge_smooth(np.zeros((8, 8, 3), np.float32))




# --- prepare_dataset --------------------------------------------------------------------------


def test_layout(prepared):
    _, _, output_dir, _ = prepared
    names = {folder: sorted(p.name for p in (output_dir / folder).iterdir())
             for folder in ("photo", "anime", "smooth")}
    assert names["photo"] == ["astronaut.jpg", "noise1.jpg", "noise2.jpg"]
    # a.jpg and a.png share a stem: the second in name order gets its extension appended.
    assert names["anime"] == names["smooth"] == ["a.jpg", "a_png.jpg", "b.jpg"]
    for folder, files in names.items():
        for name in files:
            assert image_files.read_image(output_dir / folder / name).shape == (64, 64, 3)
    assert sorted(p.name for p in output_dir.iterdir() if p.is_file()) == [
        "faces.json", "prepare_manifest.json", "prepare_report.json"]


def test_smooth_is_edge_smooth_of_the_anime_image(prepared):
    anime_dir, output_dir = prepared[1], prepared[2]
    anime, _ = image_files.center_crop_resize(image_files.read_image(anime_dir / "b.bmp"), 64)
    smooth = image_files.read_image(output_dir / "smooth" / "b.jpg")
    np.testing.assert_allclose(smooth, preparation.edge_smooth(anime), atol=24)  # JPEG 95


def test_faces_json(prepared):
    output_dir = prepared[2]
    stored = json.loads((output_dir / "faces.json").read_text())
    assert stored["image_size"] == 64
    boxes = stored["boxes"]
    assert set(boxes) == {"astronaut.jpg", "noise1.jpg", "noise2.jpg"}
    assert boxes["noise1.jpg"] is None and boxes["noise2.jpg"] is None
    # The astronaut's face, pixels 83..170 x 179..266 of 512, normalised to the 64 x 64 copy.
    assert boxes["astronaut.jpg"] == pytest.approx([0.17, 0.35, 0.33, 0.52], abs=0.04)
    # Skin regions only for the photo with a face: the oval's box holds the face box's centre,
    # and the eyes' and lips' boxes lie inside the oval's box.
    skin = stored["skin"]
    assert set(skin) == {"astronaut.jpg"} and len(skin["astronaut.jpg"]) == 16
    oval, *parts = np.reshape(skin["astronaut.jpg"], (4, 4))
    y0, x0, y1, x1 = boxes["astronaut.jpg"]
    assert oval[0] < (y0 + y1) / 2 < oval[2] and oval[1] < (x0 + x1) / 2 < oval[3]
    for part in parts:
        assert oval[0] < part[0] < part[2] < oval[2] + 0.02 and oval[1] < part[1] < part[3] < oval[3]


def test_report(prepared):
    photo_dir, _, output_dir, report = prepared
    assert (report.photos_read, report.photos_written, report.anime_read) == (3, 3, 3)
    assert len(report.skipped) == 1
    path, reason = report.skipped[0]
    assert path == str(photo_dir / "corrupt.jpg") and "truncated or corrupt" in reason
    assert report.photos_without_face == ("noise1.png", "noise2.jpg")
    summary = report.summary()
    assert "corrupt.jpg" in summary and reason in summary and "noise1.png" in summary
    stored = json.loads((output_dir / "prepare_report.json").read_text())
    assert stored["photos_read"] == 3 and stored["skipped"] == [[path, reason]]
    assert stored["settings"]["image_size"] == 64 and stored["settings"]["upsample"] == 0
    assert len(stored["fingerprint"]) == 64


def test_cached_unless_inputs_or_settings_change(tmp_path):
    photo_dir, anime_dir = _make_dataset(tmp_path)
    output_dir = tmp_path / "out"
    options = dict(image_size=32, upsample=0, num_workers=1, progress=False)
    first = preparation.prepare_dataset(photo_dir, anime_dir, output_dir, **options)
    before = _mtimes(output_dir)
    assert preparation.prepare_dataset(photo_dir, anime_dir, output_dir, **options) == first
    assert _mtimes(output_dir) == before  # nothing rewritten

    # A changed input (new mtime) invalidates the cache; so does force.
    os.utime(anime_dir / "b.bmp", ns=(1, 1))
    preparation.prepare_dataset(photo_dir, anime_dir, output_dir, **options)
    after = _mtimes(output_dir)
    assert after[output_dir / "prepare_report.json"] != before[output_dir / "prepare_report.json"]
    preparation.prepare_dataset(photo_dir, anime_dir, output_dir, force=True, **options)
    assert _mtimes(output_dir)[output_dir / "anime" / "b.jpg"] != after[output_dir / "anime" / "b.jpg"]

    # A deleted input's outputs disappear; a deleted output is rebuilt.
    (anime_dir / "b.bmp").unlink()
    (output_dir / "photo" / "noise1.jpg").unlink()
    report = preparation.prepare_dataset(photo_dir, anime_dir, output_dir, **options)
    assert report.anime_read == 2
    assert sorted(p.name for p in (output_dir / "smooth").iterdir()) == ["a.jpg", "a_png.jpg"]
    assert (output_dir / "photo" / "noise1.jpg").is_file()


def test_files_it_did_not_write_are_never_deleted_and_make_it_refuse(tmp_path):
    photo_dir, anime_dir = _make_dataset(tmp_path)
    output_dir = tmp_path / "out"
    options = dict(image_size=32, upsample=0, num_workers=1, progress=False)
    holiday = output_dir / "photo" / "family_holiday.jpg"
    image_files.write_image(holiday, _noise(20, 20, seed=9))
    before = holiday.read_bytes()
    with pytest.raises(ValueError, match=r"holds 1 file\(s\) that prepare did not write "
                                         r"\(photo/family_holiday.jpg\)"):
        preparation.prepare_dataset(photo_dir, anime_dir, output_dir, **options)
    assert holiday.read_bytes() == before
    assert sorted(p.name for p in output_dir.rglob("*")) == ["family_holiday.jpg", "photo"]

    # Its own files of an earlier run are replaced or removed; a user's file added later is kept.
    holiday.unlink()
    preparation.prepare_dataset(photo_dir, anime_dir, output_dir, **options)
    (anime_dir / "b.bmp").unlink()
    preparation.prepare_dataset(photo_dir, anime_dir, output_dir, **options)
    assert sorted(p.name for p in (output_dir / "anime").iterdir()) == ["a.jpg", "a_png.jpg"]
    (output_dir / "smooth" / "mine.png").write_bytes(b"a user's file")
    with pytest.raises(ValueError, match="smooth/mine.png"):
        preparation.prepare_dataset(photo_dir, anime_dir, output_dir, force=True, **options)
    assert (output_dir / "smooth" / "mine.png").read_bytes() == b"a user's file"


def test_a_killed_run_owns_the_files_it_wrote(tmp_path):
    photo_dir, anime_dir = _make_dataset(tmp_path)
    output_dir = tmp_path / "out"
    options = dict(image_size=32, upsample=0, num_workers=1, progress=False)
    real_run_task = preparation._run_task  # pylint: disable=protected-access
    calls = []

    def run_then_die(task):
        if len(calls) == 2:
            raise KeyboardInterrupt  # the run dies after writing two images' outputs
        calls.append(task)
        return real_run_task(task)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(preparation, "_run_task", run_then_die)
        with pytest.raises(KeyboardInterrupt):
            preparation.prepare_dataset(photo_dir, anime_dir, output_dir, **options)
    assert any((output_dir / "photo").iterdir())  # files of a run that never finished
    report = preparation.prepare_dataset(photo_dir, anime_dir, output_dir, **options)
    assert (report.photos_written, report.anime_read) == (3, 3)


def test_tiny_images_are_skipped_with_their_size(tmp_path):
    photo_dir, anime_dir = tmp_path / "photo_in", tmp_path / "anime_in"
    image_files.write_image(photo_dir / "ok.png", _noise(32, 32, seed=0))
    image_files.write_image(photo_dir / "dot.png", _noise(1, 1, seed=1))
    image_files.write_image(photo_dir / "strip.png", _noise(4, 300, seed=2))
    image_files.write_image(anime_dir / "a.png", _noise(32, 32, seed=3))
    report = preparation.prepare_dataset(photo_dir, anime_dir, tmp_path / "out", image_size=16,
                                         upsample=0, num_workers=1, progress=False)
    assert dict(report.skipped) == {
        str(photo_dir / "dot.png"): "too small: 1 x 1 pixels, the shorter side must be at least 8",
        str(photo_dir / "strip.png"): "too small: 300 x 4 pixels, the shorter side must be at least 8"}
    assert report.photos_written == 1


def test_names_that_are_not_utf8_in_worker_processes_and_the_json_files(tmp_path):
    photo_dir, anime_dir = tmp_path / "photo_in", tmp_path / "anime_in"
    latin1 = os.fsdecode(hostile_files.LATIN1_STEM)
    image_files.write_image(photo_dir / f"{latin1}.png", _noise(32, 32, seed=0))
    image_files.write_image(photo_dir / "ok.png", _noise(32, 32, seed=1))
    (photo_dir / f"{latin1}_cut.jpg").write_bytes(b"\xff\xd8\xff")
    image_files.write_image(anime_dir / f"{latin1}.png", _noise(32, 32, seed=2))
    output_dir = tmp_path / "out"
    report = preparation.prepare_dataset(photo_dir, anime_dir, output_dir, image_size=16,
                                         upsample=0, num_workers=2, progress=False)
    assert (report.photos_written, report.anime_read) == (2, 1)
    assert os.fsencode(tmp_path / "out" / "photo" / f"{latin1}.jpg") in [
        os.fsencode(path) for path in (output_dir / "photo").iterdir()]
    boxes = json.loads((output_dir / "faces.json").read_text(encoding="ascii"))["boxes"]
    assert set(boxes) == {f"{latin1}.jpg", "ok.jpg"}  # the same names as the files
    assert "caf\\xe9_cut.jpg" in report.summary()  # printable, never a UnicodeEncodeError
    # The stored report gives the same report back (the cache), names and all.
    assert preparation.prepare_dataset(photo_dir, anime_dir, output_dir, image_size=16, upsample=0,
                                       num_workers=1, progress=False) == report


def test_excluded_photos_are_left_out_and_a_wrong_name_is_named(tmp_path):
    photo_dir, anime_dir = _make_dataset(tmp_path)
    options = dict(image_size=32, upsample=0, num_workers=1, progress=False)
    report = preparation.prepare_dataset(photo_dir, anime_dir, tmp_path / "out",
                                         exclude_photos=["noise1.png"], **options)
    written = sorted(p.name for p in (tmp_path / "out" / "photo").iterdir())
    assert report.photos_read == 2 and written == ["astronaut.jpg", "noise2.jpg"]
    stored = json.loads((tmp_path / "out" / "prepare_report.json").read_text())
    assert stored["settings"]["excluded_photos"] == ["noise1.png"]
    # Another exclusion list is another dataset: not served from the cache.
    again = preparation.prepare_dataset(photo_dir, anime_dir, tmp_path / "out", **options)
    assert again.photos_read == 3
    names = sorted(p.name for p in photo_dir.iterdir() if p.suffix != ".txt")
    with pytest.raises(ValueError, match="typo.jpg"):
        preparation.prepare_dataset(photo_dir, anime_dir, tmp_path / "out2",
                                    exclude_photos=["typo.jpg"], **options)
    with pytest.raises(ValueError, match="every photo"):
        preparation.prepare_dataset(photo_dir, anime_dir, tmp_path / "out3",
                                    exclude_photos=names, **options)


def test_a_photo_sample_is_the_same_seeded_draw_of_names_on_any_machine(tmp_path):
    photo_dir, anime_dir = tmp_path / "photo", tmp_path / "anime"
    for index in range(8):
        image_files.write_image(photo_dir / f"p{index}.png", _noise(16, 16, seed=index))
    image_files.write_image(anime_dir / "a.png", _noise(16, 16, seed=9))
    options = dict(image_size=16, upsample=0, num_workers=1, progress=False)

    def written(output_dir):
        return sorted(path.stem for path in (output_dir / "photo").iterdir())

    # Golden names: random.Random(seed).sample of the sorted names left after the exclusion
    # (recipes name their training set by this rule, so a change of it must show here).
    preparation.prepare_dataset(photo_dir, anime_dir, tmp_path / "s0", photo_sample=3, **options)
    assert written(tmp_path / "s0") == ["p3", "p6", "p7"]
    boxes = json.loads((tmp_path / "s0" / "faces.json").read_text())["boxes"]
    assert sorted(boxes) == ["p3.jpg", "p6.jpg", "p7.jpg"]
    stored = json.loads((tmp_path / "s0" / "prepare_report.json").read_text())["settings"]
    assert (stored["photo_sample"], stored["sample_seed"]) == (3, 0)
    preparation.prepare_dataset(photo_dir, anime_dir, tmp_path / "s1", photo_sample=3,
                                sample_seed=1, **options)
    assert written(tmp_path / "s1") == ["p0", "p2", "p4"]
    # The draw is made after the exclusion: an excluded photo is never drawn.
    preparation.prepare_dataset(photo_dir, anime_dir, tmp_path / "s2", photo_sample=7,
                                exclude_photos=["p5.png"], **options)
    assert written(tmp_path / "s2") == ["p0", "p1", "p2", "p3", "p4", "p6", "p7"]
    # No sample: the settings have no sample keys (a set prepared before the option stays cached).
    preparation.prepare_dataset(photo_dir, anime_dir, tmp_path / "all", **options)
    stored = json.loads((tmp_path / "all" / "prepare_report.json").read_text())["settings"]
    assert len(written(tmp_path / "all")) == 8 and "photo_sample" not in stored
    with pytest.raises(ValueError, match=r"a sample of 8 photos asked of .*photo, which has 7"):
        preparation.prepare_dataset(photo_dir, anime_dir, tmp_path / "s3", photo_sample=8,
                                    exclude_photos=["p0.png"], **options)


def test_name_lists_skip_blank_lines_and_comments(tmp_path):
    listing = tmp_path / "holdout.txt"
    listing.write_text("# held out\na.jpg\n\n  b.png  # why\n")
    assert image_files.read_name_list(listing) == ("a.jpg", "b.png")


def test_crop_faces(tmp_path):
    photo_dir, anime_dir = _make_dataset(tmp_path)
    output_dir = tmp_path / "out"
    report = preparation.prepare_dataset(
        photo_dir, anime_dir, output_dir, image_size=64, crop_faces=True, face_margin=0.6,
        upsample=0, num_workers=1, progress=False)
    crop = image_files.read_image(output_dir / "photo" / "astronaut.jpg")
    assert crop.shape == (64, 64, 3)
    written = sorted(p.name for p in (output_dir / "photo").iterdir())
    assert not {"noise1.jpg", "noise2.jpg"} & set(written)  # faceless photos give no crop
    assert report.photos_without_face == ("noise1.png", "noise2.jpg")
    assert report.photos_written == len(written)
    assert all(name == "astronaut.jpg" or name.startswith("astronaut_face") for name in written)
    assert written == ["astronaut.jpg"]  # dlib's mission-patch "face" is rejected
    # The face is centred and fills 1 / (1 + 2 * 0.6) of the crop.
    stored = json.loads((output_dir / "faces.json").read_text())
    boxes = stored["boxes"]
    assert set(boxes) == set(written) == set(stored["skin"])
    y0, x0, y1, x1 = boxes["astronaut.jpg"]
    assert (y0 + y1) / 2 == pytest.approx(0.5, abs=0.03)
    assert (x0 + x1) / 2 == pytest.approx(0.5, abs=0.03)
    assert y1 - y0 == pytest.approx(1 / 2.2, abs=0.05)
    # The crop is stylize.py's aligned crop (one function for both), up to JPEG's loss.
    astronaut = image_files.read_image(ASTRONAUT)
    face = face_finder.find_faces(astronaut, upsample=0)[0]
    expected, _ = face_alignment.aligned_face(astronaut, face.landmarks, 64, margin=0.6)
    assert np.abs(crop.astype(int) - expected).mean() < 3  # JPEG quality 95: about 1 level
    # The skin regions are those of the landmarks moved into the crop.
    matrix = face_alignment.alignment_matrix(face.landmarks, 64, margin=0.6)
    points = face.landmarks.points.astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]
    assert stored["skin"]["astronaut.jpg"] == pytest.approx(
        face_regions.skin_regions(points, 64, 64), abs=1e-5)


def test_output_names_never_collide():
    names = ("a.jpg", "A.png", "a_png.bmp", "x.jpg", "x_face1.jpg")
    paths = [pathlib.Path(name) for name in names]
    # Case-insensitive, and a disambiguated name can itself be taken: a_png.bmp -> a_png_bmp.
    stems = preparation._output_names(paths, crop_faces=False)  # pylint: disable=protected-access
    assert list(stems.values()) == ["a", "A_png", "a_png_bmp", "x", "x_face1"]
    # With crop_faces, x.jpg's second face is x_face1.jpg: the photo x_face1.jpg steps aside.
    stems = preparation._output_names(paths, crop_faces=True)  # pylint: disable=protected-access
    assert stems[pathlib.Path("x_face1.jpg")] == "x_face1_"


def test_empty_or_missing_folders_name_the_folder(tmp_path):
    photo_dir, anime_dir = _make_dataset(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match="no image files in .*empty"):
        preparation.prepare_dataset(photo_dir, empty, tmp_path / "out", num_workers=1)
    with pytest.raises(ValueError, match="no image files in .*empty"):
        preparation.prepare_dataset(empty, anime_dir, tmp_path / "out", num_workers=1)
    with pytest.raises(FileNotFoundError, match="missing"):
        preparation.prepare_dataset(tmp_path / "missing", anime_dir, tmp_path / "out")


def test_unreadable_set_fails_and_leaves_no_completion_markers(tmp_path):
    photo_dir, anime_dir = _make_dataset(tmp_path)
    output_dir = tmp_path / "out"
    options = dict(image_size=32, upsample=0, num_workers=1, progress=False)
    preparation.prepare_dataset(photo_dir, anime_dir, output_dir, **options)
    for path in anime_dir.iterdir():
        path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="no readable anime image"):
        preparation.prepare_dataset(photo_dir, anime_dir, output_dir, **options)
    assert not (output_dir / "faces.json").exists()
    assert not (output_dir / "prepare_report.json").exists()


def test_refuses_to_write_into_an_input_folder(tmp_path):
    photo_dir, anime_dir = _make_dataset(tmp_path)
    with pytest.raises(ValueError, match="input folder"):
        preparation.prepare_dataset(photo_dir, anime_dir, photo_dir.parent, num_workers=1)


def test_progress_goes_to_stderr(tmp_path, capsys):
    photo_dir, anime_dir = tmp_path / "photo_in", tmp_path / "anime_in"
    image_files.write_image(photo_dir / "p.png", _noise(32, 32, seed=0))
    image_files.write_image(anime_dir / "a.png", _noise(32, 32, seed=1))
    preparation.prepare_dataset(photo_dir, anime_dir, tmp_path / "out", image_size=16,
                                upsample=0, num_workers=1, progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "prepare: 2/2 images" in captured.err


# --- prepare.py -------------------------------------------------------------------------------


def _run_cli(*args):
    return subprocess.run([sys.executable, str(REPO / "prepare.py"), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)


def test_cli(tmp_path):
    photo_dir, anime_dir = tmp_path / "photo_in", tmp_path / "anime_in"
    photo_dir.mkdir()
    shutil.copy(ASTRONAUT, photo_dir / "astronaut.jpg")
    image_files.write_image(anime_dir / "a.png", _noise(40, 40, seed=1))
    result = _run_cli(f"--photo_dir={photo_dir}", f"--anime_dir={anime_dir}",
                      f"--output_dir={tmp_path / 'out'}", "--image_size=32", "--upsample=0",
                      "--num_workers=1")
    assert result.returncode == 0, result.stderr
    assert "photos: 1 read, 1 written" in result.stdout
    assert json.loads((tmp_path / "out" / "faces.json").read_text())["boxes"]["astronaut.jpg"]

    missing = _run_cli(f"--photo_dir={tmp_path / 'nowhere'}", f"--anime_dir={anime_dir}",
                       f"--output_dir={tmp_path / 'out2'}")
    assert missing.returncode != 0
    assert "--photo_dir" in missing.stderr


def test_cli_a_folder_of_80_good_and_20_hostile_files(tmp_path):
    """Issue 26: finishes in bounded time (no hang on a dead worker; the bombs are refused from
    their headers, test_image_files), writes all 80, lists the 20 with their reasons, and exits
    with 3 ("some skipped")."""
    photo_dir, anime_dir = tmp_path / "photo_in", tmp_path / "anime_in"
    good, hostile = hostile_files.write_batch_folder(photo_dir)
    image_files.write_image(anime_dir / "a.png", _noise(40, 40, seed=1))
    result = _run_cli(f"--photo_dir={photo_dir}", f"--anime_dir={anime_dir}",
                      f"--output_dir={tmp_path / 'out'}", "--image_size=16", "--upsample=0",
                      "--num_workers=2", "--max_megapixels=1")
    assert result.returncode == 3, result.stderr[-3000:]
    written = sorted(os.listdir(os.fsencode(tmp_path / "out" / "photo")))
    assert len(written) == len(good) == 80
    assert b"a.jpg" in written and b"a_png.jpg" in written and b"caf\xe9.jpg" in written
    assert "skipped 20 file(s)" in result.stdout
    hostile_files.assert_each_listed_with_its_reason(result.stdout, hostile)
