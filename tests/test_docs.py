"""README.md and docs/*.md: the README stays short, its quickstart stays the two commands CI runs,
every relative link (and anchor) resolves, and every command names flags its script defines."""

import ast
import json
import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
README = REPO / "README.md"
PAGES = [README] + sorted((REPO / "docs").glob("*.md"))
MAX_README_LINES = 300

_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _prose(text):
    """The text without fenced blocks and inline code, where `[a](b)` is not a link."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def _slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation other than - and _ dropped, spaces
    to hyphens (ΔE00 keeps its letter: Unicode letters count as word characters)."""
    text = _CODE_SPAN.sub(lambda span: span.group(0)[1:-1], heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path):
    """Every anchor a Markdown file offers: its headings' slugs, repeated ones numbered as GitHub
    numbers them (`x`, `x-1`, ...)."""
    seen, result = {}, set()
    for line in _FENCE.sub("", path.read_text(encoding="utf-8")).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = _slug(match.group(1))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def broken_links(page):
    """The relative links of `page` whose file or anchor does not exist, as 'target: why'."""
    broken = []
    for target in _LINK.findall(_prose(page.read_text(encoding="utf-8"))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...: not checked here
            continue
        path_part, _, anchor = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        if not linked.exists():
            broken.append(f"{target}: no file {linked}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading with anchor #{anchor} in {linked.name}")
    return broken


def test_readme_stays_short():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines < MAX_README_LINES, f"README.md has {lines} lines; move the detail to docs/"


def test_quickstart_is_the_two_make_commands_ci_runs():
    # .ci/run runs `make test` because the README says so; a fresh machine needs nothing else.
    text = README.read_text(encoding="utf-8")
    quickstart = text[text.index("## Quickstart"):]
    block = re.search(r"```bash\n(.*?)```", quickstart, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
    assert "make test" in (REPO / ".ci" / "run").read_text()


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


def test_link_check_sees_a_broken_file_and_a_broken_anchor(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## Loss scales (`diagnose.py`)\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md#loss-scales-diagnosepy) [ok](#title) [web](https://x.org/y)\n"
                    "# Title\n`[code](not_a_link.md)`\n```\n[block](not_a_link.md)\n```\n"
                    "[gone](missing.md) [bad anchor](other.md#loss-scale) ![pic](gone.png)\n")
    assert [problem.split(":")[0] for problem in broken_links(page)] == [
        "missing.md", "other.md#loss-scale", "gone.png"]


def _commands(text):
    """Every `python SCRIPT.py ...` command in the text, in fenced blocks (backslash continuations
    joined) and in inline code (which may wrap; there `SCRIPT.py --flag` counts too), as
    (script, [flag names])."""
    text = text.replace("\\\n", " ")
    pieces = [line for block in _FENCE.findall(text) for line in block.splitlines()]
    pieces += [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", _FENCE.sub("", text))]
    found = []
    for piece in pieces:
        # `python x.py ...` anywhere, or an inline span that starts with the script's name
        for match in re.finditer(r"(python |^)((?:bench/)?[\w-]+\.py)([^`]*)", piece):
            if not match.group(1) and not (REPO / match.group(2)).is_file():
                continue  # a module or test named in prose, not a script
            arguments = match.group(3).split(" #")[0]
            found.append((match.group(2), re.findall(r"(?<!\S)--(\w+)", arguments)))
    return found


# absl's help flags, which app.run adds to every script.
_HELP_FLAGS = {"help", "helpshort", "helpfull", "helpxml"}

# Imports each script (not as __main__, so nothing runs) and prints the flags then defined. absl
# keeps one process-wide registry, so the script's own flags (registered under run_name) are
# removed before the next script.
_LIST_FLAGS = r"""
import json, runpy, sys
from absl import flags
defined = {}
for script in sys.argv[1:]:
    runpy.run_path(script, run_name="docs_flag_check")
    defined[script] = sorted(flags.FLAGS)
    for flag in list(flags.FLAGS.flags_by_module_dict().get("docs_flag_check", [])):
        for name in {flag.name, flag.short_name} - {None}:
            if name in flags.FLAGS:
                delattr(flags.FLAGS, name)
print(json.dumps(defined))
"""


def _literal_flags(script):
    """The flag names a script defines, read from its `DEFINE_*("name", ...)` calls without running
    it (importing bench/inference.py starts TensorFlow and JAX: a minute on a loaded 2-core
    machine); None when a name is computed (a loop, a config field), so that only importing the
    script can tell."""
    names = set()
    for node in ast.walk(ast.parse((REPO / script).read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name))):
            continue
        function = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
        if not function.startswith("DEFINE"):
            continue
        name = node.args[0] if node.args else next(
            (keyword.value for keyword in node.keywords if keyword.arg == "name"), None)
        if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
            return None
        names.add(name.value)
    return names


def defined_flags(scripts):
    """{script: the flags it accepts}: read from the source where every name is a literal, else
    from importing the script in a child process."""
    defined = {script: _literal_flags(script) for script in scripts}
    to_import = sorted(script for script, names in defined.items() if names is None)
    if to_import:
        result = subprocess.run([sys.executable, "-c", _LIST_FLAGS] + to_import, cwd=REPO,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        defined.update(json.loads(result.stdout.strip().splitlines()[-1]))
    return {script: set(names) | _HELP_FLAGS for script, names in defined.items()}


def test_flag_reader_takes_literal_names_and_imports_computed_ones():
    defined = defined_flags(["rate.py", "train.py"])
    assert {"model", "key", "limit", "helpfull"} <= defined["rate.py"]
    assert "photo_dir" not in defined["rate.py"]
    # train.py makes its loss-weight flags in a loop: read by importing it (cheap: absl only)
    assert _literal_flags("train.py") is None
    assert {"con_weight", "skin_weight", "photo_dir", "init_from"} <= defined["train.py"]


def test_every_documented_command_uses_flags_its_script_defines():
    commands = []
    for page in PAGES:
        commands += [(page.name, script, flags)
                     for script, flags in _commands(page.read_text(encoding="utf-8"))]
    scripts = sorted({script for _, script, _ in commands})
    assert "train.py" in scripts and "bench/train_step.py" in scripts  # the parser finds them
    missing = [script for script in scripts if not (REPO / script).is_file()]
    assert missing == [], f"commands name scripts that do not exist: {missing}"
    defined = defined_flags(scripts)
    unknown = []
    for page, script, flags in commands:
        for flag in flags:
            # absl's --noNAME sets a boolean NAME to false
            if flag not in defined[script] and not (
                    flag.startswith("no") and flag[2:] in defined[script]):
                unknown.append(f"{page}: {script} --{flag}")
    assert unknown == []
