"""Typed, frozen configuration of a run: data, models, loss weights, training schedule.

Each field's default and help text live here once (`option`): train.py generates its flags from
them (`options()`), and presets (`PRESETS`) give starting values for any field. Entry scripts read
their flags once into a `Config`; the library only ever sees these objects.
`Config.to_json()` is written next to the checkpoints so a run can be reproduced and resumed.
Every check names the field it rejects, so a wrong value fails before any heavy work.
"""

import dataclasses
import json
from typing import Optional

DISTANCES = ("huber", "l1", "l2")
CONTENT_SOURCES = ("photo", "pair")
SKIN_REGIONS = ("box", "landmarks")  # losses.SKIN_REGIONS (config imports no library module)
SKIN_STATISTICS = ("pixels", "mean")  # losses.SKIN_STATISTICS
GENERATORS = ("animegan_v1", "animegan_v2")
EXTRACTORS = ("vgg19", "vgg16", "mobilenet")
FACE_EXTRACTORS = ("resnet101", "vgg16", "none")
STRATEGIES = ("auto", "mirrored", "one_device", "multi_worker")
# Mixed precision: compute dtype of the networks (variables, loss terms and normalisation
# statistics stay float32). bfloat16: CPUs with AVX-512-BF16 or AMX, TPUs, recent GPUs; float16:
# GPUs, with loss scaling; auto: `compute_precision` decides on the machine at hand.
PRECISIONS = ("auto", "off", "bfloat16", "float16")
DIFFAUGMENT_PARTS = ("color", "translation", "cutout")
# YUV of [0, 1] images times this in the colour and skin terms (LossConfig.color_scale). At 255
# (the 0..255 scale of the pixels the VGG extractors see) the colour term was the strongest pull on
# the generator and the outputs stayed photographs; at 32 outlines and flat shading appeared, and
# the shipped model trained at 32 (model card "Why the colour scale changed"). At AnimeGAN's [0, 1]
# the colour gradient was 0.1 % of content's and the skin term did nothing (docs/method.md, "Loss scales").
COLOR_SCALE = 32.0


def option(default, help, flag=None, choices=None, required=False):
    """A config field that is also a command-line option: its default and `help` are the one source
    of both (train.py builds its flags from them, `options()` lists them).

    Args:
        default: the field's default, and the flag's.
        help: what the option means, as `--helpfull` shows it.
        flag: the flag's name where it is not the field's (e.g. "adv_weight" for `loss.adv`).
        choices: the allowed values of a string option (an enum flag).
        required: the flag must be given (its flag default is then None).
    """
    return dataclasses.field(default=default, metadata={
        "help": help, "flag": flag, "choices": choices, "required": required})


def _require(condition, field, message):
    if not condition:
        raise ValueError(f"{field}: {message}")


def _check_weights_option(field, value):
    # "imagenet" downloads through keras.applications, "none" is random init, anything else a file.
    _require(isinstance(value, str) and value != "", field, "must be 'imagenet', 'none' or a file path")


