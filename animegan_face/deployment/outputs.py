"""What stylize.py may write, and what it says when it is done.

One rule for outputs: never write over an input (the same path, a hard link or a link to it, or
the input folder itself as the output folder); never map two inputs to one output (a.jpg and a.png
give a.png and a_jpg.png, ``image_files.unique_stems``; the summary names each renamed one); never
delete a file: leftovers of a killed run are replaced by the next run for the same output.

Exit status: 0 when every input was done, ``EXIT_SOME_SKIPPED`` when some were skipped (each
listed with its reason), 1 when nothing could be done.
"""

import dataclasses
import os
import pathlib
import re

from animegan_face.data import image_files
from animegan_face.data.image_files import EXIT_SOME_SKIPPED


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


def plan_folder(source, target, extension=".png"):
    """Output paths for every image in the folder ``source``, written into the folder ``target``.

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
    return FolderPlan(pairs, renamed, skipped)


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
