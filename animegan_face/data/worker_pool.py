"""Work items in worker processes, where a worker that dies costs its own item only.

``multiprocessing.Pool`` waits for ever for the result of a task whose worker died (a crash in a
native decoder, the kernel's OOM killer): one bad file hung a whole preparation. Here every death
is detected (``concurrent.futures`` marks the pool broken), the items that were not started yet
go to a fresh pool, and each item that was running when a worker died is run once more alone: an
item that kills its worker there too is reported as a :class:`WorkerDied`, and the rest go on.
An item still running after ``item_timeout`` seconds (a decoder caught in a loop by a crafted file)
has its worker killed and is reported the same way, without a second try.
"""

import collections
import concurrent.futures
import dataclasses
import itertools
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
    context = _context()
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


def _context():
    # forkserver/spawn, not fork: the caller may hold threads (OpenCV's, TensorFlow's) that a fork
    # would copy in a locked state.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method)


def run_in_one_worker(function, items, item_timeout=None, ahead=8):
    """Yields ``function(item)`` or a ``WorkerDied`` for each of ``items``, in order, from one
    long-lived worker process: started once (about 0.5 s on a busy 2-core machine), and started
    again only after it died on an item or was stopped for running past ``item_timeout`` seconds.
    With one worker the item it was running is the culprit: it is reported, not tried again (an
    item the worker had not started yet goes to the new worker). Up to ``ahead`` items are handed
    to the worker at once, so at most that many results wait in memory while the caller works.
    ``items`` is read lazily (it may be endless: the caller stops when it has what it needs).
    An item's own error ends the run, as in ``run_items``.
    """
    items = iter(items)
    context = _context()
    # Per slot (index % ahead: the items in flight never share one): time.monotonic() at the
    # item's start (0: not yet), and the worker process running it.
    started_at, pids = context.RawArray("d", ahead), context.RawArray("i", ahead)
    window = collections.deque(itertools.islice(enumerate(items), ahead))  # (index, item) not done
    pool, futures = None, {}  # futures: index -> Future in the current worker
    try:
        while window:
            index, _ = window[0]
            result = None
            for _ in range(2):  # a worker that died before it started on the item: once more
                if pool is None:
                    pool = concurrent.futures.ProcessPoolExecutor(
                        1, mp_context=context, initializer=_init_worker,
                        initargs=(started_at, pids))
                    futures = {}
                _submit(pool, futures, window, function, started_at, ahead)
                result = _wait_for(futures.pop(index), started_at, pids, index % ahead,
                                   item_timeout)
                if result is _NOT_STARTED or isinstance(result, WorkerDied):
                    pool.shutdown(wait=True, cancel_futures=True)  # broken: a fresh worker next
                    pool = None
                if result is not _NOT_STARTED:
                    break
            following = window[-1][0] + 1
            window.popleft()
            window.extend(itertools.islice(zip(itertools.count(following), items), 1))
            if pool is not None:  # the worker goes on while the caller works on this result
                _submit(pool, futures, window, function, started_at, ahead)
            yield WorkerDied() if result is _NOT_STARTED else result
    finally:
        if pool is not None:
            busy = [index for index, future in futures.items()
                    if started_at[index % ahead] and not future.done()]
            for index in busy:  # the caller stopped early (Ctrl-C, an error): never wait on it
                _kill(pids[index % ahead])
            pool.shutdown(wait=not busy, cancel_futures=True)


def _submit(pool, futures, window, function, started_at, ahead):
    """Hands the worker each item of ``window`` it does not have yet."""
    for index, item in window:
        if index not in futures:
            started_at[index % ahead] = 0
            futures[index] = pool.submit(_run_marked, function, index % ahead, item)


_NOT_STARTED = object()


def _wait_for(future, started_at, pids, index, item_timeout):
    """The result of item ``index``; a ``WorkerDied`` when its worker died on it or ran it past
    ``item_timeout`` seconds (and was killed); ``_NOT_STARTED`` when the worker died before."""
    poll = None if item_timeout is None else min(1.0, item_timeout / 10)
    while True:
        try:
            return future.result(timeout=poll)
        except concurrent.futures.TimeoutError:
            if started_at[index] and time.monotonic() - started_at[index] > item_timeout:
                _kill(pids[index])
                return _overdue(item_timeout)
        except concurrent.futures.process.BrokenProcessPool:
            return WorkerDied() if started_at[index] else _NOT_STARTED


def _overdue(item_timeout):
    return WorkerDied(f"still running after {item_timeout:g} s: stopped (a decoder caught in a "
                      f"loop by a damaged or crafted file?)")


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


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
        record(index, _overdue(item_timeout))
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
            _kill(pids[index])
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
