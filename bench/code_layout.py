"""The shape of the code a training run goes through, now and at an older commit, side by side.

Not a speed benchmark: the measure of issue 15 (one loop, one checkpoint format, one pipeline).
From `train.py`, it follows every import of the package's modules (those inside functions too, so
both backends' paths count) and prints how many modules a reader meets and how many lines they
hold (code lines: no blanks, comments or docstrings), by role: the training orchestration (loops, steps, checkpoints, run folder, logs, devices),
the input data code, and the rest (maths, networks, config), which this change left alone.

    .venv/bin/python bench/code_layout.py --before=495c9df
"""

import argparse
import ast
import pathlib
import subprocess
import sys
import tempfile

PACKAGE = "animegan_face"
# Module names (the file's stem) by role, in both the flat and the grouped layout.
DATA = {"pipeline", "numpy_pipeline", "preparation", "image_files", "faces", "demo_data",
        "training_data", "face_finder", "face_landmarks", "face_alignment", "face_regions"}
MATHS_AND_NETWORKS = {"losses", "objectives", "image_ops", "diagnostics", "networks", "generator_v2",
                      "layers", "extractors", "pretrained", "animeganv2_weights"}
CONFIG = {"config", "flag_values", "__init__"}


def _module_file(root, dotted):
    """The file of a dotted module name of the package under `root`, or None."""
    path = root.joinpath(*dotted.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(root, path):
    """Files of the package's modules that `path` imports anywhere (functions included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg.mod import name`: name may itself be a module.
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if name.split(".")[0] == PACKAGE:
                module = _module_file(root, name)
                if module is not None:
                    found.append(module)
    return found


def _lines(path):
    """Lines of code: neither blank, nor comments, nor docstrings."""
    text = path.read_text()
    docstrings = set()
    for node in ast.walk(ast.parse(text)):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            docstrings.update(range(body[0].lineno, body[0].end_lineno + 1))
    return sum(1 for number, line in enumerate(text.splitlines(), start=1)
               if line.strip() and not line.strip().startswith("#") and number not in docstrings)


def _role(path):
    stem = path.stem if path.name != "__init__.py" else "__init__"
    if stem in DATA:
        return "data"
    if stem in MATHS_AND_NETWORKS:
        return "maths, networks"
    if stem in CONFIG:
        return "config, package files"
    return "training orchestration"


def measure(root):
    """{role: (modules, lines)} of every package module reachable from root/train.py."""
    root = pathlib.Path(root)
    seen, queue = set(), [root / "train.py"]
    while queue:
        path = queue.pop()
        for module in _imports(root, path):
            if module not in seen:
                seen.add(module)
                queue.append(module)
    table = {}
    for path in seen:
        modules, lines = table.get(_role(path), (0, 0))
        table[_role(path)] = (modules + 1, lines + _lines(path))
    table["all"] = (len(seen), sum(lines for _, lines in table.values()))
    return table, sorted(str(path.relative_to(root)) for path in seen
                         if _role(path) == "training orchestration")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="495c9df", help="the older commit to compare with")
    args = parser.parse_args()
    repo = pathlib.Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as before_root:
        archive = subprocess.run(["git", "archive", args.before], cwd=repo, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", before_root], input=archive, check=True)
        before, before_files = measure(before_root)
    after, after_files = measure(repo)
    print("modules reached from train.py (imports followed, both backends) and their lines of code")
    print(f"{'role':<26} {args.before + ' modules':>16} {'lines':>7} {'now modules':>12} {'lines':>7}")
    for role in ("training orchestration", "data", "maths, networks", "config, package files", "all"):
        b, a = before.get(role, (0, 0)), after.get(role, (0, 0))
        print(f"{role:<26} {b[0]:>16} {b[1]:>7} {a[0]:>12} {a[1]:>7}")
    print(f"\norchestration modules at {args.before}: {', '.join(before_files)}")
    print(f"orchestration modules now: {', '.join(after_files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
