"""Face-aware stylising of images and video, and the stylize.py command."""

import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from animegan_face.data.demo_data import demo_photos
from animegan_face.data.image_files import read_image
from animegan_face.deployment import stylize
from animegan_face.deployment.inference import SHIPPED_MODEL, SHIPPED_TFLITE, load_stylizer
from animegan_face.models.networks import build_generator
from tests import hostile_files
from tests.helpers import ScriptRuns

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "generator.weights.h5"
    build_generator("animegan_v2").save_weights(path)  # the shipped architecture
    return path


@pytest.fixture(scope="module")
def stylizer(weights):
    return load_stylizer(weights)


@pytest.fixture
def group_photo():
    """A 300x420 gray-green scene with a 96 px face pasted at (40, 260): the face is small."""
    canvas = np.full((300, 420, 3), (90, 120, 100), np.uint8)
    canvas[40:136, 260:356] = demo_photos(1, size=96)[0]
    return canvas


def test_face_mode_changes_the_face_only(stylizer, group_photo):
    result = stylize.stylize_image(stylizer, group_photo, stylize.StylizeOptions(mode="face", image_size=64))
    assert result.faces >= 1 and not result.fell_back_to_full
    assert result.image.shape == group_photo.shape
    np.testing.assert_array_equal(result.image[200:, :200], group_photo[200:, :200])  # far from it
    assert np.abs(result.image[70:110, 290:330].astype(int) - group_photo[70:110, 290:330]).mean() > 5


def test_no_face_falls_back_to_full_frame(stylizer):
    scene = np.full((60, 90, 3), 128, np.uint8)
    result = stylize.stylize_image(stylizer, scene, stylize.StylizeOptions(mode="face", image_size=64))
    assert result.fell_back_to_full and result.faces == 0 and result.image.shape == scene.shape


@pytest.mark.parametrize("height, width", [(101, 67), (64, 64), (30, 1500)])
def test_full_mode_keeps_any_size(stylizer, height, width):
    image = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = stylize.stylize_full(stylizer, image, max_side=512)
    assert out.shape == image.shape and out.dtype == np.uint8


def test_both_mode_pastes_faces_over_the_full_frame(stylizer, group_photo):
    options = stylize.StylizeOptions(mode="both", image_size=64)
    both = stylize.stylize_image(stylizer, group_photo, options)
    full = stylize.stylize_full(stylizer, group_photo, options.max_side)
    assert both.faces >= 1
    np.testing.assert_array_equal(both.image[200:, :200], full[200:, :200])
    assert not np.array_equal(both.image[70:110, 290:330], full[70:110, 290:330])


