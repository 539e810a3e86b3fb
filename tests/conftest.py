"""Shared test fixtures, and the ``slow`` marks of the quick selection.

``python -m pytest`` runs every test (CI runs exactly that). ``python -m pytest
-m "not slow"`` is the quick check while working: it leaves out the tests that
train networks, start processes or build many napari viewers. A test file marks
its own slow tests with ``@pytest.mark.slow``; :data:`SLOW` marks more from
here, by node id, so that the selection can be tuned from one place from a
timing run (``python -m pytest --durations=0``): every test or fixture set-up
above about two seconds on a 2-core CPU belongs in the slow set.
"""

from __future__ import annotations

import numpy as np
import pytest

from inpaint_models.plugins import make_registry

#: Tests marked ``slow`` from here: ``path::test`` (every parameter set of the test,
#: and every test that shares its module fixture when listed together) or a whole ``path``.
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
    # a pip install of the example plugin
    "tests/test_plugins.py::test_third_party_plugin_appears_in_cli_and_fill",
    "tests/test_plugins.py::test_third_party_plugin_in_process",
    # every shipped network on a held-out photograph
    "tests/test_default_weights.py::test_shipped_weights_fill_a_held_out_photograph_like_a_classical_fill",
})


def is_slow(nodeid: str) -> bool:
    """Whether :data:`SLOW` marks the test ``nodeid`` (parameters ignored)."""
    test = nodeid.split("[", 1)[0]
    return test in SLOW or test.split("::", 1)[0] in SLOW


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests of :data:`SLOW` ``slow``."""
    for item in items:
        if is_slow(item.nodeid):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded random generator."""
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def registry():
    """A registry of every installed model plugin (built on first use)."""
    return make_registry()
