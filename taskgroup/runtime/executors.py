"""Run units of work inline, in a process pool or on Ray, committing each to the run store.

A :class:`Unit` names a top-level function by import path (``"package.module:function"``) and the
dict it is called with; the function returns a JSON-able dict, and a ``bytes`` value under
``"blob"`` goes to the store's blob column (a model's state dict). :func:`run_units` skips units
already in the store, runs the rest and commits each one *in the calling process* the moment it
finishes, so ``kill -9`` at any time loses only the units still running, and workers never write to
the store.

Results do not depend on the executor: every executor calls the same function with the same
arguments and the same number of torch threads per unit (``threads``, default 1: intra-op
parallelism changes the order of floating-point sums and so the last bits of a result). Payloads
are returned as the store gives them back (after a JSON round trip) whether they were computed now
or on an earlier run, so a resumed run sees exactly what an uninterrupted one sees.
"""

from __future__ import annotations

import importlib.util
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..errors import TaskgroupError
from ..registry import import_object
from .execution import EXECUTORS, INLINE, Execution
from .hashing import content_hash
from .progress import ProgressFn
from .store import RunStore
#: what a unit function returns once split: (payload, blob, seconds)
Outcome = tuple[dict[str, Any], bytes | None, float]


class UnitCrashedError(TaskgroupError):
    """A unit kept killing the process that ran it (out of memory, a crash in native code...)."""


@dataclass(frozen=True)
class Unit:
    """One resumable piece of work: ``fn(args)`` stored under ``key`` with the label ``kind``.

    ``key`` must be a content hash of everything the result depends on (data fingerprint, tasks,
    configuration, seed): a stored unit is reused whenever its key comes up again.
    """

    key: str
    kind: str
    fn: str
    args: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, kind: str, fn: str, args: dict[str, Any]) -> Unit:
        """A unit keyed by the content hash of ``(kind, fn, args)``."""
        return cls(key=content_hash({"kind": kind, "fn": fn, "args": args}), kind=kind, fn=fn,
                   args=args)


