"""Tests for animegan_face.data.worker_pool: a worker that dies costs its own item, never a hang."""

import os
import signal
import threading

from animegan_face.data import worker_pool


def square_or_die(item):
    """Module level: the workers import it. Items "segv" and "kill" end their worker process."""
    if item == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)  # what OpenCV did on a name that is not UTF-8
    if item == "kill":
        os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer does
    return item * item


def _run_with_deadline(items, num_workers, deadline=240):
    """run_items on a thread: a hang (multiprocessing.Pool's answer to a dead worker) fails."""
    box, done = {}, []
    thread = threading.Thread(target=lambda: box.setdefault(
        "results", worker_pool.run_items(square_or_die, items, num_workers, done.append)),
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
