"""How many files a reader opens following `python train.py` to the first train step (issue 27).

Runs train.py in this process on a tiny generated dataset (32 px, random-weight extractors) under
the Keras backend in KERAS_BACKEND, and watches every Python call until the first warm-up step
(`tf_trainer`'s `train_step`, `jax_trainer`'s `warmup_step`). A reader reads each function of the
repository once, when it first runs, starting at train.py's `main`: reading a new function in
another file than the one it is called from is a visit to that file. Module bodies (imports) are
not followed. Printed: the files in the order they are visited, how many, and how many visits
return to a file visited before; and the call chain at that step (the files of the frames from
train.py down to the step, as a reader follows the calls that lead there). Nothing is timed.

    .venv/bin/python bench/reading_path.py                      # this checkout, TensorFlow
    KERAS_BACKEND=jax .venv/bin/python bench/reading_path.py    # the JAX path
    .venv/bin/python bench/reading_path.py --repo=/tmp/older    # another checkout (git worktree)
"""

import argparse
import os
import pathlib
import runpy
import sys
import tempfile

# The first warm-up step: its function, or the copy TensorFlow's autograph makes of it (a code
# object of its own, named tf__<name>, in a generated file outside the repository).
STEP_FUNCTIONS = {"tf_trainer.py": "train_step", "jax_trainer.py": "warmup_step"}
AUTOGRAPH_STEP = "tf__train_step"
_THIS_FILE = os.path.abspath(__file__)


def _trace_reading(repo, argv):
    """Runs train.py with `argv`; at the first step, prints the visits and exits the process."""
    repo = str(repo)
    in_repo = {}  # code object -> its file relative to repo, or None

    def relative(code):
        if code not in in_repo:
            name = code.co_filename
            # Not this script: run on its own checkout, it would head the call chain. Not the
            # installed packages either: `make` puts the virtual environment inside the checkout.
            in_repo[code] = (os.path.relpath(name, repo) if name.startswith(repo + os.sep)
                             and name.endswith(".py") and "/tests/" not in name
                             and os.sep + "site-packages" + os.sep not in name
                             and name != _THIS_FILE else None)
        return in_repo[code]

    read, visits, started = set(), [], []

    def trace(frame, event, _):  # sys.settrace: called for "call" events only, cheap otherwise
        code = frame.f_code
        path = relative(code)
        if code.co_name == AUTOGRAPH_STEP and started:
            path = "animegan_face/training/tf_trainer.py"
        elif path is None:
            return
        if not started:
            if path == "train.py" and code.co_name == "main":
                started.append(True)
                read.add(code)
                visits.append(path)
            return
        if code in read or code.co_name == "<module>":
            return
        caller = frame.f_back  # the nearest frame of the repository's code calls this one
        while caller is not None and relative(caller.f_code) is None:
            caller = caller.f_back
        if caller is None or caller.f_code.co_name == "<module>":
            return  # run while importing, not followed
        read.add(code)
        if path != relative(caller.f_code):
            visits.append(path)
        if code.co_name == AUTOGRAPH_STEP or STEP_FUNCTIONS.get(os.path.basename(path)) == code.co_name:
            sys.settrace(None)
            chain, caller = [path], frame.f_back
            while caller is not None:
                if relative(caller.f_code) not in (None, chain[-1]):
                    chain.append(relative(caller.f_code))
                caller = caller.f_back
            _report(visits, chain[::-1])
            sys.stdout.flush()
            os._exit(0)

    sys.argv = ["train.py", *argv]
    sys.settrace(trace)
    runpy.run_path(os.path.join(repo, "train.py"), run_name="__main__")
    sys.settrace(None)
    print("train.py ended without a train step", file=sys.stderr)
    sys.exit(1)


def _report(visits, chain):
    print(f"call chain at the first step: {' > '.join(chain)} ({len(chain)} files, "
          f"{len(chain) - len(set(chain))} repeated)")
    seen, returns = [], 0
    for path in visits:
        if path in seen:
            returns += 1
        else:
            seen.append(path)
    print(f"visits in order: {' > '.join(visits)}")
    print(f"files: {len(seen)}, visits returning to a file visited before: {returns}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=str(pathlib.Path(__file__).resolve().parent.parent),
                        help="The checkout whose train.py is followed (default: this one).")
    args = parser.parse_args()
    repo = pathlib.Path(args.repo).resolve()
    os.chdir(repo)
    sys.path.insert(0, str(repo))
    from tests.helpers import write_prepared_dataset  # noqa: E402  (the checkout's own helper)

    work = pathlib.Path(tempfile.mkdtemp(prefix="reading_path_"))
    dataset = write_prepared_dataset(work / "data")
    _trace_reading(repo, [
        f"--model_dir={work / 'run'}", f"--dataset_dir={dataset}", "--image_size=32",
        "--batch_size=2", "--init_epochs=1", "--epochs=1", "--steps_per_epoch=2",
        "--extractor=mobilenet", "--extractor_weights=none", "--face_extractor=none"])


if __name__ == "__main__":
    main()
