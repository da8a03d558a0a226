"""A training run's folder (`--model_dir`): what lies where in it, and the one place that knows.

model_dir/
    config.json                 the resolved Config of the run
    checkpoints/                full state after epoch N (both networks, the three Adams, counters):
        keras-ckpt-N/               `.weights.h5`/`.npz` files (`keras_checkpoint`), either backend
        ckpt-N.*                    runs of TensorFlow from before that format: `tf.train.Checkpoint`
                                    (`checkpoint` is its index), resumed under TensorFlow only
    generator.weights.h5        the generator alone, latest epoch (export, stylise; either backend)
    logs/                       TensorBoard
    samples/epoch_NNN.png       sample photos beside their stylisation, each epoch
    dataset/                    the prepared dataset, when photo_dir/anime_dir were given and
                                dataset_dir was not

Training writes it; export, stylise, diagnose and the provenance record read it. No TensorFlow
here (the JAX path uses it); reading a TensorFlow checkpoint's counters imports it on demand.
"""

import json
import os
import pathlib
import re

from animegan_face.config import Config, run_generator, run_output_filter
from animegan_face.data.image_files import save_weights_atomic, write_file_atomic
from animegan_face.training.keras_checkpoint import KerasCheckpoint
from animegan_face.training.run_checks import SetupError


def _as_written_now(values):
    """A config.json dict as this version writes the same settings (older files may lack keys
    that have a default meaning, or hold retired ones); unreadable settings stay as they are."""
    try:
        return Config.from_dict(values).to_dict()
    except (TypeError, ValueError):
        return values


