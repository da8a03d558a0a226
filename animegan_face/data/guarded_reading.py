"""Images of a batch, and the frames of a video, decoded in a worker process, so that a file which
hangs or crashes the decoder costs that file (or the rest of that video) only.

A crafted or damaged file can catch a decoder in a loop (or make it crash): read in the calling
process, it would stall a whole folder for ever (or end it). Here each image is decoded by
``worker_pool`` with a time limit: past it the worker is killed and the file is skipped with its
reason, as is a file whose decoder killed its worker. One worker process reads the whole batch
(``worker_pool.run_in_one_worker``): its start (about 0.5 s on a busy 2-core machine) is paid once,
and again only after a file killed it or was stopped. It decodes up to ``ahead`` images ahead of the
caller (so decoding overlaps the caller's work), and at most that many decoded images are held at
once (each within the pixel budget). A video is read the same way, frame by frame in order.
"""

import itertools

import cv2

from animegan_face.data import image_files, worker_pool

# Seconds one image may take to decode: a 50-megapixel PNG (the default pixel budget) decodes in a
# few seconds even on a busy machine.
DECODE_TIMEOUT_S = 120


def read_images(paths, max_pixels=image_files.DEFAULT_MAX_PIXELS, timeout=DECODE_TIMEOUT_S,
                ahead=8, read=image_files.read_image):
    """Yields ``(path, rgb, reason)`` for each of ``paths``, in order: ``rgb`` the uint8 RGB image
    (``read(path, max_pixels)``, by default ``image_files.read_image``) and ``reason`` None, or
    ``rgb`` None and ``reason`` why the file was skipped (its ``ImageReadError`` reason, a worker
    that died, or one still decoding after ``timeout`` seconds).

    ``read`` must be a module-level function (the worker imports it).
    """
    paths = list(paths)
    items = [(read, path, max_pixels) for path in paths]
    outcomes = worker_pool.run_in_one_worker(_read_or_reason, items, timeout, ahead)
    for path, outcome in zip(paths, outcomes):
        if isinstance(outcome, worker_pool.WorkerDied):
            yield path, None, f"decoding stopped: {outcome.reason}"
        elif isinstance(outcome, str):
            yield path, None, outcome
        else:
            yield path, outcome, None


def _read_or_reason(item):
    """In the worker: the image, or the reason it cannot be read (a string)."""
    read, path, max_pixels = item
    try:
        return read(path, max_pixels)
    except image_files.ImageReadError as error:
        return error.reason


class DecodingStopped(Exception):
    """The decoder crashed or hung on a video; ``reason`` says which and where."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class VideoReader:
    """A video decoded in one worker process (one start per video), up to ``ahead`` frames ahead
    of the caller. Its header is read on construction: ``opened`` (False when OpenCV cannot open
    it), ``fps`` and ``announced`` (the frame count it declares; 0 where it does not). Then
    ``frames()``. Use it in a ``with`` block, which stops the worker.

    Each decoded frame is copied from the worker (about 13 ms at 1280x720, 28 ms at 1920x1080 on
    a busy 2-core machine: bench/guarded_reading.py), against a second or more to stylise it.

    Raises:
        DecodingStopped: the decoder crashed on the header, or was at work after ``timeout`` s.
    """

    def __init__(self, path, timeout=DECODE_TIMEOUT_S, ahead=4):
        items = itertools.chain([(path, None)], ((path, index) for index in itertools.count()))
        self._outcomes = worker_pool.run_in_one_worker(_read_video, items, timeout, ahead)
        header = next(self._outcomes)
        if isinstance(header, worker_pool.WorkerDied):
            self.close()
            raise DecodingStopped(f"decoding stopped on its header: {header.reason}")
        self.opened = header is not None
        self.fps, self.announced = header or (0.0, 0)

    def frames(self):
        """Yields the frames as uint8 RGB arrays, until the first that OpenCV cannot read.

        Raises:
            DecodingStopped: the decoder crashed on a frame, or was at work on one after
                ``timeout`` s (the frames before it were yielded).
        """
        for index, outcome in enumerate(self._outcomes):
            if isinstance(outcome, worker_pool.WorkerDied):
                raise DecodingStopped(f"decoding stopped at frame {index + 1}: {outcome.reason}")
            if outcome is None:
                return
            yield outcome

    def close(self):
        self._outcomes.close()  # the worker has read ahead: stopped now, not when collected

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


_VIDEO = {}  # in the worker: the video being read, its capture and the index of its next frame


def _read_video(item):
    """In the worker. ``(path, None)``: the header, ``(fps, frame count)``, or None when OpenCV
    cannot open the video. ``(path, index)``: that frame as RGB, or None past the last. Frames are
    read in order from one capture; any other index (a new worker) opens the video again and
    skips to it."""
    path, index = item
    if index is None or _VIDEO.get("path") != path or _VIDEO.get("next") != index:
        if "capture" in _VIDEO:
            _VIDEO["capture"].release()
        with image_files.opencv_path(path) as name:
            _VIDEO.update(path=path, capture=cv2.VideoCapture(name), next=0)
        capture = _VIDEO["capture"]
        if index is None:
            if not capture.isOpened():
                return None
            return (capture.get(cv2.CAP_PROP_FPS) or 0.0,
                    max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT))))
        while _VIDEO["next"] < index:
            if not capture.grab():
                return None
            _VIDEO["next"] += 1
    ok, bgr = _VIDEO["capture"].read()
    if not ok:
        return None
    _VIDEO["next"] += 1
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
