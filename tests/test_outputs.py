"""Tests for animegan_face.deployment.outputs: never over an input, never two inputs to one output."""

import os

import pytest

from animegan_face.deployment import outputs
from tests import hostile_files


def test_the_input_file_is_never_an_output(tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(hostile_files.good_image(".jpg"))
    os.link(photo, tmp_path / "hard.jpg")
    os.symlink(photo, tmp_path / "soft.jpg")
    for target in (photo, tmp_path / "hard.jpg", tmp_path / "soft.jpg", tmp_path / "." / "photo.jpg"):
        with pytest.raises(outputs.OutputError, match="is the input file"):
            outputs.check_not_an_input(photo, target)
    outputs.check_not_an_input(photo, tmp_path / "photo.png")  # a new file: fine


def test_the_input_folder_is_never_the_output_folder(tmp_path):
    (tmp_path / "a.png").write_bytes(hostile_files.good_image(".png"))
    with pytest.raises(outputs.OutputError, match="is the input folder"):
        outputs.plan_folder(tmp_path, tmp_path / ".")
    os.symlink(tmp_path, tmp_path.parent / (tmp_path.name + "_link"))
    with pytest.raises(outputs.OutputError, match="is the input folder"):
        outputs.plan_folder(tmp_path, tmp_path.parent / (tmp_path.name + "_link"))


def test_two_inputs_never_share_an_output(tmp_path):
    source = tmp_path / "in"
    good = hostile_files.write_good_images(source, 6)
    plan = outputs.plan_folder(source, tmp_path / "out")
    targets = [out.name for _, out in plan.pairs]
    assert len(targets) == len(set(targets)) == len(good)
    assert {path.name: out.name for path, out in plan.renamed} == {"a.png": "a_png.png"}
    assert dict((path.name, out.name) for path, out in plan.pairs)["a.jpg"] == "a.png"


def test_leftovers_of_a_killed_run_for_these_outputs_are_removed(tmp_path):
    source, target = tmp_path / "in", tmp_path / "out"
    hostile_files.write_good_images(source, 5)
    target.mkdir()
    leftover = target / ".good_000.png.1234.0123abcd.tmp"  # image_files.write_file_atomic's name
    unrelated = target / ".other.png.1234.0123abcd.tmp"
    leftover.write_bytes(b"half")
    unrelated.write_bytes(b"half")
    outputs.plan_folder(source, target)
    assert not leftover.exists() and unrelated.exists()


def test_hostile_entries_are_planned_as_skipped(tmp_path):
    reasons = hostile_files.write_hostile_folder(tmp_path / "in")
    plan = outputs.plan_folder(tmp_path / "in", tmp_path / "out")
    skipped = {os.fsencode(path.name) for path, _ in plan.skipped}
    assert skipped == {name for name, reason in reasons.items()
                       if not os.path.isfile(os.path.join(os.fsencode(tmp_path / "in"), name))}


def test_exit_status():
    report = outputs.BatchReport()
    assert report.exit_status() == 1  # nothing done
    report.done = 3
    assert report.exit_status() == 0
    report.skip("x.jpg", "empty file")
    assert report.exit_status() == outputs.EXIT_SOME_SKIPPED == 3
    assert "x.jpg: empty file" in report.summary()
    report = outputs.BatchReport(done=1, warnings=[("v.avi", "truncated")])
    assert report.exit_status() == 3 and "v.avi: truncated" in report.summary()
