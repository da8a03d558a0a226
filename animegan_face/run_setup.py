"""Backend-independent pieces of a training run: config.json, the dataset, epoch length, samples.

No TensorFlow here, so that the JAX training path (`jax_training`) can use them.
"""

import json
import pathlib

import numpy as np

from animegan_face.pipeline import load_dataset_files, load_photo
from animegan_face.preparation import prepare_dataset

SAMPLE_COUNT = 4


class SetupError(ValueError):
    """The run cannot start: the dataset cannot be prepared or read (the folder or file is named),
    or the batch does not split evenly over the devices."""


def resolve_dataset(config):
    """Prepares photo_dir/anime_dir into dataset_dir when given (cached); returns its files.

    Raises SetupError, naming the folder or file at fault.
    """
    data = config.data
    dataset_dir = data.dataset_dir or str(pathlib.Path(config.train.model_dir) / "dataset")
    try:
        if data.photo_dir:
            report = prepare_dataset(data.photo_dir, data.anime_dir, dataset_dir,
                                     image_size=data.image_size)
            print(report.summary())
        return load_dataset_files(dataset_dir)
    except (ValueError, OSError) as error:
        raise SetupError(str(error)) from error


def steps_per_epoch(config, files):
    """config.train.steps_per_epoch, else max(#photos, #anime) // global batch (at least 1)."""
    if config.train.steps_per_epoch:
        return config.train.steps_per_epoch
    return max(1, files.steps_per_epoch_basis // config.data.batch_size)


def sample_photos(files, image_size):
    """The first `SAMPLE_COUNT` photos, (K, S, S, 3) in [-1, 1]: shown beside their stylisation."""
    count = min(SAMPLE_COUNT, len(files.photos))
    return np.stack([load_photo(files.photos[k], files.photo_boxes[k], image_size)[0]
                     for k in range(count)])


def write_config(model_dir, config):
    """Writes config.json, noting when it replaces different settings of an earlier run."""
    path = pathlib.Path(model_dir) / "config.json"
    if path.exists():
        previous = json.loads(path.read_text())
        if previous != config.to_dict():
            print(f"Note: {path} differs from this run's settings; it is replaced by the new ones.")
    path.write_text(config.to_json() + "\n")
