"""Typed, frozen configuration of a run: data, models, loss weights, training schedule.

Entry scripts read their flags once into a `Config`; the library only ever sees these objects.
`Config.to_json()` is written next to the checkpoints so a run can be reproduced and resumed.
Every check names the field it rejects, so a wrong value fails before any heavy work.
"""

import dataclasses
import json
from typing import Optional

DISTANCES = ("huber", "l1", "l2")
GENERATORS = ("animegan_v1", "animegan_v2")
EXTRACTORS = ("vgg19", "vgg16", "mobilenet")
FACE_EXTRACTORS = ("resnet101", "vgg16", "none")
STRATEGIES = ("auto", "mirrored", "one_device", "multi_worker")
# Mixed precision: compute dtype of the networks (variables, loss terms and normalisation
# statistics stay float32). bfloat16: CPUs with AVX-512-BF16 or AMX, TPUs, recent GPUs; float16:
# GPUs, with loss scaling.
PRECISIONS = ("off", "bfloat16", "float16")
DIFFAUGMENT_PARTS = ("color", "translation", "cutout")
# YUV of [0, 1] images times this in the colour and skin terms (LossConfig.color_scale): the
# 0..255 scale of the pixels the VGG extractors see. With it, each term's gradient on the
# generator's variables stands to the content term's about as the thesis' weights do (colour
# 3.6x content against weights 10 : 3); with AnimeGAN's [0, 1] the colour gradient was 0.1 % of
# content's and the skin term did nothing. README "Loss scales" has the measurement.
COLOR_SCALE = 255.0


def _require(condition, field, message):
    if not condition:
        raise ValueError(f"{field}: {message}")


