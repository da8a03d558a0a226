"""The library side of stylize.py: photos and video through a stylizer, face-aware.

Modes:
    face  find every face (dlib HOG, each checked by the face landmark model: face_finder), warp
          it to the training photos' framing (eyes level: face_alignment), stylise it at the
          training size, and warp it back through a soft mask that follows the face oval
          (face_paste). Small faces in full-body and group photos are stylised at the size the
          model was trained on, which AnimeGAN's whole-frame stylisation gets wrong (the thesis
          names their collapse as its weakness). No face found: the whole frame is stylised
          instead, and the result says so.
    full  the whole frame: padded by reflection to multiples of 4, and to at least MIN_SIDE, and
          cropped back (or resized to a fixed-size export's size and back); frames larger than
          `max_side` are stylised shrunk. Any size from 1 x 1 pixel works.
    both  full, then the face results pasted over it.
Images are uint8 RGB (H, W, 3) in and out, the same size.
"""

import dataclasses
import hashlib
import os
import pathlib

import cv2
import numpy as np

from animegan_face.data import guarded_reading
from animegan_face.data.face_alignment import DEFAULT_MARGIN
from animegan_face.data.face_finder import find_faces
from animegan_face.data.image_files import from_uint8, opencv_path, printable, to_uint8
from animegan_face.deployment import face_paste

MODES = ("face", "full", "both")
FACE_CROPS = ("aligned", "square")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".m4v")
_FOURCC = {".avi": "MJPG"}  # everything else is written as MPEG-4 part 2 ("mp4v")
# The smallest side fed to a generator: two stride-2 steps leave 2 px, which the reflection pad of
# 1 at 1/4 resolution needs (4 px inputs fail in MirrorPad).
MIN_SIDE = 8


@dataclasses.dataclass(frozen=True)
class StylizeOptions:
    """Args:
        mode: "face", "full" or "both".
        image_size: side of the square face crops fed to the model (its training size).
        margin: face crop margin on each side, as a fraction of the face size (0.25: the
            framing of the training selfies, see face_alignment).
        upsample: dlib detector upsamplings (each finds faces 2x smaller, 4x slower).
        max_side: full-frame stylisation shrinks larger frames to this longest side (0: never).
        face_crop: "aligned" (warped upright, pasted through a face-shaped mask) or "square"
            (the axis-aligned square and square mask of earlier versions, to compare against).
        feather: for "square": width of the soft edge, as a fraction of the crop side.
    """

    mode: str = "face"
    image_size: int = 256
    margin: float = DEFAULT_MARGIN
    upsample: int = 1
    max_side: int = 1024
    face_crop: str = "aligned"
    feather: float = 0.15

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.face_crop not in FACE_CROPS:
            raise ValueError(f"face_crop must be one of {FACE_CROPS}, got {self.face_crop!r}")
        if self.image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4, got {self.image_size}")


@dataclasses.dataclass(frozen=True)
class StylizeResult:
    image: np.ndarray
    faces: int
    fell_back_to_full: bool


def _run(stylizer, rgb):
    """One uint8 image (H, W multiples of 4, or the export's fixed size) through the stylizer."""
    return to_uint8(stylizer(from_uint8(rgb[None]))[0])


def stylize_full(stylizer, rgb, max_side=1024):
    """The whole frame, any size; returns the same size."""
    height, width = rgb.shape[:2]
    fixed = getattr(stylizer, "fixed_size", None)
    if fixed is not None:
        resized = cv2.resize(rgb, (fixed[1], fixed[0]), interpolation=cv2.INTER_AREA)
        return cv2.resize(_run(stylizer, resized), (width, height), interpolation=cv2.INTER_CUBIC)
    work = rgb
    if max_side and max(height, width) > max_side:
        scale = max_side / max(height, width)
        work = cv2.resize(rgb, (max(4, round(width * scale)), max(4, round(height * scale))),
                          interpolation=cv2.INTER_AREA)
    work_height, work_width = work.shape[:2]
    out = _run(stylizer, _pad_for_generator(work))[:work_height, :work_width]
    if out.shape[:2] != (height, width):
        out = cv2.resize(out, (width, height), interpolation=cv2.INTER_CUBIC)
    return out


def _pad_for_generator(rgb):
    """``rgb`` padded at the bottom and right to multiples of 4, at least MIN_SIDE: by reflection,
    or by repeating the edge where the image is too small to reflect (1 px)."""
    height, width = rgb.shape[:2]
    pad_bottom = max(-height % 4, MIN_SIDE - height)
    pad_right = max(-width % 4, MIN_SIDE - width)
    mode = "reflect" if min(height, width) > 1 else "edge"
    return np.pad(rgb, ((0, pad_bottom), (0, pad_right), (0, 0)), mode=mode)


def stylize_faces(stylizer, rgb, canvas, options):
    """Stylises each face found in `rgb` and pastes it onto `canvas` (in place). Returns the count."""
    size = options.image_size
    fixed = getattr(stylizer, "fixed_size", None)
    if fixed is not None:
        size = fixed[0]
    found = find_faces(rgb, upsample=options.upsample)
    for face in found:
        if options.face_crop == "aligned":
            face_paste.stylize_aligned(lambda crop: _run(stylizer, crop), rgb, canvas,
                                       face.landmarks, size, options.margin)
        else:
            face_paste.stylize_square(lambda crop: _run(stylizer, crop), rgb, canvas, face.box,
                                      size, options.margin, options.feather)
    return len(found)


