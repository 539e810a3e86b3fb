"""Distributed fills fail, never hang: workers that die, a cluster left without workers, a lost scheduler.

Each test runs a real ``dask.distributed`` cluster whose fill task kills a
process, and asserts that the fill ends within a bound with a
:class:`~inpaint_models.pipeline.chunked.ClusterError` that says what happened
(before, a cluster without workers waited forever and a lost scheduler ended
in a bare ``FutureCancelledError``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pytest

import inpaint_models
from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.hookspecs import hookimpl
from inpaint_models.contract.registry import make_registry
from inpaint_models.contract.errors import ClusterError

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow  # clusters of worker processes

#: every test must end well within this (the bound the fill guarantees is a few seconds here)
DEADLINE_SECONDS = 60


class Killer:
    """A model whose fill kills a process: its own worker (``pid`` None) or the process ``pid`` (a scheduler)."""

    def __init__(self, pid: int | None = None) -> None:
        self.pid = pid

    @hookimpl
    def model_info(self) -> ModelInfo:
        return ModelInfo(name="killer", title="Killer", description="test", source="tests", crop_margin=2)

    @hookimpl
    def fill(self, image, mask):
        if self.pid is None:
            os._exit(1)
        os.kill(self.pid, signal.SIGKILL)
        time.sleep(30)  # the worker outlives its scheduler
        return image


def fill_with(plugin: Killer):
    """Fill a small dask image with two holes through ``plugin`` on the active client."""
    registry = make_registry(load_entry_points=False)
    registry.register(plugin)
    image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    mask = np.zeros((64, 64), bool)
    mask[10:14, 10:14] = mask[40:44, 40:44] = True
    return inpaint_models.fill(da.from_array(image, chunks=32), da.from_array(mask, chunks=32), model="killer",
                               registry=registry)


def bounded(function) -> BaseException | None:
    """Run ``function`` in a thread; what it raised (None: it returned). Fails when it is still running at the
    deadline (a hang)."""
    raised: list[BaseException | None] = [None]

    def run() -> None:
        try:
            function()
        except BaseException as error:  # noqa: BLE001 (the test inspects it)
            raised[0] = error

    thread = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(DEADLINE_SECONDS)
    assert not thread.is_alive(), f"the fill still waits after {DEADLINE_SECONDS} s: it hangs"
    print(f"ended in {time.monotonic() - started:.1f} s")
    return raised[0]


def start(command: str, *args: str) -> subprocess.Popen:
    """``dask scheduler`` / ``dask worker`` (``command``) in a process that can import this module (the plugin)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, "-m", f"distributed.cli.dask_{command}", *args, "--no-dashboard"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_worker(address: str) -> subprocess.Popen:
    """A worker process without a nanny: nothing restarts it when it dies."""
    return start("worker", address, "--no-nanny", "--nthreads", "1")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(30)


def test_a_task_that_kills_its_worker_every_time_ends_in_a_clear_error():
    # fork: the nanny restarts a worker in a fraction of a second (each death is retried allowed-failures times)
    with dask.config.set({"distributed.worker.multiprocessing-method": "fork"}), distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None, silence_logs=50
    ) as cluster, distributed.Client(cluster):
        error = bounded(lambda: fill_with(Killer()))
    assert isinstance(error, ClusterError), repr(error)
    assert isinstance(error.__cause__, distributed.KilledWorker)
    message = str(error)
    assert "KilledWorker" in message and "died" in message and "memory" in message and "worker logs" in message


def test_a_cluster_left_without_workers_fails_instead_of_hanging():
    with distributed.LocalCluster(n_workers=0, processes=True, dashboard_address=None, silence_logs=50) as cluster, \
            distributed.Client(cluster) as client:
        worker = start_worker(cluster.scheduler_address)
        try:
            client.wait_for_workers(1, timeout=30)
            # set after the scheduler started: the fill's own bound acts, not the (in-process) scheduler's
            with dask.config.set({"distributed.scheduler.no-workers-timeout": "2s"}):
                error = bounded(lambda: fill_with(Killer()))
        finally:
            stop(worker)
    assert isinstance(error, ClusterError), repr(error)
    assert "no worker for 2 s" in str(error) and "no-workers-timeout" in str(error)


def test_a_lost_scheduler_ends_the_fill_with_a_clear_error(tmp_path):
    scheduler_file = tmp_path / "scheduler.json"
    scheduler = start("scheduler", "--port", "0", "--scheduler-file", str(scheduler_file))
    worker = None
    try:
        deadline = time.monotonic() + 30
        while not scheduler_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        worker = start_worker(json.loads(scheduler_file.read_text())["address"])
        with dask.config.set({"distributed.comm.timeouts.connect": "5s"}), \
                distributed.Client(scheduler_file=str(scheduler_file), timeout="30s") as client:
            client.wait_for_workers(1, timeout=30)
            error = bounded(lambda: fill_with(Killer(scheduler.pid)))
    finally:
        for process in (worker, scheduler):
            if process is not None:
                stop(process)
    assert isinstance(error, ClusterError), repr(error)
    assert "scheduler was lost" in str(error)


def test_the_cli_reports_a_cluster_failure_in_one_line_with_its_own_exit_status(monkeypatch, capsys):
    from inpaint_models.cli import EXIT_CLUSTER, EXIT_INPUT, EXIT_PLUGIN, main
    from inpaint_models.cli import models as models_command

    def fail(args):
        raise ClusterError("dask workers died while running task x: give the workers more memory")

    monkeypatch.setattr(models_command, "run", fail)
    assert main(["models"]) == EXIT_CLUSTER not in (EXIT_INPUT, EXIT_PLUGIN)
    assert capsys.readouterr().err == "inpaint: error: dask workers died while running task x: give the workers more memory\n"


@pytest.mark.slow
def test_writing_a_fills_output_on_a_cluster_without_workers_fails_instead_of_hanging(tmp_path):
    """The write after the fill (``to_zarr``) is bounded as the fill is."""
    import dask.array as da

    from inpaint_models.api import compute_on_active_cluster

    stored = da.ones((64, 64), chunks=32).to_zarr(str(tmp_path / "out.zarr"), compute=False)
    assert compute_on_active_cluster(stored) is False  # no client: nothing computed here
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None, silence_logs=50) as cluster, \
            distributed.Client(cluster):
        with dask.config.set({"distributed.scheduler.no-workers-timeout": "2s"}):
            error = bounded(lambda: compute_on_active_cluster(stored))
    assert isinstance(error, ClusterError), repr(error)