def _write_video(path, frames, size=(64, 48)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    for index in range(frames):
        writer.write(np.full((size[1], size[0], 3), 40 * index % 255, np.uint8))
    writer.release()


def test_video_frame_by_frame_side_by_side(stylizer, tmp_path):
    _write_video(tmp_path / "clip.mp4", 5)
    seen = []
    result = stylize.stylize_video(stylizer, tmp_path / "clip.mp4", tmp_path / "out.mp4",
                                   stylize.StylizeOptions(mode="full"), side_by_side=True,
                                   progress=lambda done, total: seen.append((done, total)))
    assert result == stylize.VideoResult(frames=5, announced=5, stopped=None)
    assert seen == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    capture = cv2.VideoCapture(str(tmp_path / "out.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    assert (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (128, 48)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "out.mp4"]


def test_video_without_frames_is_an_error_and_leaves_nothing(stylizer, tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(stylize.VideoError, match="empty.mp4"):
        stylize.stylize_video(stylizer, tmp_path / "empty.mp4", tmp_path / "out.mp4",
                              stylize.StylizeOptions(mode="full"))
    assert not (tmp_path / "out.mp4").exists()


@pytest.fixture(scope="module")
def run_stylize():
    """`run_stylize(*flags)`: stylize.py with `flags`, as its own command would run it (exit
    status, stdout, stderr); the module's fifteen such runs share one child process
    (`tests.helpers.ScriptRuns`), which imports TensorFlow once instead of once per run. The runs
    that need bytes output or an environment of their own start their own process."""
    runs = ScriptRuns("stylize.py", REPO)
    yield runs
    runs.close()


@pytest.mark.slow
def test_cli_folder_in_folder_out_skips_bad_files(weights, tmp_path, group_photo, run_stylize):
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "group.png"), cv2.cvtColor(group_photo, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(photos / "plain.png"), np.full((40, 52, 3), 200, np.uint8))
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    result = run_stylize(f"--model={weights}", f"--input={photos}", f"--output={tmp_path / 'out'}",
                         "--image_size=64", "--side_by_side")
    assert result.returncode == 3, result.stderr[-2000:]  # some skipped
    assert sorted(os.listdir(tmp_path / "out")) == [".stylize_outputs.json", "group.png", "plain.png"]
    assert read_image(tmp_path / "out" / "group.png").shape == (300, 840, 3)
    assert "no face found" in result.stdout and re.search(r"group.png \([1-9]\d* faces?\)", result.stdout)
    assert "broken.jpg" in result.stderr


@pytest.mark.slow
def test_cli_without_model_runs_the_shipped_model(tmp_path, run_stylize):
    from animegan_face.deployment.provenance import model_image_size

    photo = os.path.join(REPO, "assets", "astronaut.jpg")
    result = run_stylize(f"--input={photo}", f"--output={tmp_path / 'anime.png'}")
    assert result.returncode == 0, result.stderr[-2000:]
    # The same pixels as the shipped float16 TFLite at its training size, in face mode.
    options = stylize.StylizeOptions(mode="face", image_size=model_image_size(SHIPPED_MODEL))
    expected = stylize.stylize_image(load_stylizer(SHIPPED_TFLITE), read_image(photo), options)
    assert np.array_equal(read_image(tmp_path / "anime.png"), expected.image)


@pytest.mark.slow
def test_cli_clear_errors(weights, tmp_path, run_stylize):
    (tmp_path / "bad.jpg").write_bytes(b"")
    result = run_stylize(f"--model={weights}", f"--input={tmp_path / 'bad.jpg'}",
                         f"--output={tmp_path / 'o.png'}")
    assert result.returncode != 0 and "bad.jpg: empty file" in result.stderr
    (tmp_path / "model.tflite").write_bytes(b"garbage")
    cv2.imwrite(str(tmp_path / "ok.png"), np.zeros((8, 8, 3), np.uint8))
    result = run_stylize(f"--model={tmp_path / 'model.tflite'}", f"--input={tmp_path / 'ok.png'}",
                         f"--output={tmp_path / 'o.png'}")
    assert result.returncode != 0 and "model.tflite" in result.stderr
    assert not (tmp_path / "o.png").exists()


def test_video_container_without_frames_is_an_error_and_leaves_nothing(stylizer, tmp_path):
    writer = cv2.VideoWriter(str(tmp_path / "zero.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    writer.release()  # a valid header, no frame
    assert (tmp_path / "zero.mp4").stat().st_size > 0
    with pytest.raises(stylize.VideoError, match="zero.mp4"):
        stylize.stylize_video(stylizer, tmp_path / "zero.mp4", tmp_path / "out.mp4",
                              stylize.StylizeOptions(mode="full"))
    assert sorted(os.listdir(tmp_path)) == ["zero.mp4"]


@pytest.mark.slow
def test_cli_bad_model_or_video_or_output_fail_clearly_and_write_nothing(weights, tmp_path,
                                                                         run_stylize):
    import keras

    cv2.imwrite(str(tmp_path / "ok.png"), np.zeros((8, 8, 3), np.uint8))
    _write_video(tmp_path / "clip.mp4", 3)
    writer = cv2.VideoWriter(str(tmp_path / "zero.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    writer.release()
    (tmp_path / "file.txt").write_text("a file where a folder should be")
    dense = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    dense.save_weights(tmp_path / "dense.weights.h5")
    inputs = sorted(os.listdir(tmp_path))
    blocked = tmp_path / "file.txt" / "sub"
    cases = [  # (flags, what stderr must say)
        ((f"--model={tmp_path / 'dense.weights.h5'}", f"--input={tmp_path / 'ok.png'}",
          f"--output={tmp_path / 'o.png'}"), "dense.weights.h5: weights do not fit the AnimeGAN generator"),
        ((f"--model={weights}", f"--input={tmp_path / 'zero.mp4'}", f"--output={tmp_path / 'o.mp4'}"),
         "zero.mp4: OpenCV cannot open this video"),
        ((f"--model={weights}", f"--input={tmp_path / 'ok.png'}", f"--output={blocked / 'o.png'}"),
         f"--output: cannot write into {blocked}: {tmp_path / 'file.txt'} is a file"),
        ((f"--model={weights}", f"--input={tmp_path / 'clip.mp4'}", f"--output={blocked / 'o.mp4'}"),
         "is a file, not a folder"),
        ((f"--model={weights}", f"--input={tmp_path}", f"--output={blocked}"), "is a file, not a folder"),
    ]
    for flags, message in cases:
        result = run_stylize(*flags)
        assert result.returncode != 0 and message in result.stderr, (flags, result.stderr[-2000:])
        assert "Traceback" not in result.stderr
    assert sorted(os.listdir(tmp_path)) == inputs  # no output, no partial file, no new folder
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    if not os.access(locked, os.W_OK):  # root writes anywhere: only for other users
        result = run_stylize(f"--model={weights}", f"--input={tmp_path / 'ok.png'}",
                             f"--output={locked / 'o.png'}")
        assert result.returncode != 0 and f"{locked} is not writable" in result.stderr


# --- hostile input (issue 26) -----------------------------------------------------------------


def test_tiny_images_are_padded_for_the_generator(stylizer):
    # 4 px and less failed in the generator's MirrorPad; face mode finds no face and goes full.
    for height, width in [(1, 1), (2, 3), (4, 4), (7, 5), (1, 40)]:
        image = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
        result = stylize.stylize_image(stylizer, image, stylize.StylizeOptions(mode="face", image_size=64))
        assert result.image.shape == image.shape and result.image.dtype == np.uint8


def _write_avi(path, frames, size=(32, 24)):
    """An MJPG AVI of random frames, written under an ASCII name and renamed (any name works)."""
    writer = cv2.VideoWriter(str(path.parent / "tmp.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    for index in range(frames):
        writer.write(np.random.default_rng(index).integers(0, 256, (size[1], size[0], 3), np.uint8))
    writer.release()
    os.replace(os.fsencode(path.parent / "tmp.avi"), os.fsencode(path))


def test_video_with_a_name_that_is_not_utf8_and_a_truncated_one(stylizer, tmp_path):
    latin1 = os.fsdecode(hostile_files.LATIN1_STEM)
    source, target = tmp_path / f"{latin1}.avi", tmp_path / f"{latin1}_out.avi"
    _write_avi(source, 12)
    options = stylize.StylizeOptions(mode="full")
    assert stylize.stylize_video(stylizer, source, target, options).frames == 12  # no segfault
    assert stylize.video_frame_count(target) == 12
    data = source.read_bytes()
    source.write_bytes(data[:len(data) * 5 // 12])  # cut: the header still announces 12 frames
    result = stylize.stylize_video(stylizer, source, target, options)
    assert result.frames < result.announced == stylize.video_frame_count(source) == 12
    assert result.stopped is None  # the decoder did not fail: the file ends early
    assert sorted(os.listdir(tmp_path)) == sorted([source.name, target.name])  # no partial left


def test_a_killed_run_leaves_a_hidden_partial_that_the_next_run_replaces(stylizer, tmp_path):
    _write_video(tmp_path / "clip.mp4", 3)
    partial = stylize.partial_video_path(tmp_path / "out.mp4")
    assert partial.name == ".out.partial.mp4"
    partial.write_bytes(b"what kill -9 left")
    stylize.stylize_video(stylizer, tmp_path / "clip.mp4", tmp_path / "out.mp4",
                          stylize.StylizeOptions(mode="full"))
    assert sorted(os.listdir(tmp_path)) == ["clip.mp4", "out.mp4"]


@pytest.mark.slow
def test_cli_a_folder_of_80_good_and_20_hostile_files(weights, tmp_path):
    """Issue 26: all 80 written, the 20 listed with their reasons, exit status 3."""
    good, hostile = hostile_files.write_batch_folder(tmp_path / "in")
    result = subprocess.run(
        [sys.executable, "stylize.py", f"--model={weights}", f"--input={tmp_path / 'in'}",
         f"--output={tmp_path / 'out'}", "--mode=full", "--max_megapixels=1"],
        cwd=REPO, capture_output=True, timeout=300)
    stdout, stderr = (stream.decode("utf-8", "replace") for stream in (result.stdout, result.stderr))
    assert result.returncode == 3, stderr[-3000:]
    written = sorted(set(os.listdir(os.fsencode(tmp_path / "out"))) - {b".stylize_outputs.json"})
    assert len(written) == len(good) == 80
    assert b"a.png" in written and b"a_png.png" in written and b"caf\xe9.png" in written
    assert "note: " in stdout and "a.png -> a_png.png: another input has the same name stem" in stdout
    assert "skipped 20 file(s)" in stderr and "Traceback" not in stderr
    hostile_files.assert_each_listed_with_its_reason(stderr, hostile)
    assert sorted(os.listdir(os.fsencode(tmp_path / "in"))) == sorted(good + list(hostile))


@pytest.mark.slow
def test_cli_never_writes_over_its_input_and_reports_a_truncated_video(weights, tmp_path,
                                                                       run_stylize):
    photo = tmp_path / "photo.png"
    photo.write_bytes(hostile_files.good_image(".png"))
    original = photo.read_bytes()
    for flags, message in [((f"--input={photo}", f"--output={photo}"), "is the input file"),
                           ((f"--input={tmp_path}", f"--output={tmp_path}"), "is the input folder")]:
        result = run_stylize(f"--model={weights}", *flags)
        assert result.returncode == 1 and message in result.stderr, result.stderr[-2000:]
    assert photo.read_bytes() == original
    _write_avi(tmp_path / "clip.avi", 12)
    data = (tmp_path / "clip.avi").read_bytes()
    (tmp_path / "clip.avi").write_bytes(data[:len(data) * 5 // 12])
    result = run_stylize(f"--model={weights}", f"--input={tmp_path / 'clip.avi'}",
                         f"--output={tmp_path / 'out.avi'}")
    assert result.returncode == 3, result.stderr[-2000:]
    assert re.search(r"clip.avi: truncated or damaged: its header announces 12 frames, \d+ could",
                     result.stderr)


@pytest.mark.slow
def test_cli_replaces_its_own_output_but_not_a_users_file(weights, tmp_path, run_stylize):
    photo, out = tmp_path / "photo.png", tmp_path / "photo_anime.png"
    photo.write_bytes(hostile_files.good_image(".png", 20, 24))
    flags = (f"--model={weights}", f"--input={photo}", f"--output={out}", "--mode=full")
    for _ in range(2):  # the same command twice: the second replaces what the first wrote
        result = run_stylize(*flags)
        assert result.returncode == 0, result.stderr[-2000:]
    out.write_bytes(b"retouched by hand")  # now the user's file
    result = run_stylize(*flags)
    assert result.returncode == 1 and "photo_anime.png exists and was not written by stylize.py" \
        in result.stderr and "--overwrite" in result.stderr, result.stderr[-2000:]
    assert out.read_bytes() == b"retouched by hand"
    result = run_stylize(*flags, "--overwrite")
    assert result.returncode == 0 and read_image(out).shape == (20, 24, 3), result.stderr[-2000:]


# Loaded by every Python process of one stylize.py run, the decoding workers too (PYTHONPATH):
# a decoder caught in a loop by a crafted file, for a photo whose bytes end with MARK, at the
# third frame of a video whose name holds MARK, and on the header of one whose name holds
# "HANG-HEADER". No real file is known to hang OpenCV's decoders, so the hang is made here.
_HANGING_DECODER = '''
import time

import cv2

MARK = "HANG-DECODER"
_imdecode, _video_capture = cv2.imdecode, cv2.VideoCapture


def imdecode(data, flags):
    if data.tobytes().endswith(MARK.encode()):
        time.sleep(3600)
    return _imdecode(data, flags)


class VideoCapture:
    def __init__(self, name, *args):
        if "HANG-HEADER" in str(name):
            time.sleep(3600)
        self._capture, self._hangs, self._reads = _video_capture(name, *args), MARK in str(name), 0

    def read(self, *args):
        self._reads += 1
        if self._hangs and self._reads == 3:
            time.sleep(3600)
        return self._capture.read(*args)

    def __getattr__(self, name):
        return getattr(self._capture, name)


cv2.imdecode, cv2.VideoCapture = imdecode, VideoCapture
'''


@pytest.mark.slow
def test_cli_a_photo_or_video_frame_that_hangs_the_decoder_is_named_not_waited_on(weights,
                                                                                  tmp_path):
    """Issue 26: folder mode had a decode timeout, a single photo and a video none (the command
    hung for ever). The photo is refused; a video keeps the frames before the one that hung, and
    one whose header hangs is refused."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_HANGING_DECODER)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(site), REPO] + os.environ.get("PYTHONPATH", "").split(os.pathsep)))
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(hostile_files.good_image(".jpg") + b"HANG-DECODER")
    video, header = tmp_path / "HANG-DECODER.mp4", tmp_path / "HANG-HEADER.mp4"
    _write_video(video, 5)
    _write_video(header, 5)
    # The three commands at once: each waits out its 3 s decode timeout while the others work.
    started = {source.name: subprocess.Popen(
        [sys.executable, "stylize.py", f"--model={weights}", f"--input={source}",
         f"--output={output}", "--decode_timeout=3"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for source, output in ((photo, tmp_path / "o.png"), (video, tmp_path / "o.mp4"),
                               (header, tmp_path / "h.mp4"))}
    results = {}
    try:
        for name, process in started.items():
            stdout, stderr = process.communicate(timeout=150)
            results[name] = subprocess.CompletedProcess(process.args, process.returncode, stdout,
                                                        stderr)
            assert "Traceback" not in stderr
    finally:
        for process in started.values():
            if process.poll() is None:
                process.kill()
    photo_run, video_run = results["photo.jpg"], results[video.name]
    assert photo_run.returncode == 1, photo_run.stderr[-2000:]
    assert "photo.jpg: decoding stopped: still running after 3 s" in photo_run.stderr
    assert not (tmp_path / "o.png").exists()
    assert video_run.returncode == 3, video_run.stderr[-2000:]  # done in part
    assert (f"{video.name}: decoding stopped at frame 3: still running after 3 s" in
            video_run.stderr) and "the 2 frames before it were written" in video_run.stderr
    assert stylize.video_frame_count(tmp_path / "o.mp4") == 2
    header_run = results[header.name]
    assert header_run.returncode == 1, header_run.stderr[-2000:]
    assert (f"{header.name}: decoding stopped on its header: still running after 3 s"
            in header_run.stderr) and not (tmp_path / "h.mp4").exists()
