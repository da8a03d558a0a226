"""Several runs of one entry script in one child process, for tests that run it again and again.

    python tests/script_runs.py SCRIPT

reads one JSON list of arguments per line of its stdin and runs `python SCRIPT ARGS...` for each,
in this process: the script as __main__ (runpy), every absl flag back at its default first, file
descriptors 1 and 2 (Python's output, absl's log, TensorFlow's C++ log) going to files of that
run. After each run it answers with one JSON line {"returncode", "stdout", "stderr"} on its own
stdout, what the run's own process would have given: SystemExit's code (None: 0, a message:
printed to stderr, 1), an uncaught exception's traceback on stderr and 1.

Why: each child of an entry script imports TensorFlow and Keras first (about 10 s of CPU on the
2-core machine) before the few seconds of what the test checks; `tests.helpers.ScriptRuns` keeps
one such process for a module's runs of the script. Runs that must be a process of their own
(a kill -9, two workers of a cluster, another backend) keep their own child.
"""

import json
import os
import runpy
import sys
import tempfile
import traceback


def _run(script, arguments):
    """Runs the script once; returns its exit status as its own process would have ended."""
    from absl import flags

    flags.FLAGS.unparse_flags()  # no value of an earlier run's command line carries over
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


def main(script):
    answers = os.fdopen(os.dup(1), "w")  # the runs' fd 1 goes to their files, not here
    with tempfile.TemporaryDirectory() as folder:
        for number, line in enumerate(sys.stdin):
            answer = _run_to_files(script, json.loads(line), folder, number)
            answers.write(json.dumps(answer) + "\n")
            answers.flush()


if __name__ == "__main__":
    sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[1]))  # as `python SCRIPT` sets it
    main(sys.argv[1])