_WEIGHTS_HELP = ("'imagenet' (for vgg16 the file `fetch_weights.py vgg16` writes, else downloaded "
                 "once by keras.applications), 'none' (random: smoke runs only), or a weights file")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the images are and how they are batched (each field's meaning: its `help`)."""

    photo_dir: str = option("", "Raw face photos; prepared into --dataset_dir on first use.")
    anime_dir: str = option("", "Raw anime images; prepared with --photo_dir.")
    dataset_dir: str = option("", "Prepared dataset (prepare.py: photo/, anime/, smooth/, "
                                  "faces.json); default MODEL_DIR/dataset.")
    image_size: int = option(256, "Square training size in pixels, a multiple of 4.")
    batch_size: int = option(8, "Global batch size (split across replicas).")
    crop_size: int = option(
        0, "Train on random crop_size x crop_size windows of the image_size images (0: whole "
        "images): the generator learns at image_size's scale for crop_size's cost.")

    def __post_init__(self):
        _require(self.image_size >= 16 and self.image_size % 4 == 0, "image_size",
                 f"must be a multiple of 4 and at least 16, got {self.image_size}")
        _require(self.batch_size >= 1, "batch_size", f"must be at least 1, got {self.batch_size}")
        _require(self.crop_size == 0 or (16 <= self.crop_size <= self.image_size
                                         and self.crop_size % 4 == 0), "crop_size",
                 f"must be 0 or a multiple of 4 from 16 to image_size, got {self.crop_size}")
        _require(bool(self.photo_dir) == bool(self.anime_dir), "photo_dir",
                 "--photo_dir and --anime_dir go together")


OUTPUT_FILTER_EPSILON = 0.01  # ModelConfig.output_filter_epsilon's default


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The generator, the frozen feature extractors the losses use, and their weights.

    The defaults are selfie2anime_v2's (the model the shipped selfie2anime_v6 was trained on
    from, through v3): the thesis named VGG19 and ResNet101, whose ImageNet weights cannot be had
    without internet; VGG16's can (`fetch_weights.py vgg16`).
    """

    generator: str = option(
        "animegan_v2", "Generator: animegan_v2 (AnimeGANv2's, 2.14 M parameters, layer norm; the "
        "shipped model's) or animegan_v1 (the thesis', 3.96 M).", choices=GENERATORS)
    extractor: str = option(
        "vgg16", "Content/Gram extractor: vgg16 (ImageNet weights obtainable offline with "
        "fetch_weights.py), vgg19 (AnimeGAN's) or mobilenet (the thesis' light option).",
        choices=EXTRACTORS)
    extractor_weights: str = option("imagenet", f"Weights of --extractor: {_WEIGHTS_HELP}.")
    face_extractor: str = option(
        "vgg16", "Face-feature extractor: vgg16, resnet101 (the thesis') or none (face loss "
        "off).", choices=FACE_EXTRACTORS)
    face_extractor_weights: str = option("imagenet", "As --extractor_weights, for --face_extractor.")
    face_crop_size: int = option(128, "Side of the face crops fed to the face extractor, in pixels.")
    output_filter_radius: int = option(
        0, "Radius in pixels of an edge-preserving guided filter that ends the generator (0 = "
        "none): texture and shading noise are averaged away, outlines kept (AnimeGANv3's output "
        "filter). No weights: the losses, the exports and stylize.py all see the filtered output.")
    output_filter_epsilon: float = option(
        OUTPUT_FILTER_EPSILON, "Variance on the [-1, 1] scale below which --output_filter_radius "
        "flattens: 0.01 flattens differences of about 0.1 (13 grey levels) and keeps larger steps.")

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
        _require(self.output_filter_radius >= 0, "output_filter_radius", "must be 0 (off) or more")
        _require(self.output_filter_epsilon > 0, "output_filter_epsilon", "must be above 0")

    @property
    def output_filter(self):
        """`networks.build_generator`'s output_filter: None, or (radius, epsilon)."""
        if self.output_filter_radius <= 0:
            return None
        return self.output_filter_radius, self.output_filter_epsilon


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Loss weights of the thesis (eq. 6 and 7) and the distance used inside every term.

    The discriminator loss is weighted by `adv` too, as in AnimeGAN v1. `color_scale` multiplies
    the YUV values of the colour and skin terms before the distance (see `losses.color_loss`):
    the thesis fixes their formula and weights, not the value range of YUV. The flatness
    candidates (surface, distill, region, crack, pair, diffaugment, input_grain; issue 24) are
    off by default until a fixed-budget ablation chooses.
    """

    adv: float = option(300.0, "Weight of the adversarial loss (G and D).", flag="adv_weight")
    con: float = option(3.0, "Weight of the content loss.", flag="con_weight")
    gra: float = option(3.5, "Weight of the Gram style loss.", flag="gra_weight")
    col: float = option(10.0, "Weight of the colour loss.", flag="col_weight")
    skin: float = option(2.8, "Weight of the skin colour loss.", flag="skin_weight")
    face: float = option(2.0, "Weight of the face feature loss.", flag="face_weight")
    skin_region: str = option(
        "box", "Which pixels the skin colour loss compares: box (the thesis: the face box, with "
        "hair, eyes, mouth and background corners) or landmarks (the skin: the face oval without "
        "eyes, brows and lips, from the landmarks prepare.py stores in faces.json; a dataset "
        "prepared before them must be prepared again).", choices=SKIN_REGIONS)
    skin_statistic: str = option(
        "pixels", "What the skin colour loss compares in its region: pixels (the thesis: every "
        "pixel's YUV with the photo's, texture included) or mean (the region's mean YUV: the "
        "face keeps its tone, its shading is left to the style).", choices=SKIN_STATISTICS)
    distance: str = option("huber", "Distance inside every loss term.", choices=DISTANCES)
    color_scale: float = option(
        COLOR_SCALE, "YUV of [0, 1] images is multiplied by this in the colour and skin terms: 32 "
        "(the shipped model's), 255 (the 0..255 pixel scale: the colour term then outweighs the "
        "rest and outputs stay photographs) or 1 (AnimeGAN's: the terms do nothing measurable).")
    surface: float = option(
        0.0, "Weight of the surface adversarial loss (White-box Cartoonization): D also judges "
        "guided-filtered anime (real) against guided-filtered G(p) (fake).", flag="surface_weight")
    distill: float = option(
        0.0, "Weight of self-distillation onto an edge-preserving (guided-filter) smoothed copy "
        "of G's own output (AnimeGANv3's cleaned-target head).", flag="distill_weight")
    region: float = option(
        0.0, "Weight of the pull towards G's output with its k-means colour regions averaged "
        "(flat shading; White-box's structure term, simplified).", flag="region_weight")
    crack: float = option(
        0.0, "Weight of the crack term: the mean depth of the thin dark marks on the skin of G's "
        "output (what a --crack_size px morphological closing fills inside the landmarks' skin "
        "mask), which lifts them towards the closing; needs a dataset prepared with skin regions.",
        flag="crack_weight")
    crack_size: int = option(
        5, "Side in pixels of the crack term's closing window: dark marks narrower than it are "
        "lifted (5: cracks and pores; 9 also smile creases and cheek folds, and thin nose lines).")
    pair: float = option(
        0.0, "Weight of the L1 pull towards each photo's pseudo-pair target (make_pairs.py: a "
        "stylising model's output, edge-preserving filtered): the supervised signal the clean "
        "public face models had.", flag="pair_weight")
    content_source: str = option(
        "photo", "What the content term compares G(p)'s VGG features with: photo (the thesis: "
        "keep the person) or pair (each photo's pseudo-pair target: a perceptual pull towards "
        "it, as face_paint's LPIPS term; the photo's skin texture is then no longer asked for).",
        choices=CONTENT_SOURCES)
    diffaugment: str = option(
        "", "DiffAugment for everything the discriminator sees, in D and G updates: '' (off) or "
        "a comma list of color, translation, cutout.")
    input_grain: float = option(
        0.0, "Standard deviation (on the [-1, 1] scale) of the photographic grain added to each "
        "photo that G stylises in a GAN step, drawn anew every step; every loss term still "
        "compares with the clean photo, so G learns to draw the same face with or without skin "
        "texture and camera noise (which otherwise become crack-like lines); 0: off.")

    def __post_init__(self):
        _require(self.distance in DISTANCES, "distance",
                 f"must be one of {DISTANCES}, got {self.distance!r}")
        _require(self.skin_region in SKIN_REGIONS, "skin_region",
                 f"must be one of {SKIN_REGIONS}, got {self.skin_region!r}")
        _require(self.skin_statistic in SKIN_STATISTICS, "skin_statistic",
                 f"must be one of {SKIN_STATISTICS}, got {self.skin_statistic!r}")
        _require(self.content_source in CONTENT_SOURCES, "content_source",
                 f"must be one of {CONTENT_SOURCES}, got {self.content_source!r}")
        _require(self.color_scale > 0, "color_scale", f"must be positive, got {self.color_scale}")
        _require(self.crack_size >= 2, "crack_size", f"must be at least 2, got {self.crack_size}")
        _require(self.input_grain >= 0, "input_grain",
                 f"must not be negative, got {self.input_grain}")
        parts = [p.strip() for p in self.diffaugment.split(",")] if self.diffaugment else []
        _require(all(p in DIFFAUGMENT_PARTS for p in parts), "diffaugment",
                 f"must be empty or a comma list of {DIFFAUGMENT_PARTS}, got {self.diffaugment!r}")
        for field in ("adv", "con", "gra", "col", "skin", "face", "surface", "distill", "region",
                      "crack", "pair"):
            _require(getattr(self, field) >= 0, f"{field}_weight", "must not be negative")

    @property
    def needs_skin_regions(self):
        """Whether a batch's face boxes must carry the landmarks' skin regions ((B, 20) rows): the
        skin term on the landmarks' region, or the crack term."""
        return self.skin_region == "landmarks" or self.crack != 0

    @property
    def needs_pairs(self):
        """Whether a batch must carry pseudo-pair targets (make_pairs.py): the pair term, or the
        content term reading them."""
        return self.pair != 0 or (self.con != 0 and self.content_source == "pair")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The AnimeGAN v1 schedule with the thesis' learning rates, and how the run executes."""

    model_dir: str = option("", "Checkpoints, TensorBoard logs, samples and config.json go here.",
                            required=True)
    epochs: int = option(100, "GAN epochs after the warm-up.")
    init_epochs: int = option(5, "Warm-up epochs training the generator alone on the content loss.")
    steps_per_epoch: Optional[int] = option(
        None, "Steps per epoch; unset or 0: max(#photos, #anime) // global batch.")
    g_lr: float = option(8e-5, "Generator learning rate (Adam).")
    d_lr: float = option(1.6e-4, "Discriminator learning rate (Adam).")
    init_lr: float = option(1e-4, "Warm-up learning rate (Adam).")
    beta_1: float = option(0.5, "Adam's beta_1 (all three optimizers).")
    beta_2: float = option(0.999, "Adam's beta_2 (all three optimizers).")
    strategy: str = option(
        "auto", "auto: MirroredStrategy over all GPUs if any, else the default device; "
        "multi_worker: several machines, from TF_CONFIG (docs/training.md).", choices=STRATEGIES)
    mixed_precision: str = option(
        "auto", "Compute dtype (losses, variables and normalisation statistics stay float32): "
        "auto (bfloat16 on a GPU or on a CPU with AVX512_BF16/AMX, else float32), off "
        "(float32), bfloat16 (on other CPUs emulated and many times slower), or float16 (GPUs, "
        "with loss scaling; choose it on GPUs older than Ampere, which lack bfloat16).",
        choices=PRECISIONS)
    jit_compile: bool = option(False, "XLA-compile the train steps (faster on GPU, ~2x slower "
                                      "on CPU).")
    gradient_norms: bool = option(
        True, "After each GAN epoch, log each weighted loss term's gradient norms on 8 fixed "
        "photos to TensorBoard (grad_norm/...; measured eagerly: seconds per epoch on a CPU).")
    seed: int = option(0, "Random seed.")
    init_from: str = option(
        "", "Start a new run from this folder's generator.weights.h5 (+ discriminator.weights.h5), "
        "e.g. checkpoints/selfie2anime_v2: warm-up skipped; ignored once the run has a checkpoint "
        "of its own.")

    def __post_init__(self):
        if self.steps_per_epoch == 0:  # the flag's "0: automatic"
            object.__setattr__(self, "steps_per_epoch", None)
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


