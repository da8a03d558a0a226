"""The package layout of STYLE.md, read from the source with `ast`: each stage imports only earlier
ones, and no private name (`_x`) is imported or used across packages.

Stages, in pipeline order: data, models, loss, training, deployment, evaluation. The top-level
modules (`config`, `flag_values`) come before all of them and import none. Entry scripts, bench/
and tests/ may import any stage; scripts and bench/ only public names (tests may test a private
function of the module they cover).
"""

import ast
import pathlib

REPO = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = "animegan_face"
STAGES = ("data", "models", "loss", "training", "deployment", "evaluation")


def _stage(module):
    """0 for a top-level module of the package, 1.. for the stages in order; None outside it."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    if len(parts) > 1 and parts[1] in STAGES:
        return STAGES.index(parts[1]) + 1
    return 0


def _group(module):
    """The package a module belongs to: a stage's name, "" for the top level, None outside."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else ""


def _private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def violations(importer, source):
    """What `source` (the text of module `importer`, dotted; a script's is its file name) breaks:
    a list of one-line descriptions."""
    found = []
    own_stage = _stage(importer)
    aliases = {}  # local name -> animegan_face module it is bound to

    def check_module(module, line):
        stage = _stage(module)
        if stage is None or own_stage is None:
            return
        if stage > own_stage or (own_stage == 0 and stage != 0):
            found.append(f"{importer}:{line} imports {module}, a later stage")

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                check_module(alias.name, node.lineno)
                if _stage(alias.name) is not None and alias.asname:
                    aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            check_module(node.module, node.lineno)
            if _stage(node.module) is None:
                continue
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if _private(alias.name) and _group(node.module) != _group(importer):
                    found.append(f"{importer}:{node.lineno} imports the private {submodule}")
                if not _private(alias.name):
                    aliases[alias.asname or alias.name] = submodule  # a module, class or function
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and _private(node.attr)
                and _group(aliases[node.value.id]) != _group(importer)):
            found.append(f"{importer}:{node.lineno} uses the private "
                         f"{aliases[node.value.id]}.{node.attr}")
    return found


def _library_modules():
    for path in sorted((REPO / PACKAGE).rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def _scripts():
    for path in sorted([*REPO.glob("*.py"), *(REPO / "bench").glob("*.py")]):
        yield str(path.relative_to(REPO)), path


def test_the_checker_sees_each_kind_of_violation():
    """Without this, a checker that found nothing would pass every tree."""
    assert violations("animegan_face.models.layers",
                      "from animegan_face.loss.image_ops import float_dtype") == [
        "animegan_face.models.layers:1 imports animegan_face.loss.image_ops, a later stage"]
    assert violations("animegan_face.data.pipeline",
                      "def f():\n    from animegan_face.training import run_folder") == [
        "animegan_face.data.pipeline:2 imports animegan_face.training, a later stage"]
    assert violations("animegan_face.config", "import animegan_face.data.faces") == [
        "animegan_face.config:1 imports animegan_face.data.faces, a later stage"]
    assert violations("bench/x.py", "from animegan_face.deployment.inference import _quiet") == [
        "bench/x.py:1 imports the private animegan_face.deployment.inference._quiet"]
    assert violations("animegan_face.training.loop",
                      "from animegan_face.data import pipeline\npipeline._load(1)") == [
        "animegan_face.training.loop:2 uses the private animegan_face.data.pipeline._load"]
    # Allowed: an earlier stage, the module's own package, a public name, a dunder.
    assert violations("animegan_face.deployment.export",
                      "from animegan_face.data.image_files import read_image\n"
                      "from animegan_face.deployment import inference\n"
                      "from animegan_face.deployment.inference import _private_here\n"
                      "import animegan_face.models.layers as layers\nlayers.__name__") == []


def test_library_modules_import_only_earlier_stages_and_public_names():
    found = [problem for module, path in _library_modules()
             for problem in violations(module, path.read_text())]
    assert found == []


def test_scripts_and_benchmarks_import_only_public_names():
    found = [problem for script, path in _scripts()
             for problem in violations(script, path.read_text())]
    assert found == []
