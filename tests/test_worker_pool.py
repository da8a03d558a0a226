"""Tests for animegan_face.data.worker_pool: a worker that dies costs its own item, never a hang."""

import itertools
import os
import signal
import threading
import time

from animegan_face.data import worker_pool


def square_or_die(item):
    """Module level: the workers import it. Items "segv" and "kill" end their worker process,
    ("hang", path) never returns (a decoder caught in a loop)."""
    if isinstance(item, tuple) and item[0] == "hang":  # ("hang", a file that counts the starts)
        with open(item[1], "a", encoding="utf-8") as file:
            file.write("started\n")
        time.sleep(3600)
    if item == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)  # what OpenCV did on a name that is not UTF-8
    if item == "kill":
        os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer does
    return item * item


def _run_with_deadline(items, num_workers, deadline=240, item_timeout=None):
    """run_items on a thread: a hang (multiprocessing.Pool's answer to a dead worker) fails."""
    box, done = {}, []
    thread = threading.Thread(target=lambda: box.setdefault(
        "results", worker_pool.run_items(square_or_die, items, num_workers, done.append,
                                         item_timeout)),
        daemon=True)
    thread.start()
    thread.join(deadline)
    assert not thread.is_alive(), f"still waiting after {deadline} s"
    return box["results"], done


def test_dead_workers_skip_their_items_only():
    items = [1, 2, "segv", 3, 4, 5, "kill", 6, 7, 8]
    results, done = _run_with_deadline(items, num_workers=2)
    assert [isinstance(result, worker_pool.WorkerDied) for result in results] == [
        item in ("segv", "kill") for item in items]
    assert [result for result in results if not isinstance(result, worker_pool.WorkerDied)] == [
        item * item for item in items if isinstance(item, int)]
    assert done[-1] == len(items) and sorted(done) == done  # progress: one call per item


def test_without_deaths_results_keep_the_order_of_the_items():
    results, _ = _run_with_deadline(list(range(12)), num_workers=2)
    assert results == [item * item for item in range(12)]


def test_an_item_that_never_returns_is_stopped_after_the_timeout(tmp_path):
    starts = tmp_path / "starts.txt"
    items = [1, 2, ("hang", str(starts)), 3, 4, 5]
    results, _ = _run_with_deadline(items, num_workers=2, item_timeout=3)
    assert isinstance(results[2], worker_pool.WorkerDied) and "after 3 s" in results[2].reason
    assert [result for index, result in enumerate(results) if index != 2] == [1, 4, 9, 16, 25]
    assert starts.read_text(encoding="utf-8") == "started\n"  # stopped once, not tried again alone


def test_one_worker_takes_an_endless_stream_lazily_and_names_a_death():
    stream = itertools.chain([1, 2, "segv", 3], itertools.count(4))
    results = worker_pool.run_in_one_worker(square_or_die, stream, ahead=3)
    first = [next(results) for _ in range(8)]
    results.close()  # the caller has what it needs: the worker is stopped, nothing hangs
    assert isinstance(first[2], worker_pool.WorkerDied)
    assert first[:2] + first[3:] == [1, 4, 9, 16, 25, 36, 49]
