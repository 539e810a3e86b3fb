"""The shared trainer behind every model's ``train`` hook.

Public API
==========

Running a training (front ends)::

    from inpaint_models import train                # = inpaint_models.api_train.train
    from inpaint_models.api_train import example_path
    path = train(example_path("autoencoder-cpu"), report=print, cancel=event,
                 overrides={"train.steps": 100})     # -> Path of the final .safetensors

    config = load_config(path_or_dict_or_TrainConfig, overrides=None, registry=None)  # ConfigError if bad
    quick_checkpoint("autoencoder", tmp_path, steps=2, size=32)   # tiny trained checkpoint (tests)
    quick_config("autoencoder", tmp_path, steps=20, train={"batch_size": 4})  # raw dict of a tiny run

Configuration (``config.py``): :class:`TrainConfig` (``model_name``, ``train``,
``model`` = the model's options instance) and :class:`TrainSettings` (the
``[train]`` section: data, validation, image_size, channels, batch_size,
steps, learning rates, lr schedule, mask kind / preset / params, device,
precision, channels_last, grad_clip, ema_decay, seed, workers, output,
intervals, keep_last, best_metric, log_format, tensorboard, resume). Every
problem raises one ``ConfigError`` before any work starts.

Writing a trainable model (plugin authors)
==========================================

A model provides a torch-free ``plugin.py`` (options dataclass, ``model_info``
with ``trainable=True``) and a ``task.py`` holding a *task factory*
``build_task(spec: TaskSpec) -> TrainTask``; the plugin's two other hooks are
built from the task module's dotted path, which is imported on first use::

    from inpaint_models.models.neural_hooks import neural_hooks

    fill, train, build_task = neural_hooks(model_info, "my_package.my_model.task")

(``train`` runs the shared trainer, :func:`fit`; ``fill`` loads the checkpoint
once, cached, and predicts each crop.)

``TaskSpec`` carries ``options`` (the model's options instance), ``channels``,
``image_size`` and ``train`` (the ``TrainSettings``; None when loading for
``fill``: build only what ``predict`` needs then). A :class:`TrainTask`
subclass sets and overrides:

``networks: dict[str, nn.Module]``
    everything saved in the weights file as ``"<name>.<key>"``; the trainer moves
    them to the device (channels-last on CUDA) and wraps them in DDP.
``inference_networks: tuple[str, ...]``
    the networks ``predict`` needs (default: all); they get the EMA and are the
    ones ``fill`` loads (EMA weights when the run kept an EMA).
``native_size`` / ``size_multiple``
    what ``predict`` accepts; saved in every sidecar's ``geometry`` with the
    channel count, and the fill pipeline (``inpaint_models.pipeline.crops``) resizes /
    pads crops to fit before ``predict`` sees them.
``configure_optimizers(settings) -> dict[str, Optimizer]``
    any number of optimisers by name (``generator``, ``discriminator``, ``critic``...).
    The trainer sets ``group["lr"] = group["initial_lr"] * schedule(step)`` before
    every step; a phase with another learning rate (pconv-unet's fine-tune at
    5e-5) changes ``group["initial_lr"]``.
``prepare(statistics)``
    once at the start of a fresh run: ``statistics["mean"]`` is the per-channel
    dataset mean (store it in a buffer; context-encoder and GLCIC fill holes with it).
``phase(step) -> str``
    the phase name at a step (GLCIC: ``completion`` / ``discriminator`` / ``joint``
    from its option step counts; pconv-unet: ``train`` / ``finetune``); reported
    as ``event.extra["stage"]`` and saved in the sidecar.
``train_step(batch, ctx) -> dict[str, float | Tensor]``
    one step with its own logic; returns the losses to log (tensors are fine:
    they are averaged and synchronised only at log time). ``batch`` is a
    :class:`Batch` (``image`` (B, C, H, W) in [0, 1], ``mask`` (B, 1, H, W) 1 = hole,
    ``masked`` = image with hole at 0). ``ctx`` is a :class:`StepContext`:

    - ``ctx.nets[name]``: the network for a forward whose loss trains it (the DDP
      wrapper when distributed). Forward other networks through ``self.networks``
      (e.g. the discriminator inside the generator's loss), and never forward a
      DDP-wrapped network without back-propagating its output in the same step;
    - ``with ctx.autocast():`` around forward passes (bf16/fp16 on CUDA; no-op in fp32);
    - ``ctx.optimize(loss, "generator")`` = ``zero_grad`` + scaled ``backward`` +
      unscale / clip (``grad_clip``) / step / scaler update; or call
      ``ctx.backward(loss, name)`` and ``ctx.update(name)`` separately (gradient
      accumulation: several ``backward`` calls, then one ``update``);
    - ``ctx.next_batch()`` for more batches in one step (DeepFill's 5 critic
      steps per generator step, each on a new batch);
    - ``ctx.step``, ``ctx.total``, ``ctx.phase``, ``ctx.device``, ``ctx.settings``.
``train_mode()`` / ``eval_mode()``
    switch modes (override to keep encoder BatchNorm frozen during a fine-tune).
``predict(image, mask, *, seed=0, progress=None) -> Tensor``
    (B, C, H, W) in [0, 1] with the hole at 0 and (B, 1, H, W) mask -> (B, C, H, W)
    in [0, 1]; used by validation, previews and ``fill`` (under inference mode,
    in eval mode, with EMA weights if kept). A diffusion sampler runs its own loop
    here, seeded by ``seed``, calling ``progress(i, n)`` between steps.
``extra_state()`` / ``load_extra_state(state)``
    JSON-able task state saved in the sidecar (e.g. a phase counter).

Every option declares its kind (``inpaint_models.contract.options``): ``fill_option(default)``
(a sampler's step count: set per fill, reaching the cached task through
``use_options(options)`` before ``predict``), ``architecture_option(default)``
(fixed by the checkpoint) or ``training_option(default)`` (used only in training);
architecture and training values of a fill come from the checkpoint's sidecar.
``load_task(weights, info, build_task, device)`` rebuilds a task from a
checkpoint outside ``fill`` (evaluation scripts); ``Trainer(config, build_task,
report).run()`` is ``fit`` keeping the trainer (``trainer.task``, ``.metrics``,
``.ema``) for inspection.

What the trainer owns
=====================

Data, from a data source (:mod:`.sources`: one interface, what a sample holds,
``TrainTask.context_planes`` planes around a target plane and ``Batch.weight``,
the pixels a loss may read): the image folders of ``[train] data``
(:mod:`.folders`: recursive png/jpg/tif folders, 8/16-bit, grey/RGB/RGBA,
random crop + resize + flip, masks from ``inpaint_models.io.masks``, bad files
skipped and counted, deterministic per seed) or the array being filled
(:mod:`.array_data`, set by ``inpaint_models.fit`` as ``TrainConfig.data_source``:
crops of its known pixels with artificial holes like its own, :mod:`.holes`);
the batch stream (:mod:`.data`), device selection, mixed
precision (:mod:`.precision`), DDP under ``torchrun`` (:mod:`.distributed`:
DistributedSampler shards, only rank 0 writes), EMA (:mod:`.ema`), gradient
clipping, learning-rate warm-up and cosine decay, validation with
``inpaint_models.training.metrics`` and the best checkpoint, preview grids
(:mod:`.preview`), the metrics log and TensorBoard (:mod:`.runlog`),
checkpoints (:mod:`.checkpoints`: safetensors + JSON sidecar, resume state
without pickle, atomic writes, keep last N and best), resume with the same
step count, and cancellation: ``report`` raising ``Cancelled`` (or Ctrl-C)
stops after the current step and writes a checkpoint first.

Progress events are :class:`~inpaint_models.contract.datatypes.ProgressEvent` with
``phase="train"``, ``step``, ``total``, ``losses``, ``learning_rate``,
``images_per_second``, ``eta_seconds``, ``elapsed_seconds``, ``preview_path``,
``checkpoint_path`` and ``extra`` = ``{"stage", "metrics", "rank", "device",
"precision"}`` (``"cancelled"`` on the final event). They are sent at most
every 0.25 s and at every ``log_every`` step, on every DDP process (front
ends show rank 0's: ``extra["rank"]``).

Run folder layout::

    <output>/config.json                 resolved config
    <output>/metrics.jsonl | .csv        train / validation / data records
    <output>/checkpoints/step_00000100.{safetensors,json,state.safetensors,state.json}
    <output>/checkpoints/best.{safetensors,json}     best validation weights
    <output>/previews/step_00000100.png
    <output>/tensorboard/                when tensorboard is installed
"""

