"""export.tflite_bytes converting each network once per setting in a process of several export.py
runs (`ScriptRuns("export.py", ..., setup="tests.export_memo")`, tests/test_export.py).

Those runs export the same weights file again (a first export, a replacing one, a rerun that
replaces export.py's own output), each conversion some 7 s of CPU on the 2-core machine. Each
run loads its own generator, so a network is known here by its architecture (get_config) and
its weights, not by identity; the first run that asks still converts for real, and what the tests
check around the conversion (claiming names, the parity check, the manifest, the rename into
place) runs every time. The in-process counterpart is tests/conftest.py's
`convert_each_shared_generator_once`.
"""

import hashlib
import json

import numpy as np


def install():
    from animegan_face.deployment import export

    convert = export.tflite_bytes
    converted = {}

    def tflite_bytes(network, quantize, input_size=None, representative_images=None):
        digest = hashlib.sha256(json.dumps(network.get_config(), sort_keys=True,
                                           default=str).encode())
        for weight in network.weights:
            digest.update(np.asarray(weight).tobytes())
        key = (digest.hexdigest(), quantize, input_size,
               None if representative_images is None else np.asarray(representative_images).tobytes())
        if key not in converted:
            converted[key] = convert(network, quantize, input_size, representative_images)
        return converted[key]

    export.tflite_bytes = tflite_bytes
