"""Small generated datasets and configs shared by the training tests."""

import json

import cv2
import numpy as np

from animegan_face.config import Config, DataConfig, ModelConfig, TrainConfig


def write_prepared_dataset(root, size=32, photos=4, anime=4, seed=0):
    """A prepared-dataset folder of random images; every other photo has a face box."""
    rng = np.random.default_rng(seed)
    for folder in ("photo", "anime", "smooth"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    boxes = {}
    for index in range(photos):
        name = f"p{index}.png"
        cv2.imwrite(str(root / "photo" / name), rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
        boxes[name] = [0.2, 0.25, 0.8, 0.75] if index % 2 == 0 else None
    for index in range(anime):
        image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        cv2.imwrite(str(root / "anime" / f"a{index}.png"), image)
        cv2.imwrite(str(root / "smooth" / f"a{index}.png"), cv2.GaussianBlur(image, (5, 5), 0))
    (root / "faces.json").write_text(json.dumps({"image_size": size, "boxes": boxes}))
    return root


def tiny_config(dataset_dir, model_dir, size=32, **train):
    """Random-weight extractors (no download), 32 px, batch 2, a few steps."""
    return Config(
        data=DataConfig(dataset_dir=str(dataset_dir), image_size=size, batch_size=2),
        model=ModelConfig(extractor="vgg19", extractor_weights="none", face_extractor="resnet101",
                          face_extractor_weights="none", face_crop_size=32),
        train=TrainConfig(model_dir=str(model_dir), **{"epochs": 1, "init_epochs": 1,
                                                       "steps_per_epoch": 2, **train}),
    )
