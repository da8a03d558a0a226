"""recipes/selfie2anime_v2.sh to _v6.sh: every command they print parses with its
script's own flags (so a recipe cannot drift from them), their stages are the model cards', and
finished stages are skipped. Nothing is trained: the recipes run with --dry_run, train.py with
--dry_run and the other scripts with absl's --only_check_args."""

import dataclasses
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

from animegan_face.config import Config

REPO = pathlib.Path(__file__).resolve().parent.parent
RECIPE = REPO / "recipes" / "selfie2anime_v2.sh"
RECIPE_V3 = REPO / "recipes" / "selfie2anime_v3.sh"
V4_SKIN_WEIGHT = 300.0  # the weight v4's card chose
V5_INPUT_GRAIN = 0.03  # the grain v5's card chose
V6_CRACK_WEIGHT, V6_GRAM_WEIGHT = 3000.0, 7.0  # the crack term and Gram weight v6's card chose


def _dry_run_recipe(*folders, recipe=RECIPE):
    done = subprocess.run(["bash", str(recipe), "--dry_run", *map(str, folders)], cwd=REPO,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def _stages(lines):
    """{stage number: [command argv, ...]} of the printed commands (None: those before stage 0)."""
    stages, current = {}, None
    for line in lines:
        match = re.match(r"# stage (\d+)", line)
        if match:
            current = int(match.group(1))
            stages.setdefault(current, [])
        elif not line.startswith("#"):
            stages.setdefault(current, []).append(shlex.split(line))
    return stages


def _train_config(argv):
    """The Config train.py makes of a printed command's flags (train.py --dry_run)."""
    assert argv[:2] == [sys.executable, "train.py"], argv
    done = subprocess.run([*argv, "--dry_run"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, f"{shlex.join(argv)}\n{done.stderr[-3000:]}"
    return Config.from_json(done.stdout)


def _check_args(argv):
    """Runs a printed command of another script with --only_check_args: its flags must parse."""
    done = subprocess.run([*argv, "--only_check_args"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, f"{shlex.join(argv)}\n{done.stderr[-3000:]}"


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


def test_v3_prepares_the_seeded_sample_then_continues_v2s_stylised_end_with_the_pair_stages(tmp_path):
    photos, anime, runs = tmp_path / "photo", tmp_path / "anime", tmp_path / "runs"
    photos.mkdir()
    anime.mkdir()
    stages = _stages(_dry_run_recipe(photos, anime, runs, recipe=RECIPE_V3))
    for name in ("data", "data600"):  # what the prepare commands would make: train.py checks them
        (runs / name).mkdir(parents=True)
    assert sorted(stages, key=str) == [0, 1, 2, 3, 4, 5, 6, 7, 8, None]
    # The training set without the held-out photos, and its sample: 600 photos drawn with seed 0.
    full, sample = stages[None]
    for argv in (full, sample):
        assert argv[1] == "prepare.py"
        assert "--exclude_list=checkpoints/selfie2anime_v2/holdout_photos.txt" in argv
        _check_args(argv)
    assert f"--output_dir={runs / 'data'}" in full and "--photo_sample=600" not in full
    assert {f"--output_dir={runs / 'data600'}", "--photo_sample=600", "--sample_seed=0"} <= set(sample)
    # v2's stages run on the full set, in the same runs folder (its stylised end is v3's start).
    assert _train_config(stages[1][0]).data.dataset_dir == str(runs / "data")
    # Stage 6: the sample's targets, drawn by the stylised end.
    (make_pairs,) = stages[6]
    assert make_pairs[1:3] == ["make_pairs.py", f"--dataset_dir={runs / 'data600'}"]
    assert f"--model={runs / 'stylised_end'}" in make_pairs
    _check_args(make_pairs)
    # Stages 7 and 8: 150 steps from the stylised end, then 250 from there (a fresh Adam).
    pairs = [_train_config(next(argv for argv in stages[n] if argv[1:2] == ["train.py"]))
             for n in (7, 8)]
    assert [(c.train.init_from, c.train.epochs * c.train.steps_per_epoch) for c in pairs] == [
        (str(runs / "stylised_end"), 150), (str(runs / "pairs150"), 250)]
    for config in pairs:
        assert config.data.dataset_dir == str(runs / "data600")
        assert (config.loss.pair, config.loss.content_source, config.loss.con, config.loss.face,
                config.loss.color_scale) == (1000.0, "pair", 1.5, 1.0, 32.0)
        assert (config.data.image_size, config.data.crop_size, config.train.mixed_precision) == (
            256, 128, "off")
    copies = {n: next(argv for argv in stages[n] if argv[0] == "cp") for n in (7, 8)}
    assert copies[7][1] == str(runs / "pairs" / "checkpoints" / "keras-ckpt-3" / "generator.weights.h5")
    assert copies[8][1] == str(runs / "pairs400" / "checkpoints" / "keras-ckpt-5" / "generator.weights.h5")
    export = stages[8][-1]
    assert export[1] == "export.py" and "--quantize=float16" in export


def _stages_from_photos(tmp_path, recipe):
    """(RUNS_DIR, stages) of a recipe that starts from the photos (v4-v6), dry-run in tmp_path,
    with the prepared sets made (train.py --dry_run checks its --dataset_dir)."""
    photos, anime, runs = tmp_path / "photo", tmp_path / "anime", tmp_path / "runs"
    photos.mkdir()
    anime.mkdir()
    for name in ("data", "data600", "data600v3"):
        (runs / name).mkdir(parents=True)
    return runs, _stages(_dry_run_recipe(photos, anime, runs, recipe=REPO / "recipes" / recipe))


def test_v4_continues_v3_with_its_own_targets_then_averages_the_runs_last_three_checkpoints(tmp_path):
    runs, stages = _stages_from_photos(tmp_path, "selfie2anime_v4.sh")
    assert set(stages) == {*range(12), None}  # v3's stages 0-8 first
    # Stage 9: the same seeded sample, prepared again, its targets drawn by v3.
    prepare, make_pairs = stages[9]
    assert {f"--output_dir={runs / 'data600v3'}", "--photo_sample=600", "--sample_seed=0"} <= set(prepare)
    assert make_pairs[1:4] == ["make_pairs.py", f"--dataset_dir={runs / 'data600v3'}",
                               f"--model={runs / 'v3'}"]
    for argv in (prepare, make_pairs):
        _check_args(argv)
    # Stage 10: v3's pair flags, 200 steps from v3, the skin term on the face's mean colour.
    (train_v4,) = stages[10]
    v4 = _train_config(train_v4)
    v3 = _train_config(next(argv for argv in stages[8] if argv[1:2] == ["train.py"]))
    assert (v4.train.init_from, v4.data.dataset_dir) == (str(runs / "v3"), str(runs / "data600v3"))
    assert v4.train.epochs * v4.train.steps_per_epoch == 200
    assert (v4.loss.skin_statistic, v4.loss.skin) == ("mean", V4_SKIN_WEIGHT)
    assert v4.model == v3.model and v4.data.image_size == v3.data.image_size
    assert dataclasses.replace(v4.loss, skin=v3.loss.skin, skin_statistic="pixels") == v3.loss
    _assert_averages_the_last_three(stages[11], runs / "v4_run", runs / "v4")


def _assert_averages_the_last_three(commands, run, result):
    """The checkpoints of epochs 2-4 (steps 100, 150, 200) of `run` averaged with equal weights into
    `result`, then exported to float16 TFLite."""
    blends = [argv for argv in commands if argv[1:2] == ["interpolate.py"]]
    copied = [argv[1] for argv in commands if argv[0] == "cp" and len(argv) > 3]
    assert copied == [str(run / "checkpoints" / f"keras-ckpt-{e}" / "generator.weights.h5")
                      for e in (2, 3, 4)]
    flags = [dict(arg[2:].split("=", 1) for arg in argv[2:]) for argv in blends]
    assert [(f["model_a"], f["model_b"]) for f in flags] == [
        (str(run / "epoch2"), str(run / "epoch3")), (flags[0]["output"], str(run / "epoch4"))]
    # (a + b) / 2 * (1 - alpha) + c * alpha is the mean of the three for alpha 1/3.
    assert float(flags[0]["alpha"]) == 0.5 and float(flags[1]["alpha"]) == pytest.approx(1 / 3, rel=1e-15)
    assert flags[1]["output"] == str(result / "generator.weights.h5")
    for argv in blends:
        _check_args(argv)
    export = commands[-1]
    assert export[1] == "export.py" and "--quantize=float16" in export
    assert f"--model_dir={result}" in export


def test_v5_is_v4s_run_with_grain_on_the_generators_input(tmp_path):
    runs, stages = _stages_from_photos(tmp_path, "selfie2anime_v5.sh")
    assert set(stages) == {*range(14), None}  # v4's stages 0-11 first
    # Stage 12: v4's run (from v3, on v4's targets, 200 steps) with grain 0.03 and nothing else new.
    (train_v5,) = stages[12]
    v5 = _train_config(train_v5)
    v4 = _train_config(stages[10][0])
    assert v5.loss.input_grain == V5_INPUT_GRAIN and v4.loss.input_grain == 0.0
    assert dataclasses.replace(v5.loss, input_grain=0.0) == v4.loss
    assert (v5.model, v5.data) == (v4.model, v4.data)
    assert v5.train == dataclasses.replace(v4.train, model_dir=str(runs / "v5_run"))
    _assert_averages_the_last_three(stages[13], runs / "v5_run", runs / "v5")


def test_v6_is_v5s_run_with_the_crack_term_and_the_gram_term_doubled(tmp_path):
    runs, stages = _stages_from_photos(tmp_path, "selfie2anime_v6.sh")
    assert set(stages) == {*range(16), None}  # v5's stages 0-13 first
    # Stage 14: v5's run (from v3, on v4's targets, 200 steps, grain) with only these two changed.
    (train_v6,) = stages[14]
    v6 = _train_config(train_v6)
    v5 = _train_config(stages[12][0])
    assert (v6.loss.crack, v6.loss.gra) == (V6_CRACK_WEIGHT, V6_GRAM_WEIGHT)
    assert v5.loss.crack == 0.0 and v6.loss.gra == 2 * v5.loss.gra
    assert dataclasses.replace(v6.loss, crack=0.0, gra=v5.loss.gra) == v5.loss
    assert (v6.model, v6.data) == (v5.model, v5.data)
    assert v6.train == dataclasses.replace(v5.train, model_dir=str(runs / "v6_run"))
    _assert_averages_the_last_three(stages[15], runs / "v6_run", runs / "v6")
