"""Images of a batch decoded in a worker process, so that a file which hangs or crashes the decoder
costs that file only.

A crafted or damaged file can catch a decoder in a loop (or make it crash): read in the calling
process, it would stall a whole folder for ever (or end it). Here each image is decoded by
``worker_pool`` with a time limit: past it the worker is killed and the file is skipped with its
reason, as is a file whose decoder killed its worker. One worker process reads the whole batch
(``worker_pool.run_in_one_worker``): its start (about 0.5 s on a busy 2-core machine) is paid once,
and again only after a file killed it or was stopped. It decodes up to ``ahead`` images ahead of the
caller (so decoding overlaps the caller's work), and at most that many decoded images are held at
once (each within the pixel budget).
"""

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


def probe_video(path, timeout=DECODE_TIMEOUT_S):
    """Opens the video at ``path`` and decodes its first frame in a worker process: None when that
    ends (whether or not a frame could be read: the caller reports that itself), else why the
    decoder must not be trusted with it (it crashed, or was still at work after ``timeout`` s).

    Only the header and first frame are guarded: the later frames are decoded in the caller's
    process (frame by frame through a worker would add a copy of every frame between processes).
    """
    [outcome] = worker_pool.run_in_one_worker(_open_and_read_one_frame, [path], timeout)
    return f"decoding stopped: {outcome.reason}" if isinstance(outcome, worker_pool.WorkerDied) else None


def _open_and_read_one_frame(path):
    """In the worker."""
    with image_files.opencv_path(path) as name:
        capture = cv2.VideoCapture(name)
        try:
            if capture.isOpened():
                capture.read()
        finally:
            capture.release()
