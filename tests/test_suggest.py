""""Did you mean ...?" for mistyped names: options, models, config keys -- one wording."""

from __future__ import annotations

import numpy as np
import pytest

import inpaint_models
from inpaint_models.contract.errors import UnknownOptionError
from inpaint_models.contract.suggest import close_matches, did_you_mean


def test_close_matches_ignore_case_and_leave_out_what_is_far():
    assert close_matches("Tela", ["telea", "biharmonic", "navier-stokes"]) == ["telea"]
    assert did_you_mean("radus", ["radius", "seed"]) == " (did you mean 'radius'?)"
    assert did_you_mean("zzzz", ["radius", "seed"]) == ""


def test_a_mistyped_option_is_suggested():
    image = np.zeros((32, 32), np.uint8)
    mask = np.zeros((32, 32), bool)
    mask[10:14, 10:14] = True
    with pytest.raises(UnknownOptionError, match=r"no option 'radus' \(did you mean 'radius'\?\); its options are"):
        inpaint_models.fill(image, mask, model="telea", radus=3)


def test_a_mistyped_model_is_suggested():
    from inpaint_models.contract.errors import UnknownModelError

    image = np.zeros((32, 32), np.uint8)
    mask = np.zeros((32, 32), bool)
    mask[10:14, 10:14] = True
    with pytest.raises(UnknownModelError, match=r"unknown model 'tela' \(did you mean 'telea'\?\); available models"):
        inpaint_models.fill(image, mask, model="tela")
