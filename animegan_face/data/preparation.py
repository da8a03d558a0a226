"""Dataset preparation: photos and anime images in, a training-ready folder out.

Output layout (``data.py``'s input pipeline reads exactly this)::

    output_dir/photo/<stem>.jpg      every readable photo, centre-cropped and resized to image_size;
                                     with crop_faces, one face crop per detected face instead:
                                     <stem>.jpg (best score), <stem>_face1.jpg, <stem>_face2.jpg, ...
    output_dir/anime/<stem>.jpg      every readable anime image, centre-cropped and resized
    output_dir/smooth/<stem>.jpg     edge_smooth() of the anime image with the same stem
    output_dir/faces.json            {"image_size": N, "boxes": {"<photo file name>": [y0, x0, y1, x1]
                                     or null}, "skin": {"<photo file name>": [16 numbers]}}: best
                                     face box of each file in photo/, its pixel edges divided by
                                     the image size (see faces.FaceBox.normalized), and the skin
                                     regions of the same face (face_regions.skin_regions; only
                                     photos with a face; files written before format 3 have none)
    output_dir/prepare_report.json   PrepareReport fields, the settings and an input fingerprint
    output_dir/prepare_manifest.json every file this tool wrote into photo/, anime/ and smooth/

JPEG quality is 95. faces.json and prepare_report.json are written last, each atomically, and both
are removed before any other work starts: their presence means a preparation that finished.

Files: a preparation deletes or replaces only files its manifest lists (outputs of its earlier
runs); it refuses an output folder whose photo/, anime/ or smooth/ hold any other file, before
writing anything. Inputs with the same stem (a.jpg, a.png) get distinct outputs
(``image_files.unique_stems``).
"""

import dataclasses
import hashlib
import json
import os
import pathlib
import random
import re
import sys
import time

import cv2
import numpy as np

from animegan_face.data import face_alignment
from animegan_face.data import face_finder
from animegan_face.data import face_regions
from animegan_face.data import faces
from animegan_face.data import image_files
from animegan_face.data import worker_pool

JPEG_QUALITY = 95
FACES_FILE = "faces.json"
REPORT_FILE = "prepare_report.json"
MANIFEST_FILE = "prepare_manifest.json"
# Seconds one image may take in a worker process before it is stopped and skipped (a decoder caught
# in a loop by a crafted file); far above what reading, face detection and writing one image take.
ITEM_TIMEOUT_S = 300
# Shorter sides below this are skipped: the generators need 8 px (two stride-2 steps, then a
# reflection pad of 1), and a smaller image scaled up to the training size carries nothing.
MIN_SIDE = 8
PHOTO_FOLDER, ANIME_FOLDER, SMOOTH_FOLDER = "photo", "anime", "smooth"

# Bumped whenever the output for the same inputs and settings changes, to invalidate old caches.
# 2: faces checked by the landmark model (face_finder), face crops aligned (face_alignment).
# 3: faces.json also holds each photo's skin regions (face_regions.skin_regions).
_FORMAT_VERSION = 3
_SMOOTH_KERNEL_SIZE = 5
_FACE_NAME = re.compile(r"_face\d+$")
_FACE_CROP_FILE = re.compile(r"(.*)_face\d+\.jpg", re.DOTALL)
_FOLDERS = (PHOTO_FOLDER, ANIME_FOLDER, SMOOTH_FOLDER)
# edge_smooth gathers 5x5x3 float64 windows per edge pixel (600 bytes); this bounds it to ~40 MB.
_SMOOTH_CHUNK_PIXELS = 65536


