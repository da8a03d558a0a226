"""Images of a batch decoded in a worker process, so that a file which hangs or crashes the decoder
costs that file only.

A crafted or damaged file can catch a decoder in a loop (or make it crash): read in the calling
process, it would stall a whole folder for ever (or end it). Here each image is decoded by
``worker_pool`` with a time limit: past it the worker is killed and the file is skipped with its
reason, as is a file whose decoder killed its worker. Images come back ``chunk`` at a time, one
worker process per chunk: at most that many decoded images are held at once (each within the
pixel budget), and each chunk pays one worker start (about 0.5 s on a busy 2-core machine).
"""

from animegan_face.data import image_files, worker_pool

# Seconds one image may take to decode: a 50-megapixel PNG (the default pixel budget) decodes in a
# few seconds even on a busy machine.
DECODE_TIMEOUT_S = 120


def read_images(paths, max_pixels=image_files.DEFAULT_MAX_PIXELS, timeout=DECODE_TIMEOUT_S,
                chunk=8, read=image_files.read_image):
    """Yields ``(path, rgb, reason)`` for each of ``paths``, in order: ``rgb`` the uint8 RGB image
    (``read(path, max_pixels)``, by default ``image_files.read_image``) and ``reason`` None, or
    ``rgb`` None and ``reason`` why the file was skipped (its ``ImageReadError`` reason, a worker
    that died, or one still decoding after ``timeout`` seconds).

    ``read`` must be a module-level function (the worker imports it).
    """
    paths = list(paths)
    for start in range(0, len(paths), chunk):
        part = paths[start:start + chunk]
        items = [(read, path, max_pixels) for path in part]
        outcomes = worker_pool.run_items(_read_or_reason, items, 1, item_timeout=timeout)
        for path, outcome in zip(part, outcomes):
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
