"""The training input pipeline without TensorFlow: numpy batches decoded by OpenCV in threads.

Same batches as `pipeline.make_dataset` (the JAX backend uses this one, TensorFlow tf.data):
`(photo, photo_face_box, anime, anime_gray, smooth_gray)`, float32, images (B, S, S, 3) in
[-1, 1], boxes (B, 4) rows (y0, x0, y1, x1) in [0, 1] (all zero: no face), decoded by the same
`pipeline.load_photo` / `pipeline.load_anime`. A photo is flipped left-right together with its
face box, an anime image together with its gray and smooth-gray copies. Photos and anime images
are shuffled independently, a fresh permutation per pass (the shorter set simply passes more
often, as AnimeGAN repeats it). The order differs from tf.data's: each is deterministic for its
seed.

OpenCV releases the GIL while it decodes and resizes, so a thread pool decodes in parallel without
copying images between processes; `prefetch` batches are decoded ahead of the one consumed.
"""

import collections
import concurrent.futures
import os

import numpy as np

from animegan_face.pipeline import load_anime, load_photo


def _shuffled_indices(count, rng):
    """Endless stream of indices: one permutation of range(count) after another."""
    while True:
        yield from rng.permutation(count)


class NumpyBatches:
    """Endless iterator of 5-tuples of numpy arrays, batched by `batch_size`. Use as a context
    manager (or call `close()`) to stop the decoding threads.

    Args:
        files: `pipeline.DatasetFiles` of a prepared dataset.
        image_size: side S of the square training images.
        batch_size: images of each domain per batch.
        seed: fixes the shuffling and the flips (photos and anime draw from separate generators).
        workers: decoding threads; default the machine's CPU count.
        prefetch: batches decoded ahead of the consumer.
    """

    def __init__(self, files, image_size, batch_size, seed=0, workers=None, prefetch=4):
        self.files = files
        self.image_size = image_size
        self.batch_size = batch_size
        photo_rng = np.random.default_rng([seed, 0])
        anime_rng = np.random.default_rng([seed, 1])
        self._photo_order = _shuffled_indices(len(files.photos), photo_rng)
        self._anime_order = _shuffled_indices(len(files.anime), anime_rng)
        self._photo_rng, self._anime_rng = photo_rng, anime_rng
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers or os.cpu_count() or 1, thread_name_prefix="numpy_pipeline")
        self._pending = collections.deque()
        for _ in range(max(1, prefetch)):
            self._submit_batch()

    def _submit_batch(self):
        photos, anime = [], []
        for _ in range(self.batch_size):
            k = next(self._photo_order)
            photos.append(self._pool.submit(
                load_photo, self.files.photos[k], self.files.photo_boxes[k], self.image_size,
                bool(self._photo_rng.random() < 0.5)))
            k = next(self._anime_order)
            anime.append(self._pool.submit(
                load_anime, self.files.anime[k], self.files.smooth[k], self.image_size,
                bool(self._anime_rng.random() < 0.5)))
        self._pending.append((photos, anime))

    def __iter__(self):
        return self

    def __next__(self):
        photos, anime = self._pending.popleft()
        self._submit_batch()
        photo_pairs = [future.result() for future in photos]
        anime_triples = [future.result() for future in anime]
        return (np.stack([p for p, _ in photo_pairs]),
                np.stack([b for _, b in photo_pairs]).astype(np.float32),
                *(np.stack([t[k] for t in anime_triples]) for k in range(3)))

    def close(self):
        for photos, anime in self._pending:
            for future in photos + anime:
                future.cancel()
        self._pool.shutdown(wait=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
