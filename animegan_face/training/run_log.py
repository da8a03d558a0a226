"""What a training run logs, the same under both backends: TensorBoard scalars and sample grids in
the run folder's logs/ (written by `event_log`, so no TensorFlow is needed) and each epoch's grid as
samples/epoch_NNN.png.

Tags: `train/<term>` (running means since the epoch began, every `every_steps` global steps),
`epoch/<term>` (the epoch's means), `lr/<name>` (with every scalar write), `grad_norm/<name>`
(when given) and the image `samples/photo_vs_stylised`.
"""

import numpy as np

from animegan_face.data.image_files import side_by_side, write_image
from animegan_face.training.event_log import EventWriter

LOG_EVERY_STEPS = 10


class RunLog:
    """Writes one run's TensorBoard logs and sample pictures.

    Args:
        run: the `RunFolder` written to.
        learning_rates: mapping name -> optimizer, logged as `lr/<name>`.
        sample_photos: float (K, S, S, 3) photos in [-1, 1], shown beside their stylisation.
        every_steps: `train/` scalars are written at the global steps divisible by this.
    """

    def __init__(self, run, learning_rates, sample_photos, every_steps=LOG_EVERY_STEPS):
        self.run = run
        self.learning_rates = learning_rates
        self.sample_photos = sample_photos
        self.every_steps = every_steps
        self.writer = EventWriter(run.logs_dir)

    def _scalars(self, prefix, logs, step):
        for name, value in (logs or {}).items():
            self.writer.scalar(f"{prefix}/{name}", float(value), step)
        for name, optimizer in self.learning_rates.items():
            self.writer.scalar(f"lr/{name}", float(np.asarray(optimizer.learning_rate)), step)

    def step_end(self, logs, step):
        """After global step `step` (counted from 1): `logs` are the running means of the epoch.
        Flushed at once: a run killed before its epoch ends (the epoch-end samples and gradient
        norms take a while) keeps the curves up to its last logging step."""
        if step % self.every_steps == 0:
            self._scalars("train", logs, step)
            self.writer.flush()

    def epoch_end(self, epoch, step, logs, stylised, gradient_norms=None):
        """After epoch `epoch` (counted from 1), at global step `step`.

        Args:
            logs: the epoch's mean of each term.
            stylised: the generator's output for `sample_photos`, in [-1, 1].
            gradient_norms: optional {name: norm}, logged as `grad_norm/<name>`.
        """
        self._scalars("epoch", logs, step)
        grid = side_by_side(self.sample_photos, np.asarray(stylised))
        self.writer.image("samples/photo_vs_stylised", grid, step)
        for name, value in (gradient_norms or {}).items():
            self.writer.scalar(f"grad_norm/{name}", value, step)
        write_image(self.run.sample_path(epoch), grid)
        self.writer.flush()

    def close(self):
        self.writer.close()
