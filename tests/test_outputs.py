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


def test_an_existing_output_is_replaced_only_when_stylize_wrote_it(tmp_path):
    source, target = tmp_path / "in", tmp_path / "out"
    hostile_files.write_good_images(source, 6)
    target.mkdir()
    users = target / "good_000.png"  # the user's own file, under a name an output would take
    users.write_bytes(b"the user's own picture")
    plan = outputs.plan_folder(source, target)
    assert [path.name for path, _ in plan.skipped] == ["good_000.png"]
    assert "was not written by stylize.py" in plan.skipped[0][1]
    assert "good_000.png" not in {out.name for _, out in plan.pairs}
    assert len(plan.pairs) == 5
    # What stylize.py wrote (recorded before the rename, as stylize.py does) it may replace again.
    owned = outputs.OwnedOutputs(target)
    for _, out in plan.pairs:
        owned.record(out, b"stylised " + os.fsencode(out.name))
        out.write_bytes(b"stylised " + os.fsencode(out.name))
    again = outputs.plan_folder(source, target)
    assert [path.name for path, _ in again.skipped] == ["good_000.png"]
    assert {out.name for _, out in again.pairs} == {out.name for _, out in plan.pairs}
    # An output the user edited afterwards is theirs now; --overwrite replaces everything.
    edited = plan.pairs[0][1]
    edited.write_bytes(b"retouched by hand")
    skipped = {path for path, _ in outputs.plan_folder(source, target).skipped}
    assert skipped == {source / "good_000.png", plan.pairs[0][0]}
    assert len(outputs.plan_folder(source, target, overwrite=True).pairs) == 6
    assert users.read_bytes() == b"the user's own picture" and edited.read_bytes() == b"retouched by hand"


def test_the_ownership_record_keeps_earlier_contents_and_odd_names(tmp_path):
    owned = outputs.OwnedOutputs(tmp_path)
    name = tmp_path / os.fsdecode(b"caf\xe9.png")  # not UTF-8: a surrogate-escaped str
    for version in range(6):
        owned.record(name, b"v%d" % version)
    reread = outputs.OwnedOutputs(tmp_path)
    for version, expected in [(5, None), (2, None), (1, "not written by")]:  # the last 4 are kept
        name.write_bytes(b"v%d" % version)
        refusal = reread.refusal(name)
        assert refusal == expected if expected is None else expected in refusal
    link = tmp_path / "link.png"
    link.symlink_to(name)
    owned.record(link, name.read_bytes())
    assert "is not a regular file" in outputs.OwnedOutputs(tmp_path).refusal(link)


def test_a_damaged_ownership_record_owns_nothing(tmp_path):
    out = tmp_path / "a.png"
    outputs.OwnedOutputs(tmp_path).record(out, b"mine")
    out.write_bytes(b"mine")
    assert outputs.OwnedOutputs(tmp_path).refusal(out) is None
    for damaged in (b"{not json", b'["a list"]', b'{"a.png": "not a list"}'):
        (tmp_path / outputs.OwnedOutputs.FILE).write_bytes(damaged)
        assert "not written by" in outputs.OwnedOutputs(tmp_path).refusal(out)


def test_export_py_has_its_own_record_which_knows_folders(tmp_path):
    """export.py's record (another file, folders allowed: a SavedModel, known by the sha256 of its
    tree) beside stylize.py's, which keeps refusing folders and owns nothing export.py wrote."""
    folder = tmp_path / "saved_model"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"the user's own model")
    exports = outputs.OwnedOutputs(tmp_path, "export.py", ".export_outputs.json", folders=True)
    assert "was not written by export.py" in exports.refusal(folder)
    exports.record_file(folder, folder)
    reread = outputs.OwnedOutputs(tmp_path, "export.py", ".export_outputs.json", folders=True)
    assert reread.refusal(folder) is None
    (folder / "variables" / "extra").write_bytes(b"added by hand")
    assert "was not written by export.py" in reread.refusal(folder)
    assert "is not a regular file" in outputs.OwnedOutputs(tmp_path).refusal(folder)
    exports.record(tmp_path / "a.png", b"exported")
    (tmp_path / "a.png").write_bytes(b"exported")
    assert "was not written by stylize.py" in outputs.OwnedOutputs(tmp_path).refusal(tmp_path / "a.png")
    assert not (tmp_path / outputs.OwnedOutputs.FILE).exists()
