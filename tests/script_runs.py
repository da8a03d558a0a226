"""Several runs of one entry script in one child process, for tests that run it again and again.

    python tests/script_runs.py SCRIPT

reads one JSON list of arguments per line of its stdin and runs `python SCRIPT ARGS...` for each,
in this process: the script as __main__ (runpy), every absl flag back at its default first, file
descriptors 1 and 2 (Python's output, absl's log, TensorFlow's C++ log) going to files of that
run. After each run it answers with one JSON line {"returncode", "stdout", "stderr"} on its own
stdout, what the run's own process would have given: SystemExit's code (None: 0, a message:
printed to stderr, 1), an uncaught exception's traceback on stderr and 1. With
SCRIPT_RUNS_SETUP=MODULE in its environment (`ScriptRuns(..., setup=MODULE)`), it calls
MODULE.install() once, before the first run (tests/export_memo.py).

    python tests/script_runs.py

(no SCRIPT) runs several scripts: each line's list starts with the script, `[SCRIPT, ARGS...]`.
When the script changes, the absl flags the previous one defined are forgotten, so that the next
can define flags of the same names (absl refuses a flag that another module defined already).

Why: each child of an entry script imports TensorFlow and Keras first (about 10 s of CPU on the
2-core machine) before the few seconds of what the test checks; `tests.helpers.ScriptRuns` keeps
one such process for a module's runs of the script, or of several scripts. Runs that must be a
process of their own (a kill -9, two workers of a cluster, another backend, process-wide settings
such as TensorFlow's thread counts, a script that ends its process) keep their own child.
"""

import importlib
import json
import os
import runpy
import sys
import tempfile
import traceback


def _forget_flags_of(script):
    """Deletes the absl flags that `script` defined (absl names their module after sys.argv[0])."""
    from absl import flags

    for flag in list(flags.FLAGS.flags_by_module_dict().get(script, [])):  # deleting shortens it
        for name in {flag.name, flag.short_name} - {None}:
            if name in flags.FLAGS and flags.FLAGS[name] is flag:
                delattr(flags.FLAGS, name)


def _run(script, arguments):
    """Runs the script once; returns its exit status as its own process would have ended."""
    from absl import flags

    flags.FLAGS.unparse_flags()  # no value of an earlier run's command line carries over
    sys.path[0] = os.path.dirname(os.path.abspath(script))  # as `python SCRIPT` sets it
    sys.argv = [script, *arguments]
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exit_:
        if exit_.code is None or isinstance(exit_.code, int):
            return exit_.code or 0
        print(exit_.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def _run_to_files(script, arguments, folder, number):
    """Run `number` with fd 1 and 2 in files of its own in `folder`; {"returncode", "stdout",
    "stderr"}. Files of its own: a process the script left running (a worker pool's server, which
    keeps the fds it was started with) writes into an earlier run's file, not this one's."""
    paths = {name: os.path.join(folder, f"{number}.{name}") for name in ("stdout", "stderr")}
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    try:
        for fd, name in ((1, "stdout"), (2, "stderr")):
            with open(paths[name], "wb") as file:
                os.dup2(file.fileno(), fd)
        returncode = _run(script, arguments)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
    answer = {"returncode": returncode}
    for name, path in paths.items():
        with open(path, encoding="utf-8", errors="replace") as file:
            answer[name] = file.read()
    return answer


def main(script=None):
    """Runs `script` (None: the script each line names first) with each line's arguments."""
    answers = os.fdopen(os.dup(1), "w")  # the runs' fd 1 goes to their files, not here
    if os.environ.get("SCRIPT_RUNS_SETUP"):
        sys.path.insert(0, os.getcwd())  # the repository (ScriptRuns' cwd), for `tests.`
        importlib.import_module(os.environ["SCRIPT_RUNS_SETUP"]).install()
        del sys.path[0]
    previous = script
    with tempfile.TemporaryDirectory() as folder:
        for number, line in enumerate(sys.stdin):
            arguments = json.loads(line)
            if script is None:
                current, arguments = arguments[0], arguments[1:]
                if previous not in (None, current):
                    _forget_flags_of(previous)
                previous = current
            answer = _run_to_files(script or current, arguments, folder, number)
            answers.write(json.dumps(answer) + "\n")
            answers.flush()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
