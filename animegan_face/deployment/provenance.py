"""Where a model came from: the record export.py writes beside the files it exports.

    output_dir/export_manifest.json
        source     the generator weights exported (path, sha256), the training run's config.json,
                   how far it trained (epoch, step), the prepared dataset's fingerprint, and what
                   the frozen extractors' weights were (ImageNet, random, or a file and its sha256);
                   for weights converted by convert_weights.py, the file they came from; for
                   weights blended by interpolate.py, alpha and both sources' records
        software   the animegan-face commit, Python, TensorFlow and Keras versions
        exports    each exported file: its kind, sha256, size, and its measured difference from
                   the Keras generator with the tolerance it passed

A file exported by an earlier run stays listed while it is unchanged on disk (same sha256); a
re-exported, changed or deleted file's old entry goes. No TensorFlow needed.
"""

import hashlib
import importlib.metadata
import json
import pathlib
import platform
import subprocess

from animegan_face.data.image_files import write_file_atomic
from animegan_face.training.run_folder import RunFolder

MANIFEST = "export_manifest.json"
_REPO = pathlib.Path(__file__).resolve().parents[2]


def sha256(path):
    """Hex sha256 of a file; of a folder (a SavedModel), over its sorted relative paths and contents."""
    path = pathlib.Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode("utf-8") + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _read_json(path):
    try:
        return json.loads(pathlib.Path(path).read_text())
    except (OSError, ValueError):
        return None


def _extractor_weights(option):
    if option == "imagenet":
        return {"weights": "imagenet", "from": "keras.applications ImageNet weights"}
    if option == "none":
        return {"weights": "none", "from": "random initialisation: a pipeline check, not a usable "
                                           "stylisation model"}
    file = pathlib.Path(option)
    return {"weights": option,
            "sha256_at_export": sha256(file) if file.is_file() else "missing at export time"}


def source_record(model_path):
    """What `model_path` (a training model_dir, a model folder, or a bare .weights.h5/.keras file)
    is made of. A folder's config.json is recorded as "config" (it says how the generator is built,
    e.g. its output filter); it is a training run when it has checkpoints or its weights have no
    record of being converted or blended (a shipped blend's folder is not a run)."""
    path = pathlib.Path(model_path)
    run = RunFolder(path)
    weights = run.generator_path if path.is_dir() else path
    record = {"generator": {"file": str(weights.resolve()), "sha256": sha256(weights)}}
    made = _read_json(conversion_record_path(weights))
    if isinstance(made, dict) and "interpolation" in made:
        record["interpolated_from"] = made
    elif made is not None:
        record["converted_from"] = made
    if not path.is_dir():
        record["training_run"] = None  # a bare file carries no record of how it was trained
        return record
    config = run.read_config()
    progress = run.training_progress()
    if made is not None and progress is None:
        record["training_run"], record["config"] = None, config
        return record
    record["training_run"] = {"model_dir": str(path.resolve()), "config": config,
                              "progress": progress}
    if config:
        model = config.get("model", {})
        face_used = model.get("face_extractor") != "none" and config.get("loss", {}).get("face") != 0
        record["extractors"] = {
            "content": {"network": model.get("extractor"),
                        **_extractor_weights(model.get("extractor_weights"))},
            "face": ({"network": model.get("face_extractor"),
                      **_extractor_weights(model.get("face_extractor_weights"))}
                     if face_used else {"network": "none", "weights": None,
                                        "from": "not used: the face term was off"}),
        }
        data = config.get("data", {})
        dataset_dir = pathlib.Path(data.get("dataset_dir") or run.default_dataset_dir)
        report = _read_json(dataset_dir / "prepare_report.json")
        record["dataset"] = {
            "dataset_dir": str(dataset_dir), "photo_dir": data.get("photo_dir"),
            "anime_dir": data.get("anime_dir"),
            "fingerprint": report.get("fingerprint") if report else None,
            "prepare_report": str(dataset_dir / "prepare_report.json") if report else None,
        }
    return record


def trained_image_size(source):
    """The image size the generator of a source record (`source_record`, or a manifest's
    "source") was trained at: its run's config, or for a blend its first end's; None if no
    record says."""
    run = source.get("training_run")
    if run and run.get("config"):
        return run["config"].get("data", {}).get("image_size")
    blend = source.get("interpolated_from")
    if blend:
        return trained_image_size(blend["interpolation"]["a"])
    return None


