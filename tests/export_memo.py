"""The export steps that depend only on the network done once per setting in a process of several
export.py runs (`ScriptRuns("export.py", ..., setup="tests.export_memo")`, tests/test_export.py):
export.tflite_bytes (a conversion, some 7 s of CPU on the 2-core machine), export.write_saved_model
(~6 s) and export.keras_outputs (what each file is compared with).

Those runs export the same weights file again (a first export, a replacing one, a rerun that
replaces export.py's own output). Each run loads its own generator, so a network is known here by
its architecture (get_config) and its weights, not by identity; the first run that asks still
does each step for real, and what the tests check around them (claiming names, the parity check,
the manifest, the rename into place) runs every time. The in-process counterpart is
tests/conftest.py's `export_each_shared_generator_once`.
"""

import atexit
import hashlib
import json
import shutil
import tempfile

import numpy as np


def _fingerprint(network):
    digest = hashlib.sha256(json.dumps(network.get_config(), sort_keys=True, default=str).encode())
    for weight in network.weights:
        digest.update(np.asarray(weight).tobytes())
    return digest.hexdigest()


def install():
    from animegan_face.deployment import export

    made = {}
    root = tempfile.mkdtemp(prefix="export-memo-")
    atexit.register(shutil.rmtree, root, ignore_errors=True)

    convert = export.tflite_bytes

    def tflite_bytes(network, quantize, input_size=None, representative_images=None):
        key = ("tflite", _fingerprint(network), quantize, input_size,
               None if representative_images is None else np.asarray(representative_images).tobytes())
        if key not in made:
            made[key] = convert(network, quantize, input_size, representative_images)
        return made[key]

    write_saved_model = export.write_saved_model

    def write_saved_model_once(network, folder, input_size):
        key = ("saved_model", _fingerprint(network), input_size)
        if key not in made:
            made[key] = f"{root}/{len(made)}"
            write_saved_model(network, made[key], input_size)
        shutil.copytree(made[key], folder, dirs_exist_ok=True)

    keras_outputs = export.keras_outputs

    def keras_outputs_once(network, check_images):
        images = np.asarray(check_images)
        key = ("keras_outputs", _fingerprint(network), images.shape, str(images.dtype),
               images.tobytes())
        if key not in made:
            made[key] = keras_outputs(network, check_images)
        return made[key].copy()

    export.tflite_bytes = tflite_bytes
    export.write_saved_model = write_saved_model_once
    export.keras_outputs = keras_outputs_once
