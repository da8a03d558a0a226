"""TensorBoard event files written without TensorFlow, read back with TensorFlow's reader."""

import os

import numpy as np
import tensorflow as tf

from animegan_face.training.event_log import EventWriter


def test_scalars_and_images_read_back(tmp_path):
    writer = EventWriter(tmp_path)
    writer.scalar("train/g_total", 1.5, step=10)
    writer.scalar("train/g_total", 2.5, step=20)
    image = np.zeros((6, 8, 3), np.uint8)
    image[:, :4] = (255, 0, 0)
    writer.image("samples/grid", image, step=20)
    writer.close()

    (name,) = os.listdir(tmp_path)
    assert name.startswith("events.out.tfevents.")
    scalars, images = [], []
    for event in tf.compat.v1.train.summary_iterator(str(tmp_path / name)):
        for value in event.summary.value:
            if value.HasField("image"):
                images.append((value.tag, event.step, value.image))
            else:
                scalars.append((value.tag, event.step, value.simple_value))
    assert scalars == [("train/g_total", 10, 1.5), ("train/g_total", 20, 2.5)]
    (tag, step, encoded), = images
    assert (tag, step, encoded.height, encoded.width) == ("samples/grid", 20, 6, 8)
    np.testing.assert_array_equal(tf.io.decode_png(encoded.encoded_image_string).numpy(), image)


def test_step_scalars_reach_the_disk_before_the_epoch_ends(tmp_path):
    """A run killed mid-epoch (no close, no epoch end) keeps the curve up to its last log step."""
    from animegan_face.training.run_folder import RunFolder
    from animegan_face.training.run_log import RunLog

    log = RunLog(RunFolder(tmp_path), {}, np.zeros((1, 8, 8, 3), np.float32), every_steps=2)
    for step in (1, 2, 3):
        log.step_end({"g_total": float(step)}, step)
    (name,) = os.listdir(tmp_path / "logs")
    written = [(value.tag, event.step, value.simple_value)
               for event in tf.compat.v1.train.summary_iterator(str(tmp_path / "logs" / name))
               for value in event.summary.value]
    assert written == [("train/g_total", 2, 2.0)]  # step 2 logged and on disk, step 3 not a log step