from __future__ import annotations

from inpaint_models.contract.lazy import lazy_exports

# Names are imported on first use (PEP 562), so importing one torch-free module of this package
# does not import torch through its ``__init__``.
_EXPORTS: dict[str, str] = {
    "atomic_write_bytes": "checkpoints", "complete_checkpoints": "checkpoints", "load_networks": "checkpoints",
    "load_tensors": "checkpoints", "save_checkpoint": "checkpoints",
    "TrainConfig": "config", "TrainSettings": "config", "apply_overrides": "config", "config_to_dict": "config",
    "load_config": "config", "read_config_file": "config",
    "Batch": "data",
    "ImageFolderDataset": "folders", "ImageFolders": "folders", "find_images": "folders", "read_unit_image": "folders",
    "ArraySource": "array_data",
    "DataSource": "sources", "TrainingSets": "sources",
    "EMA": "ema",
    "LoadedModel": "inference", "describe_checkpoint": "inference", "load_task": "inference",
    "merge_options": "inference",
    "Trainer": "loop", "fit": "loop",
    "preview_grid": "preview",
    "quick_checkpoint": "quick", "quick_config": "quick", "write_synthetic_images": "quick",
    "StepContext": "task", "TaskFactory": "task", "TaskSpec": "task", "TrainTask": "task",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
