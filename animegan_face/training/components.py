"""What a training run is built from, built one way for both backends: the compute precision,
the networks with their frozen extractors, and the three Adam optimizers."""

import collections
import pathlib
import sys

import keras

from animegan_face.config import compute_precision
from animegan_face.models.extractors import build_loss_extractors
from animegan_face.models.networks import build_discriminator, build_generator
from animegan_face.training.devices import has_gpu

Networks = collections.namedtuple(
    "Networks", "generator discriminator content_extractor face_extractor")
Optimizers = collections.namedtuple("Optimizers", "init generator discriminator")


def set_precision_policy(config):
    """Sets Keras' global dtype policy for the run: float32, mixed_bfloat16 or mixed_float16
    ("auto": `animegan_face.config.compute_precision` on this machine); returns the precision chosen.

    Call before building any network. Variables stay float32 under both mixed policies; the loss
    terms cast to float32 (`losses`), normalisation layers compute their statistics in float32
    (Keras' GroupNormalization upcasts) and both networks' output layers are float32.
    """
    setting = config.train.mixed_precision
    gpu = has_gpu() if setting in ("auto", "bfloat16") else False
    precision = compute_precision(setting, cpu_has_native_bfloat16(), gpu)
    policy = {"off": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
    keras.mixed_precision.set_global_policy(policy[precision])
    if setting == "auto":
        print(f"--mixed_precision=auto: {policy[precision]} on this machine", file=sys.stderr)
    elif precision == "bfloat16" and cpu_has_native_bfloat16() is False and not gpu:
        print("Warning: --mixed_precision=bfloat16 on a CPU without AVX512_BF16 or AMX "
              "instructions (no avx512_bf16/amx_bf16 in /proc/cpuinfo): bfloat16 is emulated there "
              "and trains many times slower than float32; use --mixed_precision=off on this "
              "machine.", file=sys.stderr)
    return precision


def cpu_has_native_bfloat16(cpuinfo="/proc/cpuinfo"):
    """True if the CPU flags list avx512_bf16 or amx_bf16 (bfloat16 arithmetic in hardware),
    False if they do not, None where there is no readable /proc/cpuinfo (not Linux)."""
    try:
        text = pathlib.Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return None
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[-1].split())
    return bool(flags & {"avx512_bf16", "amx_bf16"}) if flags else None


def make_adam(learning_rate, config):
    """Adam with the run's betas; wrapped for loss scaling under float16 (bfloat16 has float32's
    exponent range, so its gradients need no scaling; "auto" never picks float16)."""
    optimizer = keras.optimizers.Adam(learning_rate, beta_1=config.train.beta_1,
                                      beta_2=config.train.beta_2)
    if config.train.mixed_precision == "float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def build_networks(config):
    """The generator and discriminator `config.model` names, and the frozen loss extractors
    (`face_extractor` None when the face term is off)."""
    # This order (generator, discriminator, extractors) fixes which random draws each one gets.
    generator = build_generator(config.model.generator, output_filter=config.model.output_filter)
    discriminator = build_discriminator()
    return Networks(generator, discriminator, *build_loss_extractors(config.model, config.loss))


def make_optimizers(config):
    """The warm-up, generator and discriminator Adams at the run's learning rates."""
    train = config.train
    return Optimizers(make_adam(train.init_lr, config), make_adam(train.g_lr, config),
                      make_adam(train.d_lr, config))