def resolve(fn: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Import the unit function named ``"package.module:function"``."""
    target = import_object(fn, "unit function")
    if not callable(target):
        raise TaskgroupError(f"unit function {fn!r} is not callable")
    return target


def run_units(units: Iterable[Unit], store: RunStore | None, execution: Execution = INLINE,
              progress: ProgressFn | None = None, *, max_crashes: int = 2,
              gpus_per_unit: float | None = None) -> list[dict[str, Any]]:
    """Run every unit not yet in ``store`` and return all payloads in the order of ``units``.

    ``execution`` says where (see :data:`~taskgroup.runtime.execution.EXECUTORS`): ``"inline"`` runs in this process, in order;
    ``"process"`` uses a spawn process pool of ``execution.workers``; ``"ray"`` runs one Ray task
    per unit, joining the cluster at ``execution.address`` (or ``RAY_ADDRESS``), else starting (and
    stopping) a private local Ray on 127.0.0.1 with ``workers * threads`` CPUs. ``workers`` bounds
    how many units run at once everywhere.

    ``execution.threads`` is the number of torch threads a unit runs with, the same in every
    executor so that results are too (None leaves torch alone and never imports it). A unit whose
    worker dies is retried up to ``max_crashes`` times, then :class:`UnitCrashedError` names it. On
    Ray a unit asks for ``gpus_per_unit`` GPUs (default: its share of the cluster's GPUs, at most 1;
    none without GPUs). If a unit raises, no new unit starts, the running ones finish and are
    committed, then that exception propagates. ``progress(done, total, info)`` is called once at
    the start and after each unit (``info``: event, key, kind, seconds, elapsed, eta, cached, ran,
    remaining, executor). With ``store=None`` nothing is reused or kept.

    Blobs are not returned (read them with ``store.get_blob(key)``). Duplicate keys run once.
    """
    units = list(units)
    for unit in units:
        if not isinstance(unit, Unit):
            raise TypeError(f"run_units expects Unit objects, got {type(unit).__name__}")

    unique: dict[str, Unit] = {}
    for unit in units:
        unique.setdefault(unit.key, unit)
    results: dict[str, dict[str, Any]] = {}
    if store is not None:
        for key in unique:
            payload = store.get(key)
            if payload is not None:
                results[key] = payload
    todo = [unit for key, unit in unique.items() if key not in results]
    tracker = _Progress(progress, total=len(unique), cached=len(results), executor=execution.executor)
    tracker.start()
    if todo:
        for fn in sorted({unit.fn for unit in todo}):
            resolve(fn)  # fail fast, in this process, on a bad import path

        def commit(unit: Unit, outcome: Outcome) -> None:
            payload, blob, seconds = outcome
            if store is None:
                results[unit.key] = _round_trip(unit, payload)
            else:
                store.put(unit.key, unit.kind, payload, blob=blob, seconds=seconds)
                results[unit.key] = store.get(unit.key)  # type: ignore[assignment]
            tracker.finished(unit, seconds)

        EXECUTORS.load(execution.executor)(todo, commit, execution, max_crashes=max_crashes,
                                           gpus_per_unit=gpus_per_unit)
    return [results[unit.key] for unit in units]


# -- the work itself (runs in whichever process executes the unit) --------------------------------

def _call_unit(fn: str, args: dict[str, Any], threads: int | None) -> Outcome:
    """Call the unit function and split its result into payload, blob and seconds spent."""
    function = resolve(fn)
    with _torch_threads(threads):
        start = time.perf_counter()
        result = function(args)
        seconds = time.perf_counter() - start
    if not isinstance(result, dict):
        raise TypeError(f"unit function {fn} returned {type(result).__name__}, expected a dict")
    blob = result.get("blob")
    if isinstance(blob, (bytes, bytearray, memoryview)):
        result = {k: v for k, v in result.items() if k != "blob"}
        return result, bytes(blob), seconds
    return result, None, seconds


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run with ``threads`` torch intra-op threads, restoring the previous setting afterwards."""
    torch = _torch() if threads is not None else None
    if torch is None or torch.get_num_threads() == threads:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _torch() -> Any:
    """torch if it is installed (imported on first need), else None."""
    if "torch" in sys.modules:
        return sys.modules["torch"]
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    return torch


def _init_worker(threads: int | None, parent: int | None = None, counter: Any = None) -> None:
    """Process-pool initializer: leave Ctrl-C to the parent, exit when the parent dies, number the
    worker (devices ``auto``/``cuda`` then spread workers over the GPUs, see :mod:`.device`) and pin
    torch (and the BLAS/OpenMP pools) to ``threads`` threads."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the pool and says how to resume
    if parent is not None:
        exit_with_parent(parent)
    if counter is not None:
        from .device import set_worker_slot

        with counter.get_lock():
            set_worker_slot(counter.value)
            counter.value += 1
    if threads is None:
        return
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    torch = _torch()
    if torch is not None:
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # already fixed once torch has run parallel work
            pass


def exit_with_parent(parent: int, poll: float = 0.5) -> None:
    """Make this process exit within ``poll`` seconds after process ``parent`` dies (even by ``kill -9``).

    A daemon thread watches for this process being re-parented (a pid watchdog rather than Linux's
    parent-death signal, which fires when the creating *thread* ends, not the process).
    """
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(poll)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="taskgroup-parent-watchdog", daemon=True).start()


def _round_trip(unit: Unit, payload: dict[str, Any]) -> dict[str, Any]:
    """What the store would give back for ``payload`` (used when there is no store)."""
    import json

    from .atomic import to_jsonable

    try:
        return json.loads(json.dumps(to_jsonable(payload), allow_nan=True))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"unit {unit.key} ({unit.kind}) payload is not JSON-serialisable: "
                        f"{exc}") from None


# -- executors -----------------------------------------------------------------------------------

Commit = Callable[[Unit, Outcome], None]


def run_inline(todo: Sequence[Unit], commit: Commit, execution: Execution, **_: Any) -> None:
    """In this process, in order."""
    for unit in todo:
        commit(unit, _call_unit(unit.fn, unit.args, execution.threads))


def run_process(todo: Sequence[Unit], commit: Commit, execution: Execution, *, max_crashes: int,
                 **_: Any) -> None:
    """Spawn pool; a dead worker breaks the pool, which is rebuilt and the lost units resubmitted.

    At most ``workers`` units are in flight. A unit that was running when a worker died becomes a
    suspect and is rerun alone, so a unit that always crashes is named exactly and the units that
    merely shared the pool with it are not blamed.
    """
    workers, threads = execution.workers, execution.threads
    context = multiprocessing.get_context("spawn")
    slots = context.Value("i", 0)  # workers number themselves from it, in start order
    pending: deque[Unit] = deque(todo)
    crashes: dict[str, int] = {}
    stray_breaks = 0
    error: BaseException | None = None

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=min(workers, len(pending)) or 1, mp_context=context,
                                   initializer=_init_worker, initargs=(threads, os.getpid(), slots))

    pool = new_pool()
    inflight: dict[Future[Outcome], Unit] = {}

    def settle(future: Future[Outcome]) -> bool:
        """Commit or record one finished future; True when its worker died."""
        nonlocal error
        unit = inflight.pop(future)
        exc = future.exception()
        if isinstance(exc, BrokenProcessPool):
            count = crashes[unit.key] = crashes.get(unit.key, 0) + 1
            if count > max_crashes:
                error = error or UnitCrashedError(
                    f"unit {unit.key} ({unit.kind}, {unit.fn}) killed its worker process "
                    f"{count} times; it may run out of memory: try fewer --workers or "
                    "--executor inline")
            else:
                pending.appendleft(unit)
            return True
        if exc is not None:
            error = error or exc
        else:
            commit(unit, future.result())
        return False

    try:
        while pending or inflight:
            broken = False
            while error is None and pending and len(inflight) < workers:
                unit = pending[0]
                suspect = crashes.get(unit.key, 0) > 0
                if inflight and (suspect or any(crashes.get(u.key, 0) > 0
                                                for u in inflight.values())):
                    break
                try:
                    future = pool.submit(_call_unit, unit.fn, unit.args, threads)
                except BrokenProcessPool:  # a running unit killed its worker just now
                    broken = True
                    break
                pending.popleft()
                inflight[future] = unit
                if suspect:
                    break  # a suspect runs alone
            if not inflight and not broken:
                break
            if not broken:
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                broken = any([settle(future) for future in done])
            if broken:
                # The whole pool went down with the worker: settle the rest, then start afresh.
                if not inflight:
                    stray_breaks += 1  # no unit was running: the workers die on their own
                    if stray_breaks > max_crashes:
                        error = error or TaskgroupError(
                            "the process pool's workers keep dying before running any unit; "
                            "try --executor inline")
                for future in list(inflight):
                    settle(future)
                pool.shutdown(wait=True, cancel_futures=True)
                if error is None and pending:
                    pool = new_pool()
    except BaseException:
        _terminate(pool)
        raise
    pool.shutdown(wait=True, cancel_futures=True)
    if error is not None:
        raise error


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now (on Ctrl-C or an internal error), killing units still running."""
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    processes = dict(getattr(pool, "_processes", None) or {})
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes.values():
        if process.is_alive():
            process.terminate()


def run_ray(todo: Sequence[Unit], commit: Commit, execution: Execution, *, max_crashes: int,
             gpus_per_unit: float | None) -> None:
    """One Ray task per unit, at most ``workers`` in flight, committed here as each returns."""
    workers, threads, address = execution.workers, execution.threads, execution.address
    with ray_session(address=address, workers=workers, cpus_per_worker=threads or 1) as ray:
        gpus = float(ray.cluster_resources().get("GPU", 0.0))
        options: dict[str, Any] = {"num_cpus": threads or 1, "max_retries": max_crashes,
                                   "retry_exceptions": False}
        if gpus_per_unit is not None:
            options["num_gpus"] = gpus_per_unit
        elif gpus > 0:
            options["num_gpus"] = min(1.0, gpus / workers)
        remote = ray.remote(_call_unit)
        pending: deque[Unit] = deque(todo)
        inflight: dict[Any, Unit] = {}
        error: BaseException | None = None
        try:
            while pending or inflight:
                while error is None and pending and len(inflight) < workers:
                    unit = pending.popleft()
                    task = remote.options(name=f"taskgroup:{unit.kind}:{unit.key}", **options)
                    inflight[task.remote(unit.fn, unit.args, threads)] = unit
                if not inflight:
                    break
                ready, _ = ray.wait(list(inflight), num_returns=1)
                for ref in ready:
                    unit = inflight.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - mapped to the unit's own error
                        error = error or _ray_error(ray, unit, exc)
                    else:
                        commit(unit, outcome)
        except BaseException:
            for ref in inflight:  # do not leave work running on a shared cluster
                ray.cancel(ref, force=True)
            raise
        if error is not None:
            raise error


def _ray_error(ray: Any, unit: Unit, exc: BaseException) -> BaseException:
    """The exception to raise for a failed Ray task: the unit's own, or a one-line crash error."""
    exceptions = ray.exceptions
    if isinstance(exc, exceptions.RayTaskError):
        cause = getattr(exc, "cause", None)
        return cause if isinstance(cause, BaseException) else exc
    crash_types = tuple(getattr(exceptions, name) for name in
                        ("WorkerCrashedError", "NodeDiedError", "OutOfMemoryError",
                         "LocalRayletDiedError") if hasattr(exceptions, name))
    if isinstance(exc, crash_types):
        return UnitCrashedError(f"unit {unit.key} ({unit.kind}, {unit.fn}) killed its Ray worker "
                                f"({type(exc).__name__}); it may run out of memory")
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return TaskgroupError(f"Ray could not run unit {unit.key} ({unit.kind}): {first_line}")


# -- Ray session -----------------------------------------------------------------------------------

def import_ray() -> Any:
    """Import ray, or raise a one-line :class:`TaskgroupError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise TaskgroupError("the ray executor needs Ray: "
                             "pip install 'taskgroup-mtl[ray]'") from None
    return ray


@contextmanager
def ray_session(address: str | None = None, workers: int = 1,
                cpus_per_worker: int = 1) -> Iterator[Any]:
    """Yield the ray module with a connected session; shut down only a session started here.

    An already initialised Ray is used as it is. Otherwise ``address`` (or ``RAY_ADDRESS``) joins
    an existing cluster, and without either a private local Ray starts with ``workers *
    cpus_per_worker`` CPUs (each unit asks for as many CPUs as it has torch threads), bound
    to 127.0.0.1, without dashboard or usage statistics, quiet, and with this process's
    ``sys.path`` so local workers import the same unit functions.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    target = address or os.environ.get("RAY_ADDRESS") or None
    quiet: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
    if target:
        try:
            ray.init(address=target, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise TaskgroupError(f"cannot join the Ray cluster at {target}: {exc}") from None
    else:
        _init_local_ray(ray, workers * cpus_per_worker, quiet)
    try:
        yield ray
    finally:
        ray.shutdown()


def _init_local_ray(ray: Any, cpus: int, quiet: dict[str, Any]) -> None:
    """Start a local Ray that listens on loopback only.

    Ray replaces a requested 127.0.0.1 by the machine's routable address unless its cluster mode
    is off (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, read at import time and by the processes Ray
    starts), so both the environment of the started processes and the imported constant are set
    for the duration of ``ray.init``.
    """
    env = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    saved_env = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    saved_flag = getattr(constants, "ENABLE_RAY_CLUSTER", None)
    if saved_flag is not None:
        constants.ENABLE_RAY_CLUSTER = False
    code_paths = [os.path.abspath(p) for p in sys.path if p and os.path.isdir(p)]
    try:
        ray.init(address="local", num_cpus=cpus, num_gpus=None, include_dashboard=False,
                 _node_ip_address="127.0.0.1",
                 job_config=ray.job_config.JobConfig(code_search_path=code_paths), **quiet)
    except Exception as exc:  # noqa: BLE001 - Ray raises many types; the user needs one line
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        raise TaskgroupError(f"cannot start a local Ray: {lines[0]}") from exc
    finally:
        if saved_flag is not None:
            constants.ENABLE_RAY_CLUSTER = saved_flag
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# -- progress --------------------------------------------------------------------------------------

class _Progress:
    """Feeds ``progress(done, total, info)`` with elapsed time and an ETA from units run so far."""

    def __init__(self, callback: ProgressFn | None, total: int, cached: int, executor: str) -> None:
        self.callback = callback
        self.total = total
        self.cached = cached
        self.ran = 0
        self.executor = executor
        self.start_time = time.monotonic()

    def _emit(self, info: dict[str, Any]) -> None:
        if self.callback is None:
            return
        elapsed = time.monotonic() - self.start_time
        remaining = self.total - self.cached - self.ran
        eta = elapsed / self.ran * remaining if self.ran else (0.0 if remaining == 0 else None)
        info.update(elapsed=elapsed, eta=eta, cached=self.cached, ran=self.ran,
                    remaining=remaining, executor=self.executor)
        self.callback(self.cached + self.ran, self.total, info)

    def start(self) -> None:
        self._emit({"event": "start", "key": None, "kind": None, "seconds": 0.0})

    def finished(self, unit: Unit, seconds: float) -> None:
        self.ran += 1
        self._emit({"event": "done", "key": unit.key, "kind": unit.kind, "seconds": seconds})
