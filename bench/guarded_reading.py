"""Folder-mode decoding in stylize.py: one worker process per 8 images against one long-lived
worker (issue 26).

    python bench/guarded_reading.py --images=64 --size=64 --rounds=3

Writes --images random PNGs of --size x --size into a temporary folder and reads them all with
`guarded_reading.read_images`, as stylize.py's folder mode does (each image decoded in a worker
process under the --decode_timeout guard), two ways, interleaved round by round:
  per_chunk    one read_images call per --chunk images: a new worker process for each chunk, as
               before issue 26 item 4 (the old code started one per chunk of 8);
  one_worker   one read_images call for the folder: one worker, reused across the folder.
Prints seconds per folder (median over --rounds) and the ratio per_chunk / one_worker.

Then what guarding every frame of a video would add: the copy of each decoded frame from a worker
process to the caller. For each of --frame_sizes, --frames frames are made in one long-lived
worker and handed back (`worker_pool.run_in_one_worker`), against the same frames made in this
process; the difference per frame is the price of such a guard.
"""

import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from animegan_face.data import image_files, worker_pool  # noqa: E402
from animegan_face.data.guarded_reading import read_images  # noqa: E402

flags.DEFINE_integer("images", 64, "Images in the generated folder.")
flags.DEFINE_integer("size", 64, "Their side in pixels.")
flags.DEFINE_integer("chunk", 8, "per_chunk: images per worker process (the old code's 8).")
flags.DEFINE_integer("rounds", 3, "Timed rounds of each variant, interleaved.")
flags.DEFINE_list("frame_sizes", ["1280x720", "1920x1080"], "Frame sizes, WxH, for the copy of "
                  "decoded video frames between processes.")
flags.DEFINE_integer("frames", 30, "Frames per size.")
FLAGS = flags.FLAGS


def make_frame(item):
    """Module level: the worker imports it. A uint8 frame of ``item`` = (height, width, value)."""
    height, width, value = item
    return np.full((height, width, 3), value % 256, np.uint8)


def _frame_copy_ms(height, width):
    """Milliseconds per frame made in a worker and copied here, and made here: timed from the
    first frame to the last, so the worker's start (paid once per video) is left out."""
    items = [(height, width, value) for value in range(FLAGS.frames + 1)]
    timings = []
    for produce in (lambda: worker_pool.run_in_one_worker(make_frame, items),
                    lambda: map(make_frame, items)):
        values = []
        for frame in produce():
            values.append(int(frame[0, 0, 0]))
            if len(values) == 1:
                started = time.perf_counter()
        assert values == [value % 256 for value in range(FLAGS.frames + 1)]
        timings.append(1000 * (time.perf_counter() - started) / FLAGS.frames)
    return timings


def _read_all(paths, chunk):
    """Seconds to read every path, in one read_images call per ``chunk`` paths."""
    started = time.perf_counter()
    for start in range(0, len(paths), chunk):
        for path, rgb, reason in read_images(paths[start:start + chunk]):
            if rgb is None:
                raise RuntimeError(f"{path}: {reason}")
    return time.perf_counter() - started


def main(argv):
    del argv
    random = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for index in range(FLAGS.images):
            path = os.path.join(folder, f"{index:03d}.png")
            pixels = random.integers(0, 256, (FLAGS.size, FLAGS.size, 3), dtype=np.uint8)
            image_files.write_file_atomic(path, image_files.encode_image(path, pixels))
            paths.append(path)
        variants = {"per_chunk": FLAGS.chunk, "one_worker": len(paths)}
        _read_all(paths[:1], 1)  # starts the forkserver, which both variants then share
        times = {name: [] for name in variants}
        for _ in range(FLAGS.rounds):
            for name, chunk in variants.items():
                times[name].append(_read_all(paths, chunk))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"{FLAGS.images} PNGs of {FLAGS.size}x{FLAGS.size}, median of {FLAGS.rounds} rounds")
    print("| variant | worker starts | s per folder | ms per image | ratio to one_worker |")
    print("| --- | --- | --- | --- | --- |")
    for name, chunk in variants.items():
        starts = -(-FLAGS.images // chunk)
        print(f"| {name} | {starts} | {medians[name]:.2f} | "
              f"{1000 * medians[name] / FLAGS.images:.1f} | "
              f"{medians[name] / medians['one_worker']:.2f} |")
    print(f"\nvideo frames handed over by a worker process ({FLAGS.frames} per size after the "
          f"first; the worker's start, once per video, not counted)")
    print("| frame | ms per frame, through a worker | ms per frame, here | copy ms per frame |")
    print("| --- | --- | --- | --- |")
    for size in FLAGS.frame_sizes:
        width, height = (int(side) for side in size.split("x"))
        through, here = _frame_copy_ms(height, width)
        print(f"| {width}x{height} | {through:.1f} | {here:.1f} | {through - here:.1f} |")


if __name__ == "__main__":
    app.run(main)
