"""Work items in worker processes, where a worker that dies costs its own item only.

``multiprocessing.Pool`` waits for ever for the result of a task whose worker died (a crash in a
native decoder, the kernel's OOM killer): one bad file hung a whole preparation. Here every death
is detected (``concurrent.futures`` marks the pool broken), the items that were not started yet
go to a fresh pool, and each item that was running when a worker died is run once more alone: an
item that kills its worker there too is reported as a :class:`WorkerDied`, and the rest go on.
An item still running after ``item_timeout`` seconds (a decoder caught in a loop by a crafted file)
has its worker killed and is reported the same way, without a second try.
"""

import concurrent.futures
import dataclasses
import multiprocessing
import os
import signal
import time

import cv2


@dataclasses.dataclass(frozen=True)
class WorkerDied:
    """The result of an item whose worker process died while it ran, even when run alone, or that
    ran longer than the timeout."""

    reason: str = "the worker process died while working on it (a crash, or killed for memory)"


def run_items(function, items, num_workers, on_result=None, item_timeout=None):
    """``[function(item) or WorkerDied() for item in items]``, in the order of ``items``.

    Args:
        function: a module-level (picklable) function of one item.
        items: picklable work items.
        num_workers: worker processes (forkserver, spawn where missing).
        on_result: called with the number of items done after each one (progress).
        item_timeout: seconds one item may run before its worker is killed (None: no limit).
    """
    # forkserver/spawn, not fork: the caller may hold threads (OpenCV's, TensorFlow's) that a fork
    # would copy in a locked state.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    results = {}
    pending = list(range(len(items)))

    def record(index, result):
        results[index] = result
        if on_result:
            on_result(len(results))

    while pending:
        suspects = _round(context, function, items, pending, num_workers, record, item_timeout)
        # A suspect was running when a worker died; run each alone to tell the culprit.
        for index in suspects:
            if _round(context, function, items, [index], 1, record, item_timeout):
                record(index, WorkerDied())
        pending = [index for index in pending if index not in results]
    return [results[index] for index in range(len(items))]


def _round(context, function, items, indices, num_workers, record, item_timeout):
    """Runs ``items[indices]`` in one pool until done or broken; returns the indices that were
    started but never finished (empty when no worker died), less those recorded as timed out.
    Items never started stay unrecorded."""
    started_at = context.RawArray("d", len(items))  # time.monotonic() at the start, 0: not yet
    pids = context.RawArray("i", len(items))  # the worker process running the item
    lost, timed_out, finished = [], set(), set()
    with concurrent.futures.ProcessPoolExecutor(
            min(num_workers, len(indices)), mp_context=context, initializer=_init_worker,
            initargs=(started_at, pids)) as pool:
        futures = {pool.submit(_run_marked, function, index, items[index]): index
                   for index in indices}
        poll = None if item_timeout is None else min(1.0, item_timeout / 10)
        try:
            waiting = set(futures)
            while waiting:
                done, waiting = concurrent.futures.wait(
                    waiting, poll, concurrent.futures.FIRST_COMPLETED)
                for future in done:
                    index = futures[future]
                    try:
                        record(index, future.result())
                        finished.add(index)
                    except concurrent.futures.process.BrokenProcessPool:
                        if started_at[index] and index not in timed_out:
                            lost.append(index)
                if item_timeout is not None:
                    timed_out |= _stop_overdue(waiting, futures, started_at, pids, item_timeout)
        except BaseException:
            # An item's own error (or Ctrl-C) ends the run: the queued items are not started.
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    for index in timed_out - finished:
        record(index, WorkerDied(f"still running after {item_timeout:g} s: stopped (a decoder "
                                 f"caught in a loop by a damaged or crafted file?)"))
    return sorted(lost)


def _stop_overdue(waiting, futures, started_at, pids, item_timeout):
    """Kills the worker of every waiting item that started more than ``item_timeout`` seconds ago;
    returns those items' indices. (Killing one worker breaks the pool: the caller's next round
    runs the other unfinished items again.)"""
    overdue = set()
    now = time.monotonic()
    for future in waiting:
        index = futures[future]
        if started_at[index] and now - started_at[index] > item_timeout:
            overdue.add(index)
            try:
                os.kill(pids[index], signal.SIGKILL)
            except ProcessLookupError:
                pass
    return overdue


_STARTED_AT = _PIDS = None


def _init_worker(started_at, pids):
    global _STARTED_AT, _PIDS  # pylint: disable=global-statement
    _STARTED_AT, _PIDS = started_at, pids
    # One OpenCV thread per worker process: the pool already uses every core.
    cv2.setNumThreads(1)


def _run_marked(function, index, item):
    _PIDS[index] = os.getpid()
    _STARTED_AT[index] = time.monotonic()
    return function(item)