def compute_precision(setting, cpu_native_bfloat16, has_gpu):
    """The compute precision a run uses: "off", "bfloat16" or "float16".

    `setting` is TrainConfig.mixed_precision; "auto" picks bfloat16 where it runs in hardware (a
    GPU, or a CPU whose flags list avx512_bf16 or amx_bf16: `cpu_native_bfloat16` True) and
    float32 elsewhere, where emulated bfloat16 is many times slower than float32.
    """
    if setting != "auto":
        return setting
    return "bfloat16" if has_gpu or cpu_native_bfloat16 else "off"


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
        """The Config of a config.json (as a dict). A field the file lacks was added after it was
        written: such a run trained with that field's value of the time (`_BEFORE_FIELD`)."""
        sections = {name: {**_BEFORE_FIELD.get(name, {}), **values.get(name, {})}
                    for name in ("data", "model", "loss", "train")}
        # shuffle_buffer sized tf.data's shuffle before the one input pipeline shuffled whole passes.
        sections["data"].pop("shuffle_buffer", None)
        return cls(data=DataConfig(**sections["data"]), model=ModelConfig(**sections["model"]),
                   loss=LossConfig(**sections["loss"]), train=TrainConfig(**sections["train"]))

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))


# What a run whose config.json lacks a field trained with: the value before the field existed
# (color_scale: YUV of [0, 1] images; mixed_precision: float32; generator: the thesis' v1), or the
# default of the time for the fields whose default changed later (extractors, batch size).
_BEFORE_FIELD = {
    "data": {"batch_size": 6},
    "model": {"generator": "animegan_v1", "extractor": "vgg19", "face_extractor": "resnet101"},
    "loss": {"color_scale": 1.0},
    "train": {"mixed_precision": "off"},
}


