"""TensorBoard event files written without TensorFlow (`run_log` writes both backends' logs through this).

`tf.summary` needs TensorFlow, and tensorboard's own `EventFileWriter` imports it through
`tensorboard.compat.tf` whenever it is installed; this writer uses only the `tensorboard` package's
protocol buffers and record framing, so the JAX path never imports TensorFlow. The files are the
ones TensorBoard reads: scalars as `simple_value`, images as PNG-encoded `Summary.Image`.
"""

import os
import pathlib
import socket
import time

import cv2
import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.record_writer import RecordWriter


class EventWriter:
    """Appends scalars and images to a new `events.out.tfevents.*` file in `log_dir`."""

    def __init__(self, log_dir):
        log_dir = pathlib.Path(log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}.keras"
        self._file = open(log_dir / name, "wb")  # noqa: SIM115 - closed by close()
        self._records = RecordWriter(self._file)
        self._write(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))

    def _write(self, event):
        self._records.write(event.SerializeToString())

    def _summary(self, step, value):
        self._write(event_pb2.Event(wall_time=time.time(), step=int(step),
                                    summary=summary_pb2.Summary(value=[value])))

    def scalar(self, tag, value, step):
        self._summary(step, summary_pb2.Summary.Value(tag=tag, simple_value=float(value)))

    def image(self, tag, rgb, step):
        """`rgb`: uint8 (H, W, 3)."""
        rgb = np.asarray(rgb, np.uint8)
        ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if not ok:
            raise ValueError(f"could not encode the {tag} image as PNG")
        image = summary_pb2.Summary.Image(height=rgb.shape[0], width=rgb.shape[1], colorspace=3,
                                          encoded_image_string=png.tobytes())
        self._summary(step, summary_pb2.Summary.Value(tag=tag, image=image))

    def flush(self):
        self._records.flush()

    def close(self):
        self._records.close()
