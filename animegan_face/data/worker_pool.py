"""Work items in worker processes, where a worker that dies costs its own item only.

``multiprocessing.Pool`` waits for ever for the result of a task whose worker died (a crash in a
native decoder, the kernel's OOM killer): one bad file hung a whole preparation. Here every death
is detected (``concurrent.futures`` marks the pool broken), the items that were not started yet
go to a fresh pool, and each item that was running when a worker died is run once more alone: an
item that kills its worker there too is reported as a :class:`WorkerDied`, and the rest go on.
"""

import concurrent.futures
import dataclasses
import multiprocessing

import cv2


@dataclasses.dataclass(frozen=True)
class WorkerDied:
    """The result of an item whose worker process died while it ran, even when run alone."""

    reason: str = "the worker process died while working on it (a crash, or killed for memory)"


def run_items(function, items, num_workers, on_result=None):
    """``[function(item) or WorkerDied() for item in items]``, in the order of ``items``.

    Args:
        function: a module-level (picklable) function of one item.
        items: picklable work items.
        num_workers: worker processes (forkserver, spawn where missing).
        on_result: called with the number of items done after each one (progress).
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
        suspects = _round(context, function, items, pending, num_workers, record)
        # A suspect was running when a worker died; run each alone to tell the culprit.
        for index in suspects:
            if _round(context, function, items, [index], 1, record):
                record(index, WorkerDied())
        pending = [index for index in pending if index not in results]
    return [results[index] for index in range(len(items))]


def _round(context, function, items, indices, num_workers, record):
    """Runs ``items[indices]`` in one pool until done or broken; returns the indices that were
    started but never finished (empty when no worker died). Items never started stay unrecorded."""
    started = context.RawArray("b", len(items))
    lost = []
    with concurrent.futures.ProcessPoolExecutor(
            min(num_workers, len(indices)), mp_context=context, initializer=_init_worker,
            initargs=(started,)) as pool:
        futures = {pool.submit(_run_marked, function, index, items[index]): index
                   for index in indices}
        try:
            for future in concurrent.futures.as_completed(futures):
                index = futures[future]
                try:
                    record(index, future.result())
                except concurrent.futures.process.BrokenProcessPool:
                    if started[index]:
                        lost.append(index)
        except BaseException:
            # An item's own error (or Ctrl-C) ends the run: the queued items are not started.
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return sorted(lost)


_STARTED = None


def _init_worker(started):
    global _STARTED  # pylint: disable=global-statement
    _STARTED = started
    # One OpenCV thread per worker process: the pool already uses every core.
    cv2.setNumThreads(1)


def _run_marked(function, index, item):
    _STARTED[index] = 1
    return function(item)
