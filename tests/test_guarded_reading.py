"""Tests for animegan_face.data.guarded_reading: a file that hangs the decoder costs itself only."""

import os
import signal
import time

import numpy as np

from animegan_face.data import guarded_reading, image_files
from tests import hostile_files


def read_or_hang(path, max_pixels):
    """Module level: the worker imports it. A name holding "hang" never decodes (a decoder caught
    in a loop by a crafted file); the rest are read as stylize.py reads them."""
    if "hang" in path.name:
        time.sleep(3600)
    return image_files.read_image(path, max_pixels)


def test_a_hanging_file_is_stopped_and_the_others_are_read_in_order(tmp_path):
    names = ["a.png", "b_hang.png", "c.png", "d.jpg", "e.png", "f_hang.png"]
    for index, name in enumerate(names):
        (tmp_path / name).write_bytes(hostile_files.good_image(name[-4:], 10 + index, 12))
    (tmp_path / "d.jpg").write_bytes(b"not an image at all")
    started = time.monotonic()
    results = list(guarded_reading.read_images([tmp_path / name for name in names], timeout=2,
                                               ahead=4, read=read_or_hang))
    # Two hangs of 2 s each plus worker starts; a hang not stopped would never return.
    assert time.monotonic() - started < 120
    assert [path.name for path, _, _ in results] == names
    for index, (path, rgb, reason) in enumerate(results):
        if "hang" in path.name:
            assert rgb is None and "still running after 2 s" in reason, reason
        elif path.name == "d.jpg":
            assert rgb is None and reason == "not an image OpenCV can decode", reason
        else:
            assert reason is None and rgb.dtype == np.uint8 and rgb.shape == (10 + index, 12, 3)


def pid_or_die(path, max_pixels):
    """Module level: the worker imports it. The worker's process id in place of an image; a name
    holding "crash" kills the worker (a decoder that segfaults), one holding "hang" never returns."""
    del max_pixels
    if "crash" in path.name:
        os.kill(os.getpid(), signal.SIGSEGV)
    if "hang" in path.name:
        time.sleep(3600)
    return os.getpid()


def test_one_worker_reads_the_batch_and_is_replaced_only_after_a_crash_or_a_hang(tmp_path):
    # Issue 26: one worker process per 8 images cost a start (~0.5 s) each; now one worker reads
    # everything, and a new one starts only after a file killed it or was stopped.
    names = ([f"{index:02d}.png" for index in range(12)] + ["crash.png", "12.png", "13.png"]
             + ["hang.png", "14.png", "15.png"])
    results = list(guarded_reading.read_images([tmp_path / name for name in names], timeout=2,
                                               ahead=4, read=pid_or_die))
    assert [path.name for path, _, _ in results] == names
    reasons = {path.name: reason for path, _, reason in results if reason}
    assert set(reasons) == {"crash.png", "hang.png"}
    assert reasons["crash.png"].startswith("decoding stopped: the worker process died")
    assert "still running after 2 s" in reasons["hang.png"]
    pids = [pid for _, pid, _ in results]
    assert len(set(pids[:12])) == 1 and len(set(pids[13:15])) == 1 and len(set(pids[16:])) == 1
    assert len({pids[0], pids[13], pids[16]}) == 3  # a fresh worker after each


def test_video_frames_come_from_the_worker_as_opencv_reads_them(tmp_path):
    import cv2

    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    for index in range(5):
        writer.write(np.full((24, 32, 3), (40 * index, 80, 200 - 30 * index), np.uint8))
    writer.release()
    capture = cv2.VideoCapture(str(path))
    expected = [cv2.cvtColor(capture.read()[1], cv2.COLOR_BGR2RGB) for _ in range(5)]
    capture.release()
    with guarded_reading.VideoReader(path, ahead=2) as video:
        assert (video.opened, video.fps, video.announced) == (True, 10.0, 5)
        frames = list(video.frames())
    assert len(frames) == 5 and all(np.array_equal(a, b) for a, b in zip(frames, expected))
    (tmp_path / "text.avi").write_text("not a video")
    with guarded_reading.VideoReader(tmp_path / "text.avi") as video:
        assert (video.opened, video.announced, list(video.frames())) == (False, 0, [])
