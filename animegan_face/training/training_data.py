"""What a training run reads from its dataset: the files, the epoch length and fixed real images.

Backend-free (numpy and OpenCV): both training paths and diagnose.py use it.
"""

import numpy as np

from animegan_face.data.pipeline import load_anime, load_dataset_files, load_photo
from animegan_face.data.preparation import prepare_dataset
from animegan_face.training.run_checks import SetupError
from animegan_face.training.run_folder import RunFolder

SAMPLE_COUNT = 4


def resolve_dataset(config):
    """Prepares photo_dir/anime_dir into dataset_dir when given (cached); returns its files.

    dataset_dir defaults to the run folder's `dataset/`. Raises SetupError, naming the folder or
    file at fault.
    """
    data = config.data
    dataset_dir = data.dataset_dir or str(RunFolder(config.train.model_dir).default_dataset_dir)
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


def diagnostic_batch(files, image_size, count=8):
    """A fixed real batch for `diagnostics` (photo, face_boxes, anime, anime_gray, smooth_gray):
    the first `count` photos with a detected face (faceless ones if there are too few) and the
    first `count` anime images, unflipped; numpy, so every backend can use it."""
    order = sorted(range(len(files.photos)), key=lambda k: not files.photo_boxes[k].any())
    photos = [load_photo(files.photos[k], files.photo_boxes[k], image_size)
              for k in (order * count)[:count]]
    anime = [load_anime(files.anime[k], files.smooth[k], image_size)
             for k in (list(range(len(files.anime))) * count)[:count]]
    return (np.stack([p for p, _ in photos]), np.stack([b for _, b in photos]),
            *(np.stack(parts) for parts in zip(*anime)))
