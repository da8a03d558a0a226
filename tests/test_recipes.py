"""recipes/selfie2anime_v2.sh: every train.py command it prints parses with train.py's own flags
(so the recipe cannot drift from them), its stages are the model card's, and finished stages are
skipped. Nothing is trained: the script runs with --dry_run and train.py with --dry_run."""

import os
import pathlib
import re
import shlex
import subprocess
import sys

from animegan_face.config import Config

REPO = pathlib.Path(__file__).resolve().parent.parent
RECIPE = REPO / "recipes" / "selfie2anime_v2.sh"


def _dry_run_recipe(dataset, runs):
    done = subprocess.run(["bash", str(RECIPE), "--dry_run", str(dataset), str(runs)], cwd=REPO,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def _stages(lines):
    """{stage number: [command argv, ...]} of the printed commands."""
    stages, current = {}, None
    for line in lines:
        match = re.match(r"# stage (\d+)", line)
        if match:
            current = int(match.group(1))
            stages.setdefault(current, [])
        elif not line.startswith("#"):
            stages[current].append(shlex.split(line))
    return stages


def _train_config(argv):
    """The Config train.py makes of a printed command's flags (train.py --dry_run)."""
    assert argv[:2] == [sys.executable, "train.py"], argv
    done = subprocess.run([*argv, "--dry_run"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, f"{shlex.join(argv)}\n{done.stderr[-3000:]}"
    return Config.from_json(done.stdout)


def test_every_train_command_parses_and_the_stages_are_the_model_cards(tmp_path):
    dataset, runs = tmp_path / "data set", tmp_path / "runs"
    dataset.mkdir()
    stages = _stages(_dry_run_recipe(dataset, runs))
    assert sorted(stages) == [0, 1, 2, 3, 4, 5]
    trains = {number: [argv for argv in commands if argv[1:2] == ["train.py"]]
              for number, commands in stages.items()}
    assert [len(trains[number]) for number in range(6)] == [0, 1, 1, 1, 1, 0]
    configs = {number: _train_config(trains[number][0]) for number in (1, 2, 3, 4)}

    for config in configs.values():
        assert config.data.dataset_dir == str(dataset)
        assert (config.model.generator, config.model.extractor, config.model.face_extractor) == (
            "animegan_v2", "vgg16", "vgg16")
        assert (config.data.batch_size, config.train.init_epochs) == (8, 2)
    # Stages 1-3 are one run: 128 px at colour 255 to epoch 4, at 32 to epoch 9, 256 px to 11.
    assert {configs[n].train.model_dir for n in (1, 2, 3)} == {str(runs / "thesis")}
    assert [(c.data.image_size, c.loss.color_scale, c.train.init_epochs + c.train.epochs)
            for c in (configs[1], configs[2], configs[3])] == [(128, 255.0, 4), (128, 32.0, 9),
                                                               (256, 32.0, 11)]
    assert configs[3].train.steps_per_epoch == 200
    # Stage 4: from the faithful end (warm-up counted as done), content and face weights halved.
    stylised = configs[4]
    assert stylised.train.init_from == str(runs / "faithful")
    assert (stylised.loss.con, stylised.loss.face, stylised.loss.color_scale) == (1.5, 1.0, 32.0)
    assert (stylised.data.image_size, stylised.train.steps_per_epoch) == (256, 200)
    # The end folders copy the checkpoint of each run's last epoch.
    copies = {number: next(argv for argv in stages[number] if argv[0] == "cp") for number in (3, 4)}
    assert f"keras-ckpt-{configs[3].train.init_epochs + configs[3].train.epochs}/" in copies[3][1]
    assert f"keras-ckpt-{stylised.train.init_epochs + stylised.train.epochs}/" in copies[4][1]
    # Stage 5 blends the two ends half and half and exports float16 TFLite.
    blend, export = stages[5]
    assert blend[1:] == ["interpolate.py", f"--model_a={runs / 'faithful'}",
                         f"--model_b={runs / 'stylised_end'}", "--alpha=0.5",
                         f"--output={runs / 'shipped' / 'generator.weights.h5'}"]
    assert export[1] == "export.py" and "--quantize=float16" in export


def test_finished_stages_are_skipped(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    for number in (0, 1, 2):
        (runs / f".stage{number}.done").touch()
    lines = _dry_run_recipe(tmp_path, runs)
    assert [line for line in lines if "done, skipped" in line] == [
        line for line in lines if re.match(r"# stage [012] ", line)]
    stages = _stages(lines)
    assert stages[0] == stages[1] == stages[2] == []
    assert [argv[1] for argv in stages[3] if argv[0] == sys.executable] == ["train.py"]


def test_a_folder_that_is_not_a_prepared_dataset_is_refused(tmp_path):
    done = subprocess.run(["bash", str(RECIPE), str(tmp_path), str(tmp_path / "runs")], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "not a prepared dataset" in done.stderr
    assert not (tmp_path / "runs").exists()
