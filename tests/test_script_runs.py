"""tests/script_runs.py: runs of a script in one process end as separate processes would."""

import os

import pytest

from tests.helpers import ScriptRuns

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_SCRIPT = '''
import sys
from absl import app, flags, logging

flags.DEFINE_integer("number", 1, "what to print")
flags.DEFINE_string("end", "none", "how to end: none, message, code, raise")
FLAGS = flags.FLAGS


def main(argv):
    print(f"number {FLAGS.number}")
    logging.warning("a warning on stderr")
    if FLAGS.end == "message":
        sys.exit("script.py: the message")
    if FLAGS.end == "code":
        sys.exit(3)
    if FLAGS.end == "raise":
        raise ValueError("an uncaught error")


if __name__ == "__main__":
    app.run(main)
'''


@pytest.fixture
def runs(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(_SCRIPT)
    runs = ScriptRuns(str(script), REPO)
    yield runs
    runs.close()


def test_each_run_ends_and_prints_as_its_own_process_would(runs):
    done = runs("--number=5")
    assert (done.returncode, done.stdout) == (0, "number 5\n")
    assert "a warning on stderr" in done.stderr  # absl's log: file descriptor 2 of this run
    # Flags back at their defaults: nothing of the first command line carries over.
    assert runs().stdout == "number 1\n"
    message = runs("--end=message")
    assert message.returncode == 1 and message.stderr.endswith("script.py: the message\n")
    assert "Traceback" not in message.stderr and message.stdout == "number 1\n"
    assert runs("--end=code").returncode == 3
    raised = runs("--end=raise")
    assert raised.returncode == 1
    assert "Traceback (most recent call last)" in raised.stderr
    assert "ValueError: an uncaught error" in raised.stderr
    # The process goes on after all of them.
    assert runs("--number=7").stdout == "number 7\n"


def test_several_scripts_each_define_their_flags_in_one_process(tmp_path):
    """`ScriptRuns(None, ...)`: scripts that define flags of the same name run one after the other
    in one process, each with its own definitions and defaults (absl alone would refuse the
    second definition), and a script run again after another still works."""
    first, second = tmp_path / "first.py", tmp_path / "second.py"
    first.write_text(_SCRIPT)
    second.write_text(_SCRIPT.replace('"number", 1,', '"number", 2,').replace(
        'print(f"number {FLAGS.number}")', 'print(f"second {FLAGS.number}")'))
    runs = ScriptRuns(None, REPO)
    try:
        assert runs(str(first), "--number=5").stdout == "number 5\n"
        done = runs(str(second))
        assert (done.returncode, done.stdout) == (0, "second 2\n"), done.stderr[-2000:]
        assert runs(str(second), "--number=3").stdout == "second 3\n"
        assert runs(str(first)).stdout == "number 1\n"
        assert runs(str(first), "--end=code").returncode == 3
    finally:
        runs.close()