def _check_weights_option(field, value):
    # "imagenet" downloads through keras.applications, "none" is random init, anything else a file.
    _require(isinstance(value, str) and value != "", field, "must be 'imagenet', 'none' or a file path")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the images are and how they are batched.

    Args:
        photo_dir, anime_dir: raw image folders; when set, they are prepared into `dataset_dir`
            on first use (cached).
        dataset_dir: a prepared dataset (see `animegan_face.data.preparation`): photo/, anime/,
            smooth/ and faces.json.
        image_size: square training size in pixels, a multiple of 4.
        batch_size: global batch size (split across replicas).
    """

    photo_dir: str = ""
    anime_dir: str = ""
    dataset_dir: str = ""
    image_size: int = 256
    batch_size: int = 6

    def __post_init__(self):
        _require(self.image_size >= 16 and self.image_size % 4 == 0, "image_size",
                 f"must be a multiple of 4 and at least 16, got {self.image_size}")
        _require(self.batch_size >= 1, "batch_size", f"must be at least 1, got {self.batch_size}")
        _require(bool(self.photo_dir) == bool(self.anime_dir), "photo_dir",
                 "--photo_dir and --anime_dir go together")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The generator architecture, the frozen feature extractors the losses use, and their weights.

    Args:
        generator: "animegan_v1" (3.96 M parameters, the thesis') or "animegan_v2" (2.14 M,
            layer norm, 15 % less work per pixel: the phone-sized option).
        extractor: content/Gram network, "vgg19" (AnimeGAN), "vgg16" (ImageNet weights obtainable
            offline with fetch_weights.py) or "mobilenet" (the thesis' light option).
        extractor_weights: "imagenet" (keras.applications download), "none" (random), or a file path.
        face_extractor: face-feature network, "resnet101" (the thesis'), "vgg16" or "none" (face
            loss off).
        face_extractor_weights: as `extractor_weights`.
        face_crop_size: side of the face crops fed to the face extractor, in pixels.
    """

    generator: str = "animegan_v1"
    extractor: str = "vgg19"
    extractor_weights: str = "imagenet"
    face_extractor: str = "resnet101"
    face_extractor_weights: str = "imagenet"
    face_crop_size: int = 128

    def __post_init__(self):
        _require(self.generator in GENERATORS, "generator",
                 f"must be one of {GENERATORS}, got {self.generator!r}")
        _require(self.extractor in EXTRACTORS, "extractor",
                 f"must be one of {EXTRACTORS}, got {self.extractor!r}")
        _require(self.face_extractor in FACE_EXTRACTORS, "face_extractor",
                 f"must be one of {FACE_EXTRACTORS}, got {self.face_extractor!r}")
        _check_weights_option("extractor_weights", self.extractor_weights)
        _check_weights_option("face_extractor_weights", self.face_extractor_weights)
        _require(self.face_crop_size >= 32, "face_crop_size", "must be at least 32")


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Loss weights of the thesis (eq. 6 and 7) and the distance used inside every term.

    The discriminator loss is weighted by `adv` too, as in AnimeGAN v1. `color_scale` multiplies
    the YUV values of the colour and skin terms before the distance (see `losses.color_loss`):
    the thesis fixes their formula and weights, not the value range of YUV.

    Flatness candidates (issue 24; all off by default until a fixed-budget ablation chooses):
        surface: weight of the surface adversarial term (White-box Cartoonization): the
            discriminator also judges guided-filtered anime (real) against guided-filtered
            G(p) (fake); G is pulled by the same weight, D's side is weighted by it too.
        distill: weight of self-distillation onto an edge-preserving (guided-filter) smoothed copy
            of G's own output (AnimeGANv3's cleaned-target head, one head).
        region: weight of the pull towards G's output with its colour regions averaged (k-means
            colours of the smoothed output: flat shading; White-box's structure term, simplified).
        diffaugment: DiffAugment policy for everything D sees, in D and G updates:
            "" (off) or a comma list of "color", "translation", "cutout".
    """

    adv: float = 300.0
    con: float = 3.0
    gra: float = 3.5
    col: float = 10.0
    skin: float = 2.8
    face: float = 2.0
    distance: str = "huber"
    color_scale: float = COLOR_SCALE
    surface: float = 0.0
    distill: float = 0.0
    region: float = 0.0
    diffaugment: str = ""

    def __post_init__(self):
        _require(self.distance in DISTANCES, "distance",
                 f"must be one of {DISTANCES}, got {self.distance!r}")
        _require(self.color_scale > 0, "color_scale", f"must be positive, got {self.color_scale}")
        parts = [p.strip() for p in self.diffaugment.split(",")] if self.diffaugment else []
        _require(all(p in DIFFAUGMENT_PARTS for p in parts), "diffaugment",
                 f"must be empty or a comma list of {DIFFAUGMENT_PARTS}, got {self.diffaugment!r}")
        for field in ("adv", "con", "gra", "col", "skin", "face", "surface", "distill", "region"):
            _require(getattr(self, field) >= 0, f"{field}_weight", "must not be negative")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The AnimeGAN v1 schedule with the thesis' learning rates.

    Args:
        model_dir: checkpoints, TensorBoard logs, samples and config.json go here.
        epochs: GAN epochs after the warm-up.
        init_epochs: warm-up epochs training the generator alone on the content loss.
        steps_per_epoch: None means max(#photos, #anime) // global batch.
        init_from: a folder with generator.weights.h5 (and optionally discriminator.weights.h5),
            e.g. a shipped model, that a new run starts from instead of its warm-up; ignored
            once the run has a checkpoint of its own.
    """

    model_dir: str = ""
    epochs: int = 100
    init_epochs: int = 5
    steps_per_epoch: Optional[int] = None
    g_lr: float = 8e-5
    d_lr: float = 1.6e-4
    init_lr: float = 1e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    strategy: str = "auto"
    mixed_precision: str = "off"
    jit_compile: bool = False
    seed: int = 0
    init_from: str = ""

    def __post_init__(self):
        _require(self.epochs >= 0, "epochs", "must not be negative")
        _require(self.init_epochs >= 0, "init_epochs", "must not be negative")
        _require(self.steps_per_epoch is None or self.steps_per_epoch >= 1, "steps_per_epoch",
                 "must be at least 1")
        for field in ("g_lr", "d_lr", "init_lr"):
            _require(getattr(self, field) > 0, field, "must be positive")
        _require(self.strategy in STRATEGIES, "strategy",
                 f"must be one of {STRATEGIES}, got {self.strategy!r}")
        if isinstance(self.mixed_precision, bool):  # config.json from before bfloat16: on = float16
            object.__setattr__(self, "mixed_precision", "float16" if self.mixed_precision else "off")
        _require(self.mixed_precision in PRECISIONS, "mixed_precision",
                 f"must be one of {PRECISIONS}, got {self.mixed_precision!r}")


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything a run needs; written as config.json next to its checkpoints."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    train: TrainConfig = TrainConfig()

    def __post_init__(self):
        # N workers preparing into one shared folder at once would delete each other's files.
        _require(not (self.train.strategy == "multi_worker" and self.data.photo_dir), "photo_dir",
                 "with --strategy=multi_worker, prepare the dataset once (prepare.py) and give "
                 "--dataset_dir instead of --photo_dir/--anime_dir")

    def to_dict(self):
        return dataclasses.asdict(self)

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values):
        # A config.json from before color_scale existed trained with YUV of [0, 1] images.
        loss = {"color_scale": 1.0, **values.get("loss", {})}
        # shuffle_buffer sized tf.data's shuffle before the one input pipeline shuffled whole passes.
        data = {k: v for k, v in values.get("data", {}).items() if k != "shuffle_buffer"}
        return cls(
            data=DataConfig(**data),
            model=ModelConfig(**values.get("model", {})),
            loss=LossConfig(**loss),
            train=TrainConfig(**values.get("train", {})),
        )

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))


def run_generator(values):
    """The generator architecture a run's config.json (as a dict) names. Runs written before the
    architecture became a setting trained animegan_v1, whatever the default is now."""
    return values.get("model", {}).get("generator", "animegan_v1")


# The thesis model, and the AnimeGAN baseline it is compared with (no skin or face loss).
PRESETS = {
    "thesis": Config(),
    "animegan": Config(
        model=ModelConfig(face_extractor="none"),
        loss=LossConfig(skin=0.0, face=0.0),
    ),
}