def stylize_image(stylizer, rgb, options=StylizeOptions()):
    """One uint8 RGB image through the stylizer as `options.mode` says; the same size out."""
    if options.mode == "full":
        return StylizeResult(stylize_full(stylizer, rgb, options.max_side), 0, False)
    canvas = stylize_full(stylizer, rgb, options.max_side) if options.mode == "both" else rgb.copy()
    faces = stylize_faces(stylizer, rgb, canvas, options)
    if faces == 0 and options.mode == "face":
        return StylizeResult(stylize_full(stylizer, rgb, options.max_side), 0, True)
    return StylizeResult(canvas, faces, False)


def side_by_side_pair(left, right):
    return np.concatenate([left, right], axis=1)


class VideoError(ValueError):
    pass


def partial_video_path(output_path):
    """Where a video is written before its rename: ``.<name>.partial<ext>`` beside it, hidden and
    the same for every run, so that the next run for that output replaces a killed run's leftover.
    An ASCII name (a hash) when the name is not UTF-8, which OpenCV cannot take."""
    output_path = pathlib.Path(output_path)
    stem = output_path.stem
    try:
        stem.encode("utf-8")
    except UnicodeEncodeError:
        stem = hashlib.sha1(os.fsencode(stem)).hexdigest()[:16]
    return output_path.with_name(f".{stem}.partial{output_path.suffix}")


def video_frame_count(path):
    """The frame count a video's container declares (0 when unknown or unreadable)."""
    with opencv_path(path) as name:
        capture = cv2.VideoCapture(name)
        try:
            return max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT))) if capture.isOpened() else 0
        finally:
            capture.release()


@dataclasses.dataclass(frozen=True)
class VideoResult:
    """Attributes:
        frames: frames written.
        announced: the frame count the input's header declares (0: none); a truncated video
            announces more than can be read.
        stopped: why decoding stopped before the end (a decoder that crashed or hung on a frame),
            or None.
    """

    frames: int
    announced: int
    stopped: str = None


def stylize_video(stylizer, input_path, output_path, options, side_by_side=False, progress=None,
                  before_rename=None, decode_timeout=guarded_reading.DECODE_TIMEOUT_S):
    """Frame by frame into a new video (same fps and size, or twice the width side by side).

    The input is decoded in a worker process (``guarded_reading``): a header or frame that
    crashes the decoder, or keeps it at work past ``decode_timeout`` seconds, ends the video there.
    Written under `partial_video_path` and renamed at the end: a failure leaves no partial video.
    `progress(done, total)` is called after each frame, `before_rename(partial path)` once the
    video is complete, before it takes `output_path`'s name. Returns a ``VideoResult``.

    Raises:
        VideoError: the video cannot be opened, or not one frame could be read.
    """
    output_path = pathlib.Path(output_path)
    partial = partial_video_path(output_path)
    try:
        video = guarded_reading.VideoReader(input_path, decode_timeout)
    except guarded_reading.DecodingStopped as error:
        raise VideoError(f"{printable(input_path)}: {error.reason}") from None
    with video:
        if not video.opened:
            raise VideoError(f"{printable(input_path)}: OpenCV cannot open this video")
        frames, stopped = 0, None
        try:
            output_path.parent.mkdir(parents=True, exist_ok=True)
            partial.unlink(missing_ok=True)
            with opencv_path(partial) as partial_name:
                writer = _FrameWriter(partial_name, output_path, video.fps or 25.0)
                try:
                    for rgb in video.frames():
                        out = stylize_image(stylizer, rgb, options).image
                        writer.write(side_by_side_pair(rgb, out) if side_by_side else out)
                        frames += 1
                        if progress:
                            progress(frames, video.announced)
                except guarded_reading.DecodingStopped as error:
                    stopped = error.reason
                finally:
                    writer.release()
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    if frames == 0:
        partial.unlink(missing_ok=True)
        raise VideoError(f"{printable(input_path)}: {stopped or 'the video has no readable frames'}")
    if before_rename is not None:
        before_rename(partial)
    os.replace(partial, output_path)
    return VideoResult(frames, video.announced, stopped)


class _FrameWriter:
    """RGB frames into a new video file, opened at the first frame (which sets the size)."""

    def __init__(self, name, output_path, fps):
        self.name, self.output_path, self.fps = name, output_path, fps
        self.writer = None

    def write(self, rgb):
        if self.writer is None:
            fourcc = cv2.VideoWriter_fourcc(*_FOURCC.get(self.output_path.suffix.lower(), "mp4v"))
            self.writer = cv2.VideoWriter(self.name, fourcc, self.fps, (rgb.shape[1], rgb.shape[0]))
            if not self.writer.isOpened():
                raise VideoError(f"{self.output_path}: OpenCV cannot write this video format")
        self.writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def release(self):
        if self.writer is not None:
            self.writer.release()