class RunFolder:
    """The paths of one run's folder and the reads and writes that keep it consistent.

    Args:
        root: the run's `--model_dir` (need not exist yet).
    """

    def __init__(self, root):
        self.root = pathlib.Path(root)
        self.config_path = self.root / "config.json"
        self.generator_path = self.root / "generator.weights.h5"
        self.checkpoints_dir = self.root / "checkpoints"
        self.logs_dir = self.root / "logs"
        self.samples_dir = self.root / "samples"
        self.default_dataset_dir = self.root / "dataset"

    def sample_path(self, epoch):
        """samples/epoch_NNN.png of epoch `epoch` (counted from 1)."""
        return self.samples_dir / f"epoch_{epoch:03d}.png"

    # config.json

    def read_config(self):
        """config.json as a dict, or None when it is missing or unreadable."""
        return self._read_config()[0]

    def _read_config(self):
        """(config.json as a dict or None, None or why it is damaged when it exists but is not a
        settings dict: cut short, edited into invalid JSON, overwritten by something else)."""
        try:
            text = self.config_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None, None
        except (OSError, ValueError) as error:
            return None, f"unreadable: {error}"
        try:
            values = json.loads(text)
        except ValueError as error:
            return None, f"not JSON: {error}"
        if not isinstance(values, dict):
            return None, f"not a settings object but {type(values).__name__}"
        return values, None

    def generator_architecture(self):
        """The generator the run's config.json names (runs from before that setting: v1), or None."""
        config = self.read_config()
        return None if config is None else run_generator(config)

    def generator_output_filter(self):
        """The generator's output filter that config.json names: None (none, or no config.json)
        or (radius, epsilon) (`networks.build_generator`'s output_filter)."""
        config = self.read_config()
        return None if config is None else run_output_filter(config)

    def checkpoint_generator(self):
        """The generator whose weights the latest checkpoint holds, or None (no checkpoint of the
        one format, or weights that fit neither); for a config.json that cannot say."""
        latest = self.latest_checkpoint()
        if latest is None or not (latest / "generator.weights.h5").is_file():
            return None
        from animegan_face.models.networks import generator_of_weights  # builds both: Keras

        return generator_of_weights(latest / "generator.weights.h5")

    def write_config(self, config):
        """Writes config.json, noting when it replaces different settings of an earlier run.

        Atomic: a kill while writing must not leave a config.json that breaks the resume. Raises
        SetupError, writing nothing, when the run's checkpoints hold another generator architecture
        (told by config.json, or by the checkpoint's weights when config.json is damaged): a run
        that cannot resume must not get settings that would lock out the one that can. A damaged
        config.json is kept as config.json.damaged (numbered when that exists) and named.
        """
        previous, damage = self._read_config()
        if self.has_checkpoints():
            was = run_generator(previous) if previous is not None else self.checkpoint_generator()
            if was is not None and was != config.model.generator:
                raise SetupError(
                    f"{self.root} holds checkpoints of the {was} generator, which "
                    f"--generator={config.model.generator} cannot resume: give --generator={was}, "
                    "or start a new --model_dir"
                    + (f" ({self.config_path} is damaged, {damage}; the checkpoint tells)"
                       if damage else ""))
        if damage is not None:
            kept = self._keep_damaged_config()
            print(f"Note: {self.config_path} was damaged ({damage}); it is kept as {kept.name}, "
                  "and this run's settings replace it.")
        elif previous is not None and _as_written_now(previous) != config.to_dict():
            print(f"Note: {self.config_path} differs from this run's settings; it is replaced by "
                  "the new ones.")
        self.root.mkdir(parents=True, exist_ok=True)
        write_file_atomic(self.config_path, (config.to_json() + "\n").encode("utf-8"))

    def _keep_damaged_config(self):
        kept, number = self.root / "config.json.damaged", 1
        while kept.exists():
            number += 1
            kept = self.root / f"config.json.damaged{number}"
        os.replace(self.config_path, kept)
        return kept

    # checkpoints

    def latest_checkpoint(self):
        """Folder of the newest complete checkpoint (`keras_checkpoint`), or None."""
        return KerasCheckpoint(self.checkpoints_dir, {}, {}).latest

    def legacy_tensorflow_checkpoint(self):
        """Path prefix of the newest `tf.train.Checkpoint` a TensorFlow run wrote before the one
        checkpoint format (CheckpointManager's index), or None."""
        index = self.checkpoints_dir / "checkpoint"
        if not index.is_file():
            return None
        match = re.search(r'^model_checkpoint_path: "([^"]+)"', index.read_text(), re.M)
        return str(self.checkpoints_dir / match.group(1)) if match else None

    def has_checkpoints(self):
        """Whether the run has a checkpoint to resume from, in either format."""
        return (self.latest_checkpoint() is not None
                or self.legacy_tensorflow_checkpoint() is not None)

    def refuse_legacy_checkpoint(self):
        """SetupError when the run's only checkpoints are `tf.train.Checkpoint`s (written before the
        one format), for a backend that cannot read them: starting over would overwrite the run's
        generator.weights.h5 with an untrained one."""
        if self.latest_checkpoint() is None and self.legacy_tensorflow_checkpoint() is not None:
            raise SetupError(
                f"{self.root} holds TensorFlow checkpoints of an older version, which only "
                "KERAS_BACKEND=tensorflow resumes (it then saves in the format both backends "
                f"read); or start a new --model_dir with --init_from={self.root} (its "
                f"{self.generator_path.name}, warm-up skipped)")

    def training_progress(self):
        """{"epoch", "step", "checkpoint"} of the latest checkpoint (either format), or None.

        A counter that cannot be read (TensorFlow absent, a damaged file) is None; the path stays.
        """
        latest = self.latest_checkpoint()
        if latest is not None:
            try:
                epoch, step = KerasCheckpoint.counters(latest)
            except (OSError, ValueError, KeyError):  # unreadable: the path is still recorded
                epoch = step = None
            return {"checkpoint": str(pathlib.Path(latest).resolve()), "epoch": epoch, "step": step}
        latest = self.legacy_tensorflow_checkpoint()
        if latest is None:
            return None
        progress = {"checkpoint": str(pathlib.Path(latest).resolve()), "epoch": None, "step": None}
        try:
            import tensorflow as tf
        except ImportError:  # the counters live in the TensorFlow checkpoint
            return progress
        try:
            reader = tf.train.load_checkpoint(latest)
            for name in ("epoch", "step"):
                progress[name] = int(reader.get_tensor(f"{name}/.ATTRIBUTES/VARIABLE_VALUE"))
        except (ValueError, tf.errors.OpError):  # unreadable: the path is still recorded
            pass
        return progress

    # the generator file

    def save_generator(self, generator):
        """generator.weights.h5 := `generator`'s weights, written then renamed."""
        save_weights_atomic(generator, self.generator_path)

    def copy_generator(self, weights_file):
        """generator.weights.h5 := a copy of `weights_file` (a checkpoint's), atomically."""
        write_file_atomic(self.generator_path, pathlib.Path(weights_file).read_bytes())