def model_image_size(model_path, default=256):
    """The size the model at `model_path` was trained at, what stylising feeds it: the config.json
    of its run folder (a model_dir, or a file in one), else the export manifest of its folder (an
    exported or shipped file, or that folder), else `default`."""
    path = pathlib.Path(model_path)
    folder = path if path.is_dir() else path.parent
    config = RunFolder(folder).read_config()
    if config:
        return config["data"]["image_size"]
    manifest = _read_json(folder / MANIFEST)
    size = trained_image_size(manifest["source"]) if isinstance(manifest, dict) and isinstance(
        manifest.get("source"), dict) else None
    return size or default


def conversion_record_path(weights_path):
    """Where convert_weights.py records what a converted weights file was made from."""
    weights_path = pathlib.Path(weights_path)
    return weights_path.with_name(weights_path.name + ".source.json")


def write_conversion_record(weights_path, source_path, architecture, tensors):
    """Writes the record of a weights file converted from another framework's file."""
    record = {"file": str(pathlib.Path(source_path).resolve()), "sha256": sha256(source_path),
              "architecture": architecture, "tensors": tensors,
              "converted_to_sha256": sha256(weights_path), "software": software_record()}
    write_file_atomic(conversion_record_path(weights_path),
                      (json.dumps(record, indent=1) + "\n").encode("utf-8"))


def write_interpolation_record(weights_path, path_a, path_b, alpha):
    """Writes the record of a weights file blended from two generators (interpolate.py): alpha
    and both sources' own records (their training runs' configs and progress included)."""
    record = {"interpolation": {"formula": "(1 - alpha) * a + alpha * b", "alpha": float(alpha),
                                "a": source_record(path_a), "b": source_record(path_b)},
              "interpolated_to_sha256": sha256(weights_path), "software": software_record()}
    write_file_atomic(conversion_record_path(weights_path),
                      (json.dumps(record, indent=1) + "\n").encode("utf-8"))


def random_extractor_warning(source):
    """A warning line when the generator was trained against random-weight extractors, else None."""
    random = [name for name, extractor in source.get("extractors", {}).items()
              if extractor.get("weights") == "none" and extractor.get("network") != "none"]
    if not random:
        return None
    return (f"warning: this generator was trained with random-weight {' and '.join(random)} "
            "extractor(s) (weights \"none\" in its config.json): it shows that the pipeline runs, "
            "it is not a stylisation model; the manifest records this")


def software_record():
    """The code and package versions doing the export."""
    versions = {}
    for package in ("tensorflow", "keras", "ai-edge-litert", "onnx", "onnxruntime", "numpy"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {"animegan_face_commit": _git_commit(), "python": platform.python_version(), **versions}


def _git_commit():
    """HEAD of the checkout this code runs from ("+changes" when it has uncommitted ones), or None."""
    try:
        head = subprocess.run(["git", "-C", str(_REPO), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode:
            return None
        status = subprocess.run(["git", "-C", str(_REPO), "status", "--porcelain",
                                 "--untracked-files=no"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+changes" if status.stdout.strip() else "")


def export_entry(result, input_size):
    """One exported file's entry, from an `export.ExportResult`."""
    return {"file": result.path.name, "kind": result.kind, "input_size": input_size,
            "sha256": sha256(result.path), "size_bytes": result.size_bytes,
            "max_difference": result.max_difference,
            "p99.9_difference": result.percentile_difference,
            "mean_difference": result.mean_difference,
            "tolerance": {"p99.9": result.tolerance[0], "mean": result.tolerance[1]}}


def write_manifest(output_dir, source, software, entries, owned=None):
    """Writes output_dir/export_manifest.json (atomically) with this run's `entries` and the
    earlier entries whose files are still there unchanged, recorded first in `owned` (an
    `outputs.OwnedOutputs`) when given. Returns its path."""
    output_dir = pathlib.Path(output_dir)
    path = output_dir / MANIFEST
    written = {entry["file"] for entry in entries}
    previous = _read_json(path)
    previous = previous if isinstance(previous, dict) else {}  # unreadable or not ours: replaced
    kept = []
    for entry in previous.get("exports", []):
        file = output_dir / str(entry.get("file", ""))
        if (entry.get("file") and entry["file"] not in written and file.exists()
                and sha256(file) == entry.get("sha256")):
            kept.append(entry)
    manifest = {"exports": entries + kept, "source": source, "software": software}
    if kept:
        manifest["note"] = ("entries with their own source/software were exported by an earlier "
                            "run; the top-level source and software are this run's")
        for entry in kept:
            entry.setdefault("source", previous.get("source"))
            entry.setdefault("software", previous.get("software"))
    data = (json.dumps(manifest, indent=1) + "\n").encode("utf-8")
    if owned is not None:
        owned.record(path, data)
    write_file_atomic(path, data)
    return path
