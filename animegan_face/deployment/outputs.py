"""What stylize.py may write, and what it says when it is done.

One rule for outputs: never write over an input (the same path, a hard link or a link to it, or
the input folder itself as the output folder); never map two inputs to one output (a.jpg and a.png
give a.png and a_jpg.png, ``image_files.unique_stems``; the summary names each renamed one); never
replace a file stylize.py did not write (``OwnedOutputs``: a user's own out/a.png, or an output the
user edited since, is skipped with its reason unless --overwrite); never delete a file: leftovers
of a killed run are replaced by the next run for the same output. export.py keeps the same rule
for its exports with its own ``OwnedOutputs`` record.

Exit status: 0 when every input was done, ``EXIT_SOME_SKIPPED`` when some were skipped (each
listed with its reason), 1 when nothing could be done.
"""

import dataclasses
import hashlib
import json
import os
import pathlib
import re

from animegan_face.data import image_files
from animegan_face.data.image_files import EXIT_SOME_SKIPPED
from animegan_face.deployment import provenance


class OutputError(ValueError):
    """An output that would replace an input."""


def check_not_an_input(source, target):
    """Raises OutputError when writing ``target`` would replace the file ``source``."""
    source, target = pathlib.Path(source), pathlib.Path(target)
    if target.exists() and os.path.samefile(source, target):
        raise OutputError(f"--output {image_files.printable(target)} is the input file: choose "
                          f"another name (the original is never written over)")


@dataclasses.dataclass(frozen=True)
class FolderPlan:
    """Attributes:
        pairs: ``[(input path, output path)]``, one per image file, in name order.
        renamed: ``[(input path, output path)]`` of those whose output is not ``<stem><extension>``
            because another input has the same stem.
        skipped: ``[(path, reason)]`` of entries named like images that are no file.
    """

    pairs: list
    renamed: list
    skipped: list


def plan_folder(source, target, extension=".png", overwrite=False):
    """Output paths for every image in the folder ``source``, written into the folder ``target``.

    An output name already taken by a file that ``OwnedOutputs`` does not know as stylize.py's own
    puts its input among the skipped (with the reason), unless ``overwrite``.

    Raises:
        OutputError: ``target`` is ``source`` (outputs would mix with the originals, and a.png
            would replace the input a.png).
    """
    source, target = pathlib.Path(source), pathlib.Path(target)
    if target.exists() and os.path.samefile(source, target):
        raise OutputError(f"--output {image_files.printable(target)} is the input folder: choose "
                          f"another folder (the originals are never written over)")
    images, skipped = image_files.scan_images(source)
    stems = image_files.unique_stems(images)
    pairs = [(path, target / (stems[path] + extension)) for path in images]
    renamed = [(path, out) for path, out in pairs if stems[path] != path.stem]
    _remove_leftovers(target, {out.name for _, out in pairs})
    if not overwrite:
        owned = OwnedOutputs(target)
        refused = [(path, owned.refusal(out)) for path, out in pairs]
        skipped += [(path, reason) for path, reason in refused if reason]
        pairs = [pair for pair, (_, reason) in zip(pairs, refused) if not reason]
    return FolderPlan(pairs, renamed, skipped)