def run_generator(values):
    """The generator architecture a run's config.json (as a dict) names. Runs written before the
    architecture became a setting trained animegan_v1, whatever the default is now."""
    return values.get("model", {}).get("generator", _BEFORE_FIELD["model"]["generator"])


def run_output_filter(values):
    """The generator's output filter that a run's config.json (as a dict) names: None, or
    (radius, epsilon). Runs written before the setting existed have none."""
    model = values.get("model", {})
    radius = int(model.get("output_filter_radius", 0))
    if radius <= 0:
        return None
    return radius, float(model.get("output_filter_epsilon", OUTPUT_FILTER_EPSILON))


@dataclasses.dataclass(frozen=True)
class Option:
    """One config field as a command-line option (see `option`)."""

    section: str  # "data", "model", "loss" or "train": the Config attribute holding it
    field: str
    flag: str
    default: object
    help: str
    kind: type  # str, int, float or bool
    choices: Optional[tuple]
    required: bool


def options():
    """Every field of a Config as an `Option`, section by section in declaration order."""
    found = []
    for section in dataclasses.fields(Config):
        for field in dataclasses.fields(section.type):
            meta = field.metadata
            kind = next(t for t in (bool, int, float, str)
                        if field.type is t or field.type == Optional[t])
            found.append(Option(section.name, field.name, meta.get("flag") or field.name,
                                field.default, meta["help"], kind, meta.get("choices"),
                                meta.get("required", False)))
    return found


