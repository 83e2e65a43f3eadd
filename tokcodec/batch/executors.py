"""Where the per-file jobs run: local worker processes, or Ray tasks. Both hand back
concurrent.futures.Future objects, so the driver's loop is the same for both.

Local (`--jobs N`): a ProcessPoolExecutor of N 'spawn' processes (a fresh
interpreter each: no threads or locks inherited from the driver), each job
using max(1, cores // N) torch threads (fewer if OMP_NUM_THREADS says so), so
that N workers share the cores instead of fighting over them. A job is
admitted only when its memory estimate fits in what /proc/meminfo calls
available (less what the jobs already running may take). Workers turn SIGTERM
SIGHUP and SIGINT into a clean exit (a job in progress first unwinds, which
deletes its temporaries), and get SIGTERM when the driver dies (Linux
PR_SET_PDEATHSIG), so a killed batch leaves no worker behind it.

Ray (`--ray auto|ADDRESS|local`): the same function as Ray tasks, one CPU
each, with the memory estimate as Ray's `memory` resource, so Ray's scheduler
does the admitting. DST and the sources must be at the same paths on every node.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import signal

from tokcodec.batch.work import FileTask, process_file
from tokcodec.errors import TokcodecError
from tokcodec.errors import Terminated


def cpu_count() -> int:
    """Cores this process may run on (taskset and cgroup cpusets respected)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def threads_per_job(jobs: int) -> int:
    threads = max(1, cpu_count() // jobs)
    omp = os.environ.get("OMP_NUM_THREADS", "")
    return min(threads, int(omp)) if omp.isdigit() and int(omp) > 0 else threads


class LocalPool:
    def __init__(self, jobs: int, device: str = "cpu"):
        self.jobs = jobs
        self.threads = threads_per_job(jobs)
        self.device = device
        # the jobs' frame counts, for the driver's progress line (work.PROGRESS_SINK in each worker)
        self.progress = mp.get_context("spawn").Queue()
        self._pool = self._start()

    def _start(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(
            self.jobs,
            mp_context=mp.get_context("spawn"),
            initializer=_init_worker,
            initargs=(os.getpid(), self.progress),
        )

    def submit(self, task: FileTask, need: int) -> cf.Future:
        return self._pool.submit(_run_in_worker, task)

    def admits(self, need: int, reserved: int) -> bool:
        """Whether a job needing `need` bytes fits next to jobs that may take `reserved` more."""
        from tokcodec.codec.memory import free_memory

        free = free_memory(self.device)
        return free is None or need + reserved <= free

    def restart(self) -> None:
        """A worker died (killed, out of memory, crashed): the pool is broken; start a new one."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._start()

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def kill(self) -> None:
        """Interrupted: SIGTERM the workers (they delete their temporaries) and wait for them."""
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        for p in processes:
            if p.is_alive():
                p.terminate()
        for p in processes:
            p.join(timeout=30)
        self._pool.shutdown(wait=True, cancel_futures=True)


_in_job = False  # whether this worker is inside a job (see _on_signal)


def _init_worker(driver_pid: int, progress=None) -> None:
    import threading

    from tqdm import tqdm

    from tokcodec.batch import work

    work.PROGRESS_SINK = progress

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        if signal.getsignal(sig) is not signal.SIG_IGN:  # ignored stays ignored (nohup, background jobs)
            signal.signal(sig, _on_signal)
    # The (silent) progress bars of the pipeline would create a cross-process lock, which a
    # worker leaving by os._exit never releases: Python's semaphore tracker then warns at exit.
    tqdm.set_lock(threading.RLock())
    try:  # Linux: SIGTERM when the driver dies, even by kill -9
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != driver_pid:  # it died before the line above
        os._exit(1)


def _on_signal(signum, _frame) -> None:
    """In a job: unwind it like Ctrl-C (the writers delete their temporaries). Idle: just leave."""
    if not _in_job:
        os._exit(128 + signum)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def _run_in_worker(task: FileTask):
    """process_file in a pool worker. After an interruption has unwound the job, the worker exits: the
    pool would otherwise hand it the next job, and once the driver is gone it would wait forever."""
    global _in_job
    _in_job = True
    try:
        return process_file(task)
    except (KeyboardInterrupt, Terminated) as e:
        os._exit(128 + getattr(e, "signum", signal.SIGINT))
    finally:
        _in_job = False


def import_ray():
    try:
        import ray
    except ImportError:
        raise TokcodecError("--ray needs Ray: pip install 'tokcodec[ray]'") from None
    return ray


class RayPool:
    def __init__(self, address: str, jobs: int | None, device: str = "cpu"):
        self._ray = ray = import_ray()
        self._owned = not ray.is_initialized()
        if self._owned:
            import logging

            try:
                ray.init(
                    address=None if address == "local" else address, logging_level=logging.WARNING, log_to_driver=False
                )
            except (ConnectionError, ValueError, RuntimeError) as e:
                raise TokcodecError(f"--ray {address}: cannot connect ({str(e).splitlines()[0]})") from None
        self.jobs = jobs or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.threads = 1
        self._gpus = 1 if device.startswith("cuda") else 0
        self._remote = ray.remote(process_file)
        self._refs: list = []

    def submit(self, task: FileTask, need: int) -> cf.Future:
        options = {"num_cpus": 1, "num_gpus": self._gpus, "max_retries": 0}
        if need:
            options["memory"] = need
        ref = self._remote.options(**options).remote(task)
        future = ref.future()
        self._refs = [(f, r) for f, r in self._refs if not f.done()] + [(future, ref)]
        return future

    def admits(self, need: int, reserved: int) -> bool:
        return True  # Ray's scheduler places tasks by their `memory`

    def restart(self) -> None:
        pass  # Ray replaces dead workers itself

    def close(self) -> None:
        if self._owned:
            self._ray.shutdown()

    def kill(self) -> None:
        for _, ref in self._refs:
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - finished already, or the cluster is gone: nothing to cancel
                pass
        self.close()
