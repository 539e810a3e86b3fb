"""Shared test fixtures, and the ``slow`` marks of the quick selection.

``python -m pytest`` runs every test (CI runs exactly that). ``python -m pytest
-m "not slow"`` is the quick check while working: it leaves out the tests that
train networks, start processes or build many napari viewers. A test file marks
its own slow tests with ``@pytest.mark.slow``; :data:`SLOW` marks more from
here, by node id, so that the selection can be tuned from one place from a
timing run (``python -m pytest --durations=0``): a test or a shared fixture's
set-up above about two seconds on a 2-core CPU belongs in the slow set.
"""

from __future__ import annotations

import numpy as np
import pytest

from inpaint_models.contract.registry import make_registry

#: Tests marked ``slow`` from here: ``path::test`` (every parameter set of the test),
#: ``path::test[params]`` (one parameter set) or a whole ``path``.
SLOW: frozenset[str] = frozenset({
    # training runs, distributed runs, fits
    "tests/test_training_ddp.py",
    "tests/test_training_loop.py::test_a_run_reports_validates_previews_and_checkpoints",
    "tests/test_training_loop.py::test_resume_continues_the_step_count",
    "tests/test_training_loop.py::test_cancel_writes_a_checkpoint_first",
    "tests/test_training_loop.py::test_ema_weights_are_saved_and_used_by_fill",
    "tests/test_training_loop.py::test_a_killed_run_leaves_only_complete_checkpoints_and_resumes",
    "tests/test_training_loop.py::test_mixed_precision_path_runs_with_cpu_bf16",
    "tests/test_fit.py::test_a_short_fit_improves_on_its_start",
    "tests/test_fit.py::test_the_fitted_checkpoint_round_trips",
    "tests/test_fit.py::test_cancel_keeps_the_best_checkpoint",
    "tests/test_fit.py::test_a_time_budget_ends_the_fit_normally",
    "tests/test_fit.py::test_any_trainable_model_can_be_fitted",
    "tests/test_fit.py::test_cli_fit_and_fill",
    "tests/test_fit.py::test_cli_fill_fit_does_both",
    "tests/test_prefill.py::test_residual_models_learn_a_correction",
    "tests/test_diffusion_core.py::test_samples_follow_the_data_distribution",
    "tests/test_deepfill_network.py::test_generator_overfits_two_images",
    "tests/test_model_deepfill.py::test_reconstruction_loss_falls_when_overfitting_four_images",
    "tests/test_model_deepfill.py::test_hole_ns_fills_and_mosaic_is_refused_at_fill",
    "tests/test_model_options.py::test_a_64_px_context_encoder_sees_one_64_px_crop",
    "tests/test_model_options.py::test_a_new_seed_does_not_reload_the_checkpoint",
    # a pip install of the example plugin; a dask cluster
    "tests/test_plugins.py::test_third_party_plugin_appears_in_cli_and_fill",
    "tests/test_plugins.py::test_third_party_plugin_in_process",
    "tests/test_lazy.py::test_a_distributed_client_fills_the_crops_on_its_workers_loading_the_model_once_each",
    # the shipped networks on whole photographs; the diffusion sampler through the whole contract
    "tests/test_default_weights.py::test_shipped_weights_fill_a_held_out_photograph_like_a_classical_fill",
    "tests/test_default_weights.py::test_shipped_weights_keep_the_colour_of_a_plain_image",
    "tests/test_contract.py::test_rgb_uint8_contract[diffusion]",
    "tests/test_contract.py::test_stack_with_broadcast_mask[diffusion]",
    "tests/test_contract.py::test_grey_and_rgba[diffusion]",
    # napari runs that train, start a process or open napari itself
    "tests/test_napari_inpaint.py::test_opening_the_docks_never_builds_the_registry_or_imports_torch_on_the_gui_thread",
    "tests/test_napari_inpaint.py::test_python_m_napari_inpaint_opens_with_the_whole_photo_in_view",
    "tests/test_napari_inpaint.py::test_a_long_fill_says_how_long_with_an_eta_and_can_be_cancelled_from_the_question",
    "tests/test_napari_train.py::test_a_short_run_writes_a_checkpoint_that_appears_in_the_inpaint_widget_and_fills",
    "tests/test_napari_train.py::test_stop_writes_a_checkpoint_and_resume_continues",
    "tests/test_napari_train.py::test_closing_napari_during_a_run_stops_it_and_keeps_a_checkpoint",
    "tests/test_napari_inpaint.py::test_a_diffusion_fill_is_estimated_in_a_worker_before_it_starts",
    "tests/test_fit_napari.py::test_learn_from_this_layer_first_in_the_inpaint_widget",
    "tests/test_napari_inpaint.py::test_fill_anyway_fills_with_the_steps_chosen_and_asks_nothing_more",
    "tests/test_napari_inpaint.py::test_cancel_in_the_question_before_a_long_fill_changes_nothing",
    "tests/test_napari_inpaint.py::test_closing_napari_during_a_fill_stops_it",
    "tests/test_lazy.py::test_napari_new_mask_and_fill_of_a_dask_layer",
    # big networks built on the CPU
    "tests/test_diffusion_core.py::test_network_never_sees_the_hole_content",
    "tests/test_model_context_encoder.py::test_paper_architecture_at_128",
})

#: Module fixtures that train a network once for several tests: every test using one is ``slow``
#: (marking only some would move the training into the first unmarked one).
SLOW_FIXTURES: dict[str, frozenset[str]] = {
    "tests/test_model_glcic.py": frozenset({"run"}),
    "tests/test_model_pconv_unet.py": frozenset({"run"}),
    "tests/test_model_deepfill.py": frozenset({"wgan_run"}),
    "tests/test_readme.py": frozenset({"quick_start_folder"}),  # ten `inpaint` processes, one imports torch
}


def is_slow(nodeid: str, fixtures: tuple[str, ...] = ()) -> bool:
    """Whether :data:`SLOW` or :data:`SLOW_FIXTURES` marks the test ``nodeid`` using ``fixtures``."""
    test = nodeid.split("[", 1)[0]
    path = test.split("::", 1)[0]
    if nodeid in SLOW or test in SLOW or path in SLOW:
        return True
    return not SLOW_FIXTURES.get(path, frozenset()).isdisjoint(fixtures)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests of :data:`SLOW` and :data:`SLOW_FIXTURES` ``slow``."""
    for item in items:
        if is_slow(item.nodeid, tuple(getattr(item, "fixturenames", ()))):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded random generator."""
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def registry():
    """A registry of every installed model plugin (built on first use)."""
    return make_registry()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Move everything imported while collecting (torch, napari, Qt) out of the garbage collector's sight.

    napari's ``make_napari_viewer`` runs a full ``gc.collect()`` when a test's viewer is not yet freed,
    and with torch and napari loaded each full collection walks millions of long-lived objects
    (about 0.14 s a time, several times per napari test). ``gc.freeze`` keeps those objects from
    ever being scanned again; what the tests create afterwards is collected as usual.
    """
    import gc

    gc.collect()
    gc.freeze()


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch intra-op thread for a module's tests (``pytestmark = pytest.mark.usefixtures(...)``).

    Tiny CPU networks gain nothing from more threads and lose much on a shared 2-core machine.
    Module scope, so that a module's own module-scoped fixtures (a trained network) run with it too.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