class OwnedOutputs:
    """The files a tool (stylize.py, export.py) wrote into one folder, known by their contents.

    ``record_name`` (``.stylize_outputs.json`` for stylize.py) in the folder maps each output's
    name to the sha256 of the last few contents the tool wrote under it (recorded before the file
    is renamed into place, so a run killed in between still owns what it left). An existing file
    may be replaced when its contents are one of those: running the same command again replaces
    its own outputs, while a file of the same name that the tool did not write, or an output the
    user has edited since, is refused. A damaged record owns nothing (refusing is the safe side).
    With ``folders``, an output may be a folder (a SavedModel), known by ``provenance.sha256`` of
    its tree. Temporary names (``start``) are recorded as ``["started"]`` before they are created.
    """

    FILE = ".stylize_outputs.json"
    _KEPT = 4  # contents remembered per name
    _STARTED = "started"  # in place of the hashes of a temporary name being written (no sha256)

    def __init__(self, folder, tool="stylize.py", record_name=FILE, folders=False):
        self.tool, self.folders = tool, folders
        self.record_path = pathlib.Path(folder) / record_name
        try:
            hashes = json.loads(self.record_path.read_bytes())
        except (OSError, ValueError):
            hashes = {}
        valid = isinstance(hashes, dict) and all(
            isinstance(value, list) and all(isinstance(item, str) for item in value)
            for value in hashes.values())
        self._hashes = hashes if valid else {}

    def refusal(self, target):
        """None when ``target`` may be written: it does not exist, or it holds contents that
        the tool wrote under that name; else the reason it must not be replaced."""
        target = pathlib.Path(target)
        if not os.path.lexists(target):
            return None
        if target.is_symlink() or not (target.is_file() or self.folders and target.is_dir()):
            return (f"the output {image_files.printable(target.name)} exists and is not a regular "
                    f"file: not replaced")
        if provenance.sha256(target) in self._hashes.get(target.name, ()):
            return None
        return (f"the output {image_files.printable(target.name)} exists and was not written by "
                f"{self.tool} (or was changed since): not replaced; --overwrite replaces it")

    def started(self, path):
        """Whether the record says the tool created ``path`` (a temporary name: a partial export,
        a retired folder) and has not finished with it: only then may a later run delete it."""
        return self._hashes.get(pathlib.Path(path).name) == [self._STARTED]

    def start(self, path):
        """Records, before ``path`` (a temporary name) is created, that the tool is writing it: a
        run killed before ``finish`` leaves something a later run knows as its own."""
        self._hashes[pathlib.Path(path).name] = [self._STARTED]
        self._save()

    def finish(self, path):
        """Forgets ``path`` (renamed into place or removed); a name never started is left alone."""
        self.forget_started(pathlib.Path(path).name)

    def forget_started(self, name):
        """Forgets the entry ``name`` of ``started_names`` as the record spells it."""
        if self._hashes.get(name) == [self._STARTED]:
            del self._hashes[name]
            self._save()

    def started_names(self):
        """The temporary names the record says the tool started and never finished."""
        return sorted(name for name in self._hashes if self._hashes[name] == [self._STARTED])

    def record(self, target, data):
        """Remembers ``data`` (bytes about to be written to ``target``) as the tool's own."""
        self._remember(target, hashlib.sha256(data).hexdigest())

    def record_file(self, target, path):
        """``record`` with the contents of ``path`` (a file or, with ``folders``, a folder) written
        under another name, before it is renamed to ``target``."""
        self._remember(target, provenance.sha256(path))

    def _remember(self, target, digest):
        name = pathlib.Path(target).name
        earlier = [item for item in self._hashes.get(name, []) if item != digest]
        self._hashes[name] = [digest] + earlier[:self._KEPT - 1]
        self._save()

    def _save(self):
        text = json.dumps(self._hashes, indent=0, sort_keys=True)  # ASCII: names are escaped
        image_files.write_file_atomic(self.record_path, (text + "\n").encode("ascii"))


def _remove_leftovers(folder, names):
    """Deletes the temporary files (``image_files.write_file_atomic``) that a killed run left for
    the outputs ``names``: this run writes those outputs again."""
    if not folder.is_dir():
        return
    leftover = re.compile(r"\.(.+)\.\d+\.[0-9a-f]{8}\.tmp", re.DOTALL)
    for path in folder.iterdir():
        match = leftover.fullmatch(path.name)
        if match and match.group(1) in names and path.is_file():
            path.unlink()


@dataclasses.dataclass
class BatchReport:
    """What a stylize.py run did; ``summary()`` for humans, ``exit_status()`` for the shell."""

    done: int = 0
    skipped: list = dataclasses.field(default_factory=list)  # [(path, reason)]
    warnings: list = dataclasses.field(default_factory=list)  # [(path, what)]: done, but not all

    def skip(self, path, reason):
        self.skipped.append((path, reason))

    def summary(self):
        lines = []
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} file(s):")
            lines += [f"  {image_files.printable(path)}: {reason}" for path, reason in self.skipped]
        if self.warnings:
            lines.append(f"{len(self.warnings)} file(s) done only in part:")
            lines += [f"  {image_files.printable(path)}: {what}" for path, what in self.warnings]
        return "\n".join(lines)

    def exit_status(self):
        if self.done == 0:
            return 1
        return EXIT_SOME_SKIPPED if self.skipped or self.warnings else 0
