"""Dataset preparation: photos and anime images in, a training-ready folder out.

Output layout (``data.py``'s input pipeline reads exactly this)::

    output_dir/photo/<stem>.jpg      every readable photo, centre-cropped and resized to image_size;
                                     with crop_faces, one face crop per detected face instead:
                                     <stem>.jpg (best score), <stem>_face1.jpg, <stem>_face2.jpg, ...
    output_dir/anime/<stem>.jpg      every readable anime image, centre-cropped and resized
    output_dir/smooth/<stem>.jpg     edge_smooth() of the anime image with the same stem
    output_dir/faces.json            {"image_size": N, "boxes": {"<photo file name>": [y0, x0, y1, x1]
                                     or null}}: best face box of each file in photo/, its pixel edges
                                     divided by the image size (see faces.FaceBox.normalized)
    output_dir/prepare_report.json   PrepareReport fields, the settings and an input fingerprint

JPEG quality is 95. faces.json and prepare_report.json are written last, each atomically, and both
are removed before any other work starts: their presence means a preparation that finished.
"""

import dataclasses
import hashlib
import json
import multiprocessing
import os
import pathlib
import re
import sys
import time

import cv2
import numpy as np

from animegan_face.data import face_alignment
from animegan_face.data import face_finder
from animegan_face.data import faces
from animegan_face.data import image_files

JPEG_QUALITY = 95
FACES_FILE = "faces.json"
REPORT_FILE = "prepare_report.json"
PHOTO_FOLDER, ANIME_FOLDER, SMOOTH_FOLDER = "photo", "anime", "smooth"

# Bumped whenever the output for the same inputs and settings changes, to invalidate old caches.
# 2: faces checked by the landmark model (face_finder), face crops aligned (face_alignment).
_FORMAT_VERSION = 2
_SMOOTH_KERNEL_SIZE = 5
_FACE_NAME = re.compile(r"_face\d+$")
# edge_smooth gathers 5x5x3 float64 windows per edge pixel (600 bytes); this bounds it to ~40 MB.
_SMOOTH_CHUNK_PIXELS = 65536


@dataclasses.dataclass(frozen=True)
class PrepareReport:
    """What a preparation did.

    Attributes:
        photos_read: photos that decoded.
        photos_written: files written to photo/ (with crop_faces: face crops, 0..n per photo).
        anime_read: anime images that decoded (each wrote anime/ and smooth/ files).
        skipped: ``((path, reason), ...)`` of every input image that could not be read.
        photos_without_face: input file names of photos with no detected face; they still train
            the AnimeGAN losses (face losses masked), except with crop_faces, where they give no crop.
    """

    photos_read: int
    photos_written: int
    anime_read: int
    skipped: tuple = ()
    photos_without_face: tuple = ()

    def summary(self, max_names=50):
        """A few lines for humans: counts, every skipped file with its reason, faceless photos."""
        lines = [
            f"photos: {self.photos_read} read, {self.photos_written} written",
            f"anime images: {self.anime_read} read and smoothed",
        ]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} unreadable image(s):")
            lines += [f"  {path}: {reason}" for path, reason in self.skipped]
        if self.photos_without_face:
            names = self.photos_without_face
            lines.append(f"{len(names)} photo(s) without a detected face:")
            lines += [f"  {name}" for name in names[:max_names]]
            if len(names) > max_names:
                lines.append(f"  ... and {len(names) - max_names} more (see {REPORT_FILE})")
        return "\n".join(lines)


def center_crop_resize(rgb, size):
    """The largest centred square of ``rgb``, resized to ``size x size`` (`image_files.resize_square`).

    Returns:
        ``(image, (y0, x0, h, w))``: the uint8 ``size x size x 3`` image and the crop window in
        source pixels (``h == w == min(H, W)``), to map source coordinates into the image:
        ``y_out = (y - y0) * size / h``.
    """
    height, width = rgb.shape[:2]
    side = min(height, width)
    y0, x0 = (height - side) // 2, (width - side) // 2
    square = rgb[y0:y0 + side, x0:x0 + side]
    return image_files.resize_square(square, size), (y0, x0, side, side)


