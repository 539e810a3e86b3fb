"""DDP: two CPU processes with the gloo backend train together; only rank 0 writes files."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import torch
import torch.multiprocessing as mp

from inpaint_models.io.sidecar import read_sidecar
from inpaint_models.training import quick_config

TRAINABLE = ("autoencoder", "context-encoder", "mlp-gan")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, config: dict, results: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    output = str(Path(config["train"]["output"]).resolve())
    writes: list[str] = []

    def audit(event: str, args: tuple) -> None:  # every file written or renamed under the run folder
        if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            path, mode, flags = args[0], args[1], args[2] if len(args) > 2 else 0
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            if writing and os.fsdecode(path).startswith(output):
                writes.append(f"open {os.fsdecode(path)}")
        elif event in ("os.rename", "os.remove", "os.mkdir") and os.fsdecode(args[0]).startswith(output):
            writes.append(f"{event} {os.fsdecode(args[0])}")

    sys.addaudithook(audit)
    from inpaint_models.contract.registry import make_registry
    from inpaint_models.models.context_encoder.task import build_task
    from inpaint_models.training import Trainer, load_config, load_tensors

    events = []
    trainer = Trainer(load_config(config, registry=make_registry(allowed=TRAINABLE)), build_task,
                      lambda event: events.append(event.step))
    path = trainer.run()
    saved = load_tensors(path)  # written by rank 0 before the run's final barrier
    same = all(torch.equal(parameter, saved[f"{name}.{key}"]) for name, network in trainer.task.networks.items()
               for key, parameter in network.named_parameters())
    # no in-place buffer broadcast at each forward (it broke a twice-run BatchNorm discriminator on CUDA)
    wrappers = [net for net in trainer.train_nets.values() if isinstance(net, torch.nn.parallel.DistributedDataParallel)]
    broadcasts = [net.broadcast_buffers for net in wrappers]
    Path(results, f"rank{rank}.json").write_text(json.dumps({"path": str(path), "writes": writes, "steps": events,
                                                             "same_parameters": same, "broadcasts": broadcasts}))


def test_two_process_ddp_run_completes_and_only_rank_0_writes(tmp_path):
    config = quick_config("context-encoder", tmp_path, steps=4, size=32,
                          options={"width": 8, "bottleneck": 32, "attention": True}, images=6,
                          train={"batch_size": 2, "checkpoint_every": 2, "log_every": 1, "validation_split": 0.2,
                                 "validate_every": 4, "preview_every": 4, "output": str(tmp_path / "run")})
    results = tmp_path / "results"
    results.mkdir()
    mp.spawn(_worker, args=(2, _free_port(), config, str(results)), nprocs=2, join=True)
    rank0 = json.loads((results / "rank0.json").read_text())
    rank1 = json.loads((results / "rank1.json").read_text())
    assert rank0["path"] == rank1["path"]
    assert rank1["writes"] == [], rank1["writes"]
    assert rank0["writes"], "the audit hook saw no write by rank 0"
    assert rank0["steps"][-1] == rank1["steps"][-1] == 4
    assert rank0["same_parameters"] and rank1["same_parameters"]  # gradients were averaged across processes
    assert rank0["broadcasts"] == [False, False]  # generator and discriminator wrapped, buffers per rank
    sidecar = read_sidecar(rank0["path"], "context-encoder")
    assert sidecar["step"] == 4 and sidecar["world_size"] == 2
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train_steps = [r["step"] for r in records if r["kind"] == "train"]
    assert train_steps == [1, 2, 3, 4]  # one record per step: rank 1 logged nothing
    assert any(r["kind"] == "validation" for r in records)
    assert (tmp_path / "run" / "previews" / "step_00000004.png").is_file()
    state = json.loads((tmp_path / "run" / "checkpoints" / "step_00000004.state.json").read_text())
    assert state["samples_consumed"] == 4 * 2  # per process; the global batch is 2 x 2