@dataclasses.dataclass(frozen=True)
class PrepareReport:
    """What a preparation did.

    Attributes:
        photos_read: photos that decoded.
        photos_written: files written to photo/ (with crop_faces: face crops, 0..n per photo).
        anime_read: anime images that decoded (each wrote anime/ and smooth/ files).
        skipped: ``((path, reason), ...)`` of every input image that could not be read or used,
            and of every entry named like an image that is no file (folder, dangling link, loop).
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
            lines.append(f"skipped {len(self.skipped)} file(s):")
            lines += [f"  {image_files.printable(path)}: {reason}" for path, reason in self.skipped]
        if self.photos_without_face:
            names = self.photos_without_face
            lines.append(f"{len(names)} photo(s) without a detected face:")
            lines += [f"  {image_files.printable(name)}" for name in names[:max_names]]
            if len(names) > max_names:
                lines.append(f"  ... and {len(names) - max_names} more (see {REPORT_FILE})")
        return "\n".join(lines)


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
                    face_margin=face_alignment.DEFAULT_MARGIN, upsample=1, num_workers=None,
                    force=False, progress=True, exclude_photos=(), photo_sample=None,
                    sample_seed=0, max_pixels=image_files.DEFAULT_MAX_PIXELS):
    """Builds the training folder described in this module's docstring.

    Photos and anime images of any size and any format OpenCV reads are centre-cropped to a
    square and resized to ``image_size``. Faces are found on the source photo (dlib HOG,
    ``upsample`` doublings, longest side at most 1024, then BlazeFace for faces dlib misses, each
    checked by the landmark model: ``face_finder.find_faces``) and the first one (dlib's, best
    score first, then BlazeFace's) that lies at least half inside the crop is stored in
    faces.json. With ``crop_faces``, each face gives an aligned crop instead of the centre crop
    (``face_alignment.aligned_face`` with margin ``face_margin``: eyes level, the framing
    stylize.py's face mode uses). Unreadable images, images over ``max_pixels`` (checked
    from the header), images with a side under ``MIN_SIDE`` and entries that are no file are
    skipped and reported; so is an image whose worker process died.

    If prepare_report.json shows the same settings and the same inputs (names, sizes, mtimes),
    nothing is redone and the stored report is returned, unless ``force``. Otherwise files in
    photo/, anime/ and smooth/ that the manifest lists and this run does not produce are deleted;
    a file there that the manifest does not list makes it refuse (ValueError) before any work.

    Args:
        num_workers: worker processes; default ``os.cpu_count()``; 1 works in this process.
            Workers are started with forkserver (spawn where missing), which re-imports the
            calling script: a script calling this needs the ``if __name__ == "__main__":`` guard.
        progress: print a progress line on stderr.
        exclude_photos: file names in ``photo_dir`` to leave out (e.g. a held-out evaluation
            set); a name that is not there raises ValueError, so a typo cannot leak a photo.
        photo_sample: prepare only this many photos, ``random.Random(sample_seed).sample`` of the
            sorted names left after the exclusion (the same names on any machine): a smaller
            training set that a recipe can name, as selfie2anime_v3's 600 photos. None: all.

    Raises:
        FileNotFoundError: an input folder does not exist.
        ValueError: an input folder holds no (readable) image, crop_faces found no face at all,
            an output folder would be an input folder or holds files this tool did not write, or a
            setting is out of range.
    """
    photo_dir, anime_dir = pathlib.Path(photo_dir), pathlib.Path(anime_dir)
    output_dir = pathlib.Path(output_dir)
    _check_settings(image_size, face_margin, upsample, num_workers)
    _check_folders_distinct(photo_dir, anime_dir, output_dir)
    (photos, photo_problems), (animes, anime_problems) = _scan(photo_dir), _scan(anime_dir)
    photos = _sample(_exclude(photos, exclude_photos, photo_dir), photo_sample, sample_seed, photo_dir)
    settings = {
        "format_version": _FORMAT_VERSION, "photo_dir": str(photo_dir.resolve()),
        "anime_dir": str(anime_dir.resolve()), "image_size": int(image_size),
        "crop_faces": bool(crop_faces), "face_margin": float(face_margin),
        "upsample": int(upsample), "jpeg_quality": JPEG_QUALITY,
        "excluded_photos": sorted(set(exclude_photos)), "max_pixels": int(max_pixels),
    }
    if photo_sample is not None:  # only then: a full set prepared before stays cached
        settings.update(photo_sample=int(photo_sample), sample_seed=int(sample_seed))
    fingerprint = _fingerprint(photos, animes)

    # Reuse a finished preparation of the same inputs with the same settings.
    if not force:
        cached = _cached_report(output_dir, settings, fingerprint)
        if cached is not None:
            return cached

    # Claim the output folders: refuse files we did not write, list what we will write first.
    tasks = _make_tasks(photos, animes, output_dir, settings)
    owned = _claim_outputs(output_dir, tasks)

    # Withdraw the "finished" markers first, so that a killed run cannot look complete.
    (output_dir / REPORT_FILE).unlink(missing_ok=True)
    (output_dir / FACES_FILE).unlink(missing_ok=True)

    # Decode, crop, detect, smooth and write, in worker processes.
    results = _run_tasks(tasks, num_workers, progress)
    results += [_Result(str(path), "anime", {}, skip_reason=reason) for path, reason in anime_problems]
    results += [_Result(str(path), "photo", {}, skip_reason=reason) for path, reason in photo_problems]
    results.sort(key=lambda result: result.source)

    # Fail on unusable sets before declaring anything finished.
    report, boxes, skin = _collect(results)
    _check_usable(report, photo_dir, anime_dir, crop_faces)

    # Remove our outputs of earlier runs that this run did not produce, then the markers, report last.
    _remove_stale_outputs(output_dir, results, owned)
    faces_json = {"image_size": int(image_size), "boxes": dict(sorted(boxes.items())),
                  "skin": dict(sorted(skin.items()))}
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
    max_pixels: int
    kind = "photo"


@dataclasses.dataclass(frozen=True)
class _AnimeTask:
    source: pathlib.Path
    name: str
    output_dir: pathlib.Path
    image_size: int
    max_pixels: int
    kind = "anime"


@dataclasses.dataclass(frozen=True)
class _Result:
    source: str
    kind: str  # "photo" or "anime"
    outputs: dict  # {folder: {file name: normalised box or None}}
    skip_reason: str = None
    without_face: bool = False
    skin: dict = dataclasses.field(default_factory=dict)  # {photo file name: skin regions}


def _run_task(task):
    try:
        rgb = image_files.read_image(task.source, task.max_pixels)
    except image_files.ImageReadError as error:
        return _Result(str(task.source), task.kind, {}, skip_reason=error.reason)
    if min(rgb.shape[:2]) < MIN_SIDE:
        reason = (f"too small: {rgb.shape[1]} x {rgb.shape[0]} pixels, the shorter side must be at "
                  f"least {MIN_SIDE}")
        return _Result(str(task.source), task.kind, {}, skip_reason=reason)
    if isinstance(task, _PhotoTask):
        return _prepare_photo(task, rgb)
    return _prepare_anime(task, rgb)


def _prepare_photo(task, rgb):
    found = face_finder.find_faces(rgb, upsample=task.upsample)
    folder = task.output_dir / PHOTO_FOLDER
    written, skin = {}, {}
    size = task.image_size
    if task.crop_faces:
        for index, face in enumerate(found):
            name = task.name + (f"_face{index}" if index else "") + ".jpg"
            crop, matrix = face_alignment.aligned_face(rgb, face.landmarks, size, task.face_margin)
            image_files.write_image(folder / name, crop, JPEG_QUALITY)
            written[name] = list(face_alignment.face_box_in_crop(task.face_margin))
            skin[name] = face_regions.skin_regions(
                face_alignment.points_in_crop(face.landmarks, matrix), size, size)
    else:
        image, window = image_files.center_crop_resize(rgb, size)
        name = task.name + ".jpg"
        image_files.write_image(folder / name, image, JPEG_QUALITY)
        inside = ((_box_in_output(face.box, window, size), face) for face in found)
        box, face = next(((box, face) for box, face in inside if box is not None), (None, None))
        written[name] = box
        if face is not None:
            skin[name] = face_regions.skin_regions(_points_in_output(face.landmarks.points, window,
                                                                     size), size, size)
    without_face = not any(box is not None for box in written.values())
    return _Result(str(task.source), "photo", {PHOTO_FOLDER: written}, without_face=without_face,
                   skin=skin)


def _points_in_output(points, window, size):
    """Landmarks (source pixels) in the ``size x size`` output resized from ``window``
    (y0, x0, height, width); pixel centres map as cv2.resize maps them."""
    y0, x0, height, width = window
    points = np.asarray(points, np.float64)
    return np.stack([(points[:, 0] - x0 + 0.5) * size / width - 0.5,
                     (points[:, 1] - y0 + 0.5) * size / height - 0.5], axis=1)


def _prepare_anime(task, rgb):
    image, _ = image_files.center_crop_resize(rgb, task.image_size)
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


def _scan(folder):
    """``(image files, [(path, reason)] of entries named like images that are no file)``."""
    paths, problems = image_files.scan_images(folder)
    if not paths:
        raise ValueError(
            f"no image files in {folder} (extensions: {', '.join(sorted(image_files.IMAGE_EXTENSIONS))})")
    return paths, problems


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


def _sample(photos, count, seed, photo_dir):
    """`count` of `photos`, drawn by name with `random.Random(seed)`; all of them when None."""
    if count is None:
        return photos
    if not 1 <= count <= len(photos):
        raise ValueError(f"a sample of {count} photos asked of {photo_dir}, which has {len(photos)} "
                         "(after the exclusion)")
    chosen = set(random.Random(seed).sample(sorted(path.name for path in photos), count))
    return [path for path in photos if path.name in chosen]


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
    """Unique output stems for ``paths`` (``image_files.unique_stems``).

    With crop_faces, a stem already ending in ``_face<n>`` gets a trailing ``_`` so that it cannot
    collide with the ``<stem>_face<n>`` crops of another photo.
    """
    return image_files.unique_stems(
        paths, lambda path: path.stem + ("_" if crop_faces and _FACE_NAME.search(path.stem) else ""))


def _make_tasks(photos, animes, output_dir, settings):
    tasks = [
        _PhotoTask(path, name, output_dir, settings["image_size"], settings["crop_faces"],
                   settings["face_margin"], settings["upsample"], settings["max_pixels"])
        for path, name in _output_names(photos, settings["crop_faces"]).items()
    ]
    tasks += [
        _AnimeTask(path, name, output_dir, settings["image_size"], settings["max_pixels"])
        for path, name in _output_names(animes, crop_faces=False).items()
    ]
    return tasks


def _run_tasks(tasks, num_workers, show_progress):
    """Runs every task, in this process when num_workers is 1, else in worker processes, where a
    worker that dies, or runs one image longer than ITEM_TIMEOUT_S, skips its image
    (``worker_pool``) instead of hanging the run."""
    num_workers = min(num_workers or os.cpu_count() or 1, len(tasks))
    progress = _Progress(len(tasks), show_progress)
    if num_workers == 1:
        results = []
        for task in tasks:
            results.append(_run_task(task))
            progress.update(len(results))
    else:
        outcomes = worker_pool.run_items(_run_task, tasks, num_workers, progress.update,
                                         ITEM_TIMEOUT_S)
        results = [
            _Result(str(task.source), task.kind, {}, skip_reason=outcome.reason)
            if isinstance(outcome, worker_pool.WorkerDied) else outcome
            for task, outcome in zip(tasks, outcomes)]
    progress.close()
    return results


# ---------------------------------------------------------------------------------------------
# The manifest: which files in photo/, anime/ and smooth/ this tool wrote.


def _read_manifest(output_dir):
    """``{folder: {names}}`` and ``{face crop stems}`` of the manifest; empty when there is none."""
    path = output_dir / MANIFEST_FILE
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        files = {folder: set(stored["files"][folder]) for folder in _FOLDERS}
        return files, set(stored["face_crop_stems"])
    except FileNotFoundError:
        return {folder: set() for folder in _FOLDERS}, set()
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is damaged ({error}): delete {output_dir} or choose another "
                         f"output_dir") from None


def _is_owned(owned, folder, name):
    files, face_stems = owned
    if name in files[folder]:
        return True
    match = _FACE_CROP_FILE.fullmatch(name)
    return folder == PHOTO_FOLDER and match is not None and match.group(1) in face_stems


def _is_our_leftover(name):
    """A temporary file of image_files.write_file_atomic left by a killed run."""
    return name.startswith(".") and name.endswith(".tmp")


def _claim_outputs(output_dir, tasks):
    """Refuses output folders holding files the manifest does not list; then adds every file
    ``tasks`` may write to the manifest (before writing them: a killed run still owns its files).
    Returns what was owned before this run."""
    owned = _read_manifest(output_dir)
    foreign = sorted(
        f"{folder}/{path.name}" for folder in _FOLDERS if (output_dir / folder).is_dir()
        for path in (output_dir / folder).iterdir()
        if not _is_owned(owned, folder, path.name) and not _is_our_leftover(path.name))
    if foreign:
        shown = ", ".join(image_files.printable(name) for name in foreign[:5])
        more = f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        raise ValueError(
            f"{output_dir} holds {len(foreign)} file(s) that prepare did not write ({shown}{more}): "
            f"it never deletes or mixes in files that are not its own; move them, or choose an "
            f"empty or new output_dir")
    files = {folder: set(names) for folder, names in owned[0].items()}
    face_stems = set(owned[1])
    for task in tasks:
        if task.kind == "anime":
            files[ANIME_FOLDER].add(task.name + ".jpg")
            files[SMOOTH_FOLDER].add(task.name + ".jpg")
        else:
            files[PHOTO_FOLDER].add(task.name + ".jpg")
            if task.crop_faces:
                face_stems.add(task.name)
    _write_manifest(output_dir, files, face_stems)
    return owned


def _write_manifest(output_dir, files, face_stems):
    _write_json(output_dir / MANIFEST_FILE, {
        "files": {folder: sorted(names) for folder, names in files.items()},
        "face_crop_stems": sorted(face_stems)})


def _collect(results):
    """Results -> (PrepareReport, {photo file name: normalised box or None},
    {photo file name: skin regions})."""
    boxes, skin = {}, {}
    counts = {"photo": 0, "anime": 0}
    for result in results:
        boxes.update(result.outputs.get(PHOTO_FOLDER, {}))
        skin.update(result.skin)
        counts[result.kind] += result.skip_reason is None
    report = PrepareReport(
        photos_read=counts["photo"],
        photos_written=len(boxes),
        anime_read=counts["anime"],
        skipped=tuple((r.source, r.skip_reason) for r in results if r.skip_reason is not None),
        photos_without_face=tuple(
            pathlib.Path(r.source).name for r in results if r.kind == "photo" and r.without_face),
    )
    return report, boxes, skin


def _check_usable(report, photo_dir, anime_dir, crop_faces):
    if report.photos_read == 0:
        raise ValueError(f"no readable photo in {photo_dir}:\n{report.summary()}")
    if report.anime_read == 0:
        raise ValueError(f"no readable anime image in {anime_dir}:\n{report.summary()}")
    if crop_faces and report.photos_written == 0:
        raise ValueError(f"crop_faces: no face detected in any photo of {photo_dir}")


def _remove_stale_outputs(output_dir, results, owned):
    """Deletes files of earlier runs (``owned``: the manifest then) and leftover temporary files
    that this run did not write; then the manifest lists exactly this run's files."""
    produced = {folder: set() for folder in _FOLDERS}
    for result in results:
        for folder, names in result.outputs.items():
            produced[folder].update(names)
    for folder, names in produced.items():
        if not (output_dir / folder).is_dir():
            continue
        for path in (output_dir / folder).iterdir():
            stale = path.name not in names and _is_owned(owned, folder, path.name)
            if (stale or _is_our_leftover(path.name)) and not path.is_dir():
                path.unlink()
    _write_manifest(output_dir, produced, set())


def _write_json(path, content):
    # ensure_ascii: a file name that is not UTF-8 (surrogate-escaped bytes) is stored as \udcXX
    # escapes, which json.loads turns back into the same name; UTF-8 encoding would fail on it.
    text = json.dumps(content, indent=1, ensure_ascii=True) + "\n"
    image_files.write_file_atomic(path, text.encode("ascii"), fsync=True)


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