def edge_smooth(rgb):
    """AnimeGAN / CartoonGAN edge smoothing of a uint8 RGB image (already training size).

    ``edges = Canny(gray, 100, 200)`` dilated by a 5 x 5 ones kernel; each pixel under the dilated
    edges becomes, per channel, ``sum(padded[y:y+5, x:x+5, c] * G)`` with ``G`` the outer product of
    ``getGaussianKernel(5, 0)`` and ``padded`` the image reflect-padded by 2 (``np.pad`` 'reflect');
    other pixels are unchanged. Like the reference, which assigns the float64 sum into a uint8
    array, the sum is **truncated** (not rounded) to uint8; the sums are formed in the same order
    as the reference's ``np.sum`` over each 5 x 5 window, so the result is bit-identical to it.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected a uint8 HxWx3 RGB array, got {rgb.dtype} {rgb.shape}")
    k = _SMOOTH_KERNEL_SIZE
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    dilation = cv2.dilate(cv2.Canny(gray, 100, 200), np.ones((k, k), np.uint8))
    gaussian_1d = cv2.getGaussianKernel(k, 0)
    gaussian = gaussian_1d * gaussian_1d.T
    padded = np.pad(rgb, ((k // 2, k // 2), (k // 2, k // 2), (0, 0)), mode="reflect")
    # (H, W, 3, 5, 5): the window of every output pixel, as a view (no copy).
    windows = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(0, 1))
    ys, xs = np.nonzero(dilation)
    smoothed = rgb.copy()
    for start in range(0, len(ys), _SMOOTH_CHUNK_PIXELS):
        y, x = ys[start:start + _SMOOTH_CHUNK_PIXELS], xs[start:start + _SMOOTH_CHUNK_PIXELS]
        # Contiguous rows of 25 products summed along the last axis: numpy's pairwise sum in the
        # same order as the reference's np.sum of one 5 x 5 window.
        products = (windows[y, x] * gaussian).reshape(len(y), 3, k * k)
        smoothed[y, x] = products.sum(axis=-1).astype(np.uint8)
    return smoothed


def prepare_dataset(photo_dir, anime_dir, output_dir, image_size=256, crop_faces=False,
                    face_margin=face_alignment.DEFAULT_MARGIN, upsample=1, num_workers=None, force=False, progress=True,
                    exclude_photos=()):
    """Builds the training folder described in this module's docstring.

    Photos and anime images of any size and any format OpenCV reads are centre-cropped to a
    square and resized to ``image_size``. Faces are found on the source photo (dlib HOG,
    ``upsample`` doublings, longest side at most 1024, each checked by the landmark model:
    ``face_finder.find_faces``) and the best one that lies at least half inside the crop is
    stored in faces.json. With ``crop_faces``, each face gives an aligned crop instead of the
    centre crop (``face_alignment.aligned_face`` with margin ``face_margin``: eyes level, the
    framing stylize.py's face mode uses). Unreadable images are skipped and reported.

    If prepare_report.json shows the same settings and the same inputs (names, sizes, mtimes),
    nothing is redone and the stored report is returned, unless ``force``. Otherwise ``.jpg``
    files in photo/, anime/ and smooth/ that this run does not produce are deleted.

    Args:
        num_workers: worker processes; default ``os.cpu_count()``; 1 works in this process.
            Workers are started with forkserver (spawn where missing), which re-imports the
            calling script: a script calling this needs the ``if __name__ == "__main__":`` guard.
        progress: print a progress line on stderr.
        exclude_photos: file names in ``photo_dir`` to leave out (e.g. a held-out evaluation
            set); a name that is not there raises ValueError, so a typo cannot leak a photo.

    Raises:
        FileNotFoundError: an input folder does not exist.
        ValueError: an input folder holds no (readable) image, crop_faces found no face at all,
            an output folder would be an input folder, or a setting is out of range.
    """
    photo_dir, anime_dir = pathlib.Path(photo_dir), pathlib.Path(anime_dir)
    output_dir = pathlib.Path(output_dir)
    _check_settings(image_size, face_margin, upsample, num_workers)
    _check_folders_distinct(photo_dir, anime_dir, output_dir)
    photos, animes = _list_nonempty(photo_dir), _list_nonempty(anime_dir)
    photos = _exclude(photos, exclude_photos, photo_dir)
    settings = {
        "format_version": _FORMAT_VERSION, "photo_dir": str(photo_dir.resolve()),
        "anime_dir": str(anime_dir.resolve()), "image_size": int(image_size),
        "crop_faces": bool(crop_faces), "face_margin": float(face_margin),
        "upsample": int(upsample), "jpeg_quality": JPEG_QUALITY,
        "excluded_photos": sorted(set(exclude_photos)),
    }
    fingerprint = _fingerprint(photos, animes)

    # Reuse a finished preparation of the same inputs with the same settings.
    if not force:
        cached = _cached_report(output_dir, settings, fingerprint)
        if cached is not None:
            return cached

    # Withdraw the "finished" markers first, so that a killed run cannot look complete.
    (output_dir / REPORT_FILE).unlink(missing_ok=True)
    (output_dir / FACES_FILE).unlink(missing_ok=True)

    # Decode, crop, detect, smooth and write, in worker processes.
    tasks = _make_tasks(photos, animes, output_dir, settings)
    results = sorted(_run_tasks(tasks, num_workers, progress), key=lambda result: result.source)

    # Fail on unusable sets before declaring anything finished.
    report, boxes = _collect(results)
    _check_usable(report, photo_dir, anime_dir, crop_faces)

    # Remove outputs of earlier runs that this run did not produce, then the markers, report last.
    _remove_stale_outputs(output_dir, results)
    faces_json = {"image_size": int(image_size), "boxes": dict(sorted(boxes.items()))}
    _write_json(output_dir / FACES_FILE, faces_json)
    stored = dict(dataclasses.asdict(report), settings=settings, fingerprint=fingerprint)
    _write_json(output_dir / REPORT_FILE, stored)
    return report


# ---------------------------------------------------------------------------------------------
# Work items, run in worker processes.


@dataclasses.dataclass(frozen=True)
class _PhotoTask:
    source: pathlib.Path
    name: str  # output stem
    output_dir: pathlib.Path
    image_size: int
    crop_faces: bool
    face_margin: float
    upsample: int


@dataclasses.dataclass(frozen=True)
class _AnimeTask:
    source: pathlib.Path
    name: str
    output_dir: pathlib.Path
    image_size: int


@dataclasses.dataclass(frozen=True)
class _Result:
    source: str
    kind: str  # "photo" or "anime"
    outputs: dict  # {folder: {file name: normalised box or None}}
    skip_reason: str = None
    without_face: bool = False


def _run_task(task):
    try:
        rgb = image_files.read_image(task.source)
    except image_files.ImageReadError as error:
        kind = "photo" if isinstance(task, _PhotoTask) else "anime"
        return _Result(str(task.source), kind, {}, skip_reason=error.reason)
    if isinstance(task, _PhotoTask):
        return _prepare_photo(task, rgb)
    return _prepare_anime(task, rgb)


def _prepare_photo(task, rgb):
    found = face_finder.find_faces(rgb, upsample=task.upsample)
    boxes = [face.box for face in found]
    folder = task.output_dir / PHOTO_FOLDER
    written = {}
    if task.crop_faces:
        for index, face in enumerate(found):
            name = task.name + (f"_face{index}" if index else "") + ".jpg"
            crop, _ = face_alignment.aligned_face(
                rgb, face.landmarks, task.image_size, task.face_margin)
            image_files.write_image(folder / name, crop, JPEG_QUALITY)
            written[name] = list(face_alignment.face_box_in_crop(task.face_margin))
    else:
        image, window = center_crop_resize(rgb, task.image_size)
        name = task.name + ".jpg"
        image_files.write_image(folder / name, image, JPEG_QUALITY)
        inside = (_box_in_output(box, window, task.image_size) for box in boxes)
        written[name] = next((box for box in inside if box is not None), None)
    without_face = not any(box is not None for box in written.values())
    return _Result(str(task.source), "photo", {PHOTO_FOLDER: written}, without_face=without_face)


def _prepare_anime(task, rgb):
    image, _ = center_crop_resize(rgb, task.image_size)
    name = task.name + ".jpg"
    image_files.write_image(task.output_dir / ANIME_FOLDER / name, image, JPEG_QUALITY)
    image_files.write_image(task.output_dir / SMOOTH_FOLDER / name, edge_smooth(image), JPEG_QUALITY)
    return _Result(str(task.source), "anime", {ANIME_FOLDER: {name: None}, SMOOTH_FOLDER: {name: None}})


def _box_in_output(box, window, size):
    """``box`` (source pixels) in a ``size x size`` output cut from ``window``, normalised.

    None when less than half of the box lies inside the window (a face cut off by the crop).
    """
    y0, x0, height, width = window
    top, left = max(box.top, y0), max(box.left, x0)
    bottom, right = min(box.bottom, y0 + height), min(box.right, x0 + width)
    if bottom <= top or right <= left or (bottom - top) * (right - left) < 0.5 * box.width * box.height:
        return None
    scale_y, scale_x = size / height, size / width
    out_top = min(size - 1, int(round((top - y0) * scale_y)))
    out_left = min(size - 1, int(round((left - x0) * scale_x)))
    in_output = faces.FaceBox(
        left=out_left, top=out_top,
        right=max(out_left + 1, min(size, int(round((right - x0) * scale_x)))),
        bottom=max(out_top + 1, min(size, int(round((bottom - y0) * scale_y)))),
        score=box.score,
    )
    return [round(value, 6) for value in in_output.normalized(size, size)]


# ---------------------------------------------------------------------------------------------
# Driver helpers, run in the calling process.


def _check_settings(image_size, face_margin, upsample, num_workers):
    if int(image_size) != image_size or image_size < 8:
        raise ValueError(f"image_size must be an integer >= 8, got {image_size}")
    if face_margin < 0:
        raise ValueError(f"face_margin must be >= 0, got {face_margin}")
    if int(upsample) != upsample or upsample < 0:
        raise ValueError(f"upsample must be an integer >= 0, got {upsample}")
    if num_workers is not None and (int(num_workers) != num_workers or num_workers < 1):
        raise ValueError(f"num_workers must be an integer >= 1, got {num_workers}")


def _check_folders_distinct(photo_dir, anime_dir, output_dir):
    inputs = {photo_dir.resolve(), anime_dir.resolve()}
    for folder in (PHOTO_FOLDER, ANIME_FOLDER, SMOOTH_FOLDER):
        if (output_dir / folder).resolve() in inputs:
            raise ValueError(
                f"output folder {output_dir / folder} is an input folder; preparation would "
                f"overwrite the originals: choose another output_dir (e.g. {output_dir}_prepared)")


def _list_nonempty(folder):
    paths = image_files.list_images(folder)
    if not paths:
        raise ValueError(
            f"no image files in {folder} (extensions: {', '.join(sorted(image_files.IMAGE_EXTENSIONS))})")
    return paths


def _exclude(photos, names, photo_dir):
    """`photos` without the files named in `names`; ValueError names any that is not there."""
    names = set(names)
    missing = sorted(names - {path.name for path in photos})
    if missing:
        raise ValueError(f"photos to exclude not found in {photo_dir}: {', '.join(missing[:5])}"
                         + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
    kept = [path for path in photos if path.name not in names]
    if not kept:
        raise ValueError(f"every photo in {photo_dir} is excluded: nothing left to train on")
    return kept


def _fingerprint(photos, animes):
    """sha256 over (folder role, file name, size, mtime in ns) of every input image."""
    digest = hashlib.sha256()
    for role, paths in (("photo", photos), ("anime", animes)):
        for path in paths:
            status = path.stat()
            digest.update(b"\0".join([role.encode(), os.fsencode(path.name),
                                      str(status.st_size).encode(), str(status.st_mtime_ns).encode()]))
            digest.update(b"\n")
    return digest.hexdigest()


def _cached_report(output_dir, settings, fingerprint):
    """The stored report if it matches and its outputs are all there; otherwise None."""
    try:
        stored = json.loads((output_dir / REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if stored.get("settings") != settings or stored.get("fingerprint") != fingerprint:
        return None
    report = PrepareReport(
        photos_read=stored["photos_read"], photos_written=stored["photos_written"],
        anime_read=stored["anime_read"],
        skipped=tuple(tuple(item) for item in stored["skipped"]),
        photos_without_face=tuple(stored["photos_without_face"]),
    )
    # Someone may have deleted outputs since; counting files is cheap next to redoing the work.
    expected = {PHOTO_FOLDER: report.photos_written, ANIME_FOLDER: report.anime_read,
                SMOOTH_FOLDER: report.anime_read}
    for folder, count in expected.items():
        if len(list((output_dir / folder).glob("*.jpg"))) != count:
            return None
    if not (output_dir / FACES_FILE).is_file():
        return None
    return report


def _output_names(paths, crop_faces):
    """Unique output stems for ``paths``: the file stem, or ``<stem>_<ext>[n]`` on a collision.

    Names are compared case-insensitively (a.JPG and A.png collide on macOS and Windows). With
    crop_faces, a stem already ending in ``_face<n>`` gets a trailing ``_`` so that it cannot
    collide with the ``<stem>_face<n>`` crops of another photo.
    """
    taken, names = set(), {}
    for path in paths:
        stem = path.stem + ("_" if crop_faces and _FACE_NAME.search(path.stem) else "")
        candidate, counter = stem, 0
        while candidate.casefold() in taken:
            counter += 1
            candidate = f"{stem}_{path.suffix[1:].lower()}" + (str(counter) if counter > 1 else "")
        taken.add(candidate.casefold())
        names[path] = candidate
    return names


def _make_tasks(photos, animes, output_dir, settings):
    tasks = [
        _PhotoTask(path, name, output_dir, settings["image_size"], settings["crop_faces"],
                   settings["face_margin"], settings["upsample"])
        for path, name in _output_names(photos, settings["crop_faces"]).items()
    ]
    tasks += [
        _AnimeTask(path, name, output_dir, settings["image_size"])
        for path, name in _output_names(animes, crop_faces=False).items()
    ]
    return tasks


def _run_tasks(tasks, num_workers, show_progress):
    """Runs every task, in this process when num_workers is 1, else in a process pool."""
    num_workers = min(num_workers or os.cpu_count() or 1, len(tasks))
    progress = _Progress(len(tasks), show_progress)
    results = []
    if num_workers == 1:
        for task in tasks:
            results.append(_run_task(task))
            progress.update(len(results))
    else:
        # forkserver/spawn, not fork: the caller may hold threads (OpenCV's, TensorFlow's) that a
        # fork would copy in a locked state.
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        chunksize = max(1, min(16, len(tasks) // (4 * num_workers)))
        with multiprocessing.get_context(method).Pool(num_workers, _init_worker) as pool:
            for result in pool.imap_unordered(_run_task, tasks, chunksize):
                results.append(result)
                progress.update(len(results))
    progress.close()
    return results


def _init_worker():
    # One OpenCV thread per worker process: the pool already uses every core.
    cv2.setNumThreads(1)


def _collect(results):
    """Results -> (PrepareReport, {photo file name: normalised box or None})."""
    boxes = {}
    counts = {"photo": 0, "anime": 0}
    for result in results:
        boxes.update(result.outputs.get(PHOTO_FOLDER, {}))
        counts[result.kind] += result.skip_reason is None
    report = PrepareReport(
        photos_read=counts["photo"],
        photos_written=len(boxes),
        anime_read=counts["anime"],
        skipped=tuple((r.source, r.skip_reason) for r in results if r.skip_reason is not None),
        photos_without_face=tuple(
            pathlib.Path(r.source).name for r in results if r.kind == "photo" and r.without_face),
    )
    return report, boxes


def _check_usable(report, photo_dir, anime_dir, crop_faces):
    if report.photos_read == 0:
        raise ValueError(f"no readable photo in {photo_dir}:\n{report.summary()}")
    if report.anime_read == 0:
        raise ValueError(f"no readable anime image in {anime_dir}:\n{report.summary()}")
    if crop_faces and report.photos_written == 0:
        raise ValueError(f"crop_faces: no face detected in any photo of {photo_dir}")


def _remove_stale_outputs(output_dir, results):
    """Deletes .jpg files and leftover temporary files this run did not write."""
    produced = {PHOTO_FOLDER: set(), ANIME_FOLDER: set(), SMOOTH_FOLDER: set()}
    for result in results:
        for folder, names in result.outputs.items():
            produced[folder].update(names)
    for folder, names in produced.items():
        if not (output_dir / folder).is_dir():
            continue
        for path in (output_dir / folder).iterdir():
            stale_image = path.suffix == ".jpg" and path.name not in names
            leftover = path.name.startswith(".") and path.suffix == ".tmp"
            if (stale_image or leftover) and path.is_file():
                path.unlink()


def _write_json(path, content):
    text = json.dumps(content, indent=1, ensure_ascii=False) + "\n"
    image_files.write_file_atomic(path, text.encode("utf-8"), fsync=True)


class _Progress:
    """``prepare: 120/400 images, 35.2 images/s`` on stderr, redrawn at most 5 times a second.

    Our own instead of keras.utils.Progbar: importing keras costs seconds and pulls in TensorFlow.
    """

    def __init__(self, total, enabled, stream=None):
        self.total, self.enabled = total, enabled
        self.stream = stream or sys.stderr
        self.start = self.last_draw = time.monotonic()
        self.done = 0

    def update(self, done):
        self.done = done
        now = time.monotonic()
        if self.enabled and now - self.last_draw >= 0.2:
            self.last_draw = now
            self._draw(now, end="")

    def close(self):
        if self.enabled:
            self._draw(time.monotonic(), end="\n")

    def _draw(self, now, end):
        rate = self.done / max(now - self.start, 1e-9)
        self.stream.write(f"\rprepare: {self.done}/{self.total} images, {rate:.1f} images/s{end}")
        self.stream.flush()