def config_from_options(values, preset):
    """The Config of {flag name: value} for the options given explicitly, the rest from `preset`
    (a Config): an explicit option wins over the preset, for every field."""
    by_flag = {option.flag: option for option in options()}
    unknown = set(values) - set(by_flag)
    _require(not unknown, "options", f"not config options: {sorted(unknown)}")
    sections = {name: {} for name in ("data", "model", "loss", "train")}
    for flag, value in values.items():
        sections[by_flag[flag].section][by_flag[flag].field] = value
    return Config(**{name: dataclasses.replace(getattr(preset, name), **changes)
                     for name, changes in sections.items()})


# Starting values of a run (train.py --preset): every field may be set; flags given explicitly win.
PRESETS = {
    # The thesis' six terms on the shipped model's networks: the defaults.
    "thesis": Config(),
    # The AnimeGAN baseline the thesis is compared with: no skin or face term, no face extractor.
    "animegan": Config(
        model=ModelConfig(face_extractor="none"),
        loss=LossConfig(skin=0.0, face=0.0),
    ),
    # The thesis' own networks (AnimeGAN v1 generator, VGG19, ResNet101 faces; ImageNet weights
    # downloaded by keras.applications: needs internet once).
    "thesis_networks": Config(
        model=ModelConfig(generator="animegan_v1", extractor="vgg19", face_extractor="resnet101"),
    ),
    # A smoke run that needs no weights and ends in minutes on a CPU: random extractors, 64 px,
    # one short warm-up and GAN epoch, float32. Its images mean nothing.
    "smoke": Config(
        data=DataConfig(image_size=64, batch_size=2),
        model=ModelConfig(extractor_weights="none", face_extractor_weights="none",
                          face_crop_size=32),
        train=TrainConfig(epochs=1, init_epochs=1, steps_per_epoch=2, mixed_precision="off"),
    ),
}
