"""Lazy fills (issue 15): dask and zarr arrays in, a dask array out, equal to the in-memory fill bit for bit."""

from __future__ import annotations

import threading

import dask
import dask.array as da
import numpy as np
import pytest
from dask.task_spec import Alias

import inpaint_models
from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.errors import Cancelled, EmptyMaskWarning, InvalidValuesError, MaskCoversImageError
from inpaint_models.contract.hookspecs import hookimpl
from inpaint_models.contract.registry import make_registry


def counting_plugin(name: str = "count", calls: list | None = None):
    """An inline plugin that records each crop it fills and fills with the mean of the crop's known pixels."""

    class Plugin:
        @hookimpl
        def model_info(self) -> ModelInfo:
            return ModelInfo(name=name, title="Count", description="test", source="tests", crop_margin=2)

        @hookimpl
        def fill(self, image, mask):
            if calls is not None:
                calls.append(mask.shape)
            out = image.copy()
            out[mask] = image[~mask].mean(axis=0)
            return out

    return Plugin()


def rng_image(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return (rng.random(shape) * 300 - 50).astype(dtype)  # beyond [0, 1]: each crop stretches its own range
    if dtype == np.uint8:
        return rng.integers(0, 256, shape, dtype=np.uint8)
    return rng.integers(0, 60000, shape).astype(dtype)


def holes_2d(height, width):
    mask = np.zeros((height, width), bool)
    mask[13:21, 10:19] = True  # crosses the chunk borders at 16 along both axes
    mask[15, 30] = mask[16, 31] = True  # touches only diagonally, across a chunk corner
    mask[40:44, 3:7] = True  # inside one chunk
    return mask


CASES = {
    # name: (image shape, dtype, image chunks, mask (from image shape), mask chunks, fill kwargs)
    "2d uint16": ((48, 40), np.uint16, (16, 16), lambda s: holes_2d(*s), (16, 16), dict(model="telea")),
    "2d margin 0": ((48, 40), np.uint16, (16, 16), lambda s: holes_2d(*s), (16, 16), dict(model="telea", margin=0)),
    "rgb chunked channels": (
        (48, 40, 3), np.uint8, (16, 16, 2), lambda s: holes_2d(*s[:2]), (24, 8), dict(model="navier-stokes"),
    ),
    "volume": (
        (10, 40, 36), np.float32, (4, 16, 16),
        lambda s: np.broadcast_to(holes_2d(40, 36), s) & (np.arange(10) % 4 > 0)[:, None, None],
        (3, 16, 16), dict(model="biharmonic"),
    ),
    "planes of a volume": (
        (6, 40, 36), np.float64, (4, 16, 16), lambda s: holes_2d(40, 36), (16, 16),
        dict(model="telea", volume_axis=None),
    ),
    "2d mask over a volume": (
        (6, 40, 36), np.uint16, (4, 16, 16), lambda s: holes_2d(40, 36), (16, 16), dict(model="biharmonic"),
    ),
    "t z stack, volume axis 1": (
        (2, 6, 40, 36), np.int16, (1, 4, 16, 16),
        lambda s: np.broadcast_to(holes_2d(40, 36), s) & (np.arange(6) > 1)[:, None, None],
        (2, 2, 16, 16), dict(model="biharmonic", volume_axis=1),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_lazy_fill_equals_the_in_memory_fill(case):
    shape, dtype, chunks, make_mask, mask_chunks, kwargs = CASES[case]
    image = rng_image(shape, dtype)
    mask = np.ascontiguousarray(make_mask(shape))
    expected = inpaint_models.fill(image, mask, **kwargs)
    lazy = inpaint_models.fill(da.from_array(image, chunks=chunks), da.from_array(mask, chunks=mask_chunks), **kwargs)
    assert isinstance(lazy, da.Array) and lazy.chunks == da.from_array(image, chunks=chunks).chunks
    assert lazy.dtype == image.dtype
    out = lazy.compute()
    assert out.dtype == expected.dtype and out.shape == expected.shape
    assert np.array_equal(out, expected, equal_nan=out.dtype.kind == "f"), case
    # an in-memory mask with a lazy image works too
    assert np.array_equal(inpaint_models.fill(da.from_array(image, chunks=chunks), mask, **kwargs).compute(), expected)


def test_nan_under_the_mask_and_a_float_image_beyond_one():
    image = rng_image((40, 40), np.float64)
    mask = holes_2d(40, 40)
    image[mask] = np.nan
    expected = inpaint_models.fill(image, mask, model="biharmonic")
    out = inpaint_models.fill(da.from_array(image, chunks=16), da.from_array(mask, chunks=16), model="biharmonic")
    assert np.array_equal(out.compute(), expected) and np.isfinite(expected).all()


def counting_image(shape, chunks, dtype, computed: list):
    """A lazily generated image (seeded per chunk) that records every chunk it computes."""
    lock = threading.Lock()

    def make(block_info=None):
        info = block_info[None]
        with lock:
            computed.append(tuple(info["chunk-location"]))
        seed = int(np.ravel_multi_index(info["chunk-location"], info["num-chunks"]))
        return np.random.default_rng(seed).integers(0, 4000, info["chunk-shape"]).astype(dtype)

    meta = np.empty((0,) * len(shape), dtype)
    return da.map_blocks(make, chunks=da.core.normalize_chunks(chunks, shape), dtype=dtype, meta=meta)


def test_untouched_chunks_are_never_computed():
    computed: list = []
    image = counting_image((64, 64, 64), (16, 16, 16), np.uint16, computed)
    mask = da.zeros(image.shape, chunks=(16, 32, 32), dtype=bool)
    mask[30:34, 20:26, 40:44] = True  # crosses chunk borders along Z: one region
    calls: list = []
    registry = make_registry(load_entry_points=False)
    registry.register(counting_plugin(calls=calls))
    out = inpaint_models.fill(image, mask, model="count", registry=registry, margin=2)
    # a 2D model: four planes (Z 30..33), crop boxes Y 18:28, X 38:46 -> chunks Z 1-2, Y 1, X 2
    touched = {(z, 1, 2) for z in (1, 2)}
    assert set(computed) == touched and len(calls) == 4
    graph = dict(out.__dask_graph__())
    for index in np.ndindex(*out.numblocks):
        node = graph[(out.name,) + index]
        if index in touched:
            assert not isinstance(node, Alias)
        else:  # the output's chunk is the image's own graph key
            assert isinstance(node, Alias) and node.target == (image.name,) + index
    computed.clear()
    block = out.blocks[1, 1, 2].compute()
    assert set(computed) <= touched
    reference = image.blocks[1, 1, 2].compute()
    local_mask = mask[16:32, 16:32, 32:48].compute()
    assert np.array_equal(block[~local_mask], reference[~local_mask]) and not np.array_equal(block, reference)
    computed.clear()
    assert np.array_equal(out.blocks[0, 0, 0].compute(), image.blocks[0, 0, 0].compute())
    assert computed == [(0, 0, 0), (0, 0, 0)]  # only the untouched chunk itself, once for each compute


def test_a_mask_chunk_of_zeros_costs_no_model_call():
    calls: list = []
    registry = make_registry(load_entry_points=False)
    registry.register(counting_plugin(calls=calls))
    image = da.from_array(rng_image((64, 64), np.uint16), chunks=16)
    mask = np.zeros((64, 64), bool)
    mask[5:8, 5:8] = True  # one hole in chunk (0, 0); the other 15 chunks are zeros
    inpaint_models.fill(image, da.from_array(mask, chunks=16), model="count", registry=registry)
    assert len(calls) == 1
    calls.clear()
    with pytest.warns(EmptyMaskWarning):
        out = inpaint_models.fill(image, da.zeros((64, 64), chunks=16, dtype=bool), model="count", registry=registry)
    assert out is image and calls == []


def test_zarr_arrays_in():
    zarr = pytest.importorskip("zarr")
    image = rng_image((48, 40), np.uint16)
    mask = holes_2d(48, 40)
    stored = zarr.create_array(zarr.storage.MemoryStore(), shape=image.shape, chunks=(16, 16), dtype=image.dtype)
    stored[:] = image
    stored_mask = zarr.create_array(zarr.storage.MemoryStore(), shape=mask.shape, chunks=(16, 16), dtype=bool)
    stored_mask[:] = mask
    out = inpaint_models.fill(stored, stored_mask, model="telea")
    assert isinstance(out, da.Array) and out.chunks == ((16, 16, 16), (16, 16, 8))
    assert np.array_equal(out.compute(), inpaint_models.fill(image, mask, model="telea"))


def test_errors_are_raised_by_fill_itself():
    image = rng_image((48, 40), np.float32)
    mask = holes_2d(48, 40)
    bad = image.copy()
    bad[12, 12] = np.nan  # next to a hole: inside its crop
    with pytest.raises(InvalidValuesError, match="NaN or infinite"):
        inpaint_models.fill(da.from_array(bad, chunks=16), mask, model="telea")
    stack = np.stack([image, image])
    covering = np.stack([mask, np.ones_like(mask)])
    with pytest.raises(MaskCoversImageError, match="the whole of plane 1"):
        inpaint_models.fill(da.from_array(stack, chunks=16), covering, model="telea", volume_axis=None)
    with pytest.raises(MaskCoversImageError, match="the whole stack"):
        inpaint_models.fill(da.from_array(stack, chunks=16), np.ones(stack.shape, bool), model="biharmonic")


def test_progress_and_cancel():
    image = da.from_array(rng_image((48, 40), np.uint16), chunks=16)
    mask = holes_2d(48, 40)
    registry = make_registry(load_entry_points=False)
    registry.register(counting_plugin())
    events = []
    inpaint_models.fill(image, mask, model="count", registry=registry, progress=events.append)
    phases = [(e.phase, e.step, e.total) for e in events]
    assert phases[:9] == [("scan", i, 9) for i in range(1, 10)]
    fills = [p for p in phases if p[0] == "fill"]
    assert [p[1] for p in fills] == list(range(1, len(fills) + 1)) and len(fills) == fills[0][2] >= 3
    stop = threading.Event()

    def cancel_on_first_fill(event):
        if event.phase == "fill":
            stop.set()

    with pytest.raises(Cancelled):
        inpaint_models.fill(image, mask, model="count", registry=registry, progress=cancel_on_first_fill, cancel=stop)


def test_in_memory_fill_does_not_import_dask():
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, inpaint_models\n"
        "m = np.zeros((32, 32), bool); m[8:12, 8:12] = True\n"
        "inpaint_models.fill(np.zeros((32, 32), np.uint8), m, model='telea')\n"
        "assert 'dask' not in sys.modules, 'dask imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


class LoadingPlugin:
    """A plugin whose model is "loaded" on its first fill in each process; loads and fills are logged to files."""

    def __init__(self, log_dir) -> None:
        self.log_dir = str(log_dir)
        self.model = None

    @hookimpl
    def model_info(self) -> ModelInfo:
        return ModelInfo(name="loading", title="Loading", description="test", source="tests", crop_margin=2)

    @hookimpl
    def fill(self, image, mask):
        import os

        if self.model is None:
            with open(os.path.join(self.log_dir, "loads"), "a") as log:
                log.write(f"{os.getpid()}\n")
            self.model = "loaded"
        with open(os.path.join(self.log_dir, "fills"), "a") as log:
            log.write(f"{os.getpid()}\n")
        out = image.copy()
        out[mask] = image[~mask].mean(axis=0)
        return out


def test_a_distributed_client_fills_the_crops_on_its_workers_loading_the_model_once_each(tmp_path):
    import os

    distributed = pytest.importorskip("distributed")
    image = rng_image((64, 64), np.uint16)
    mask = np.zeros((64, 64), bool)
    for top in range(2, 62, 10):  # 6 x 3 = 18 separate holes, 18 crops
        for left in (4, 26, 48):
            mask[top : top + 3, left : left + 3] = True
    registry = make_registry(load_entry_points=False)
    registry.register(LoadingPlugin(tmp_path / "local"))
    (tmp_path / "local").mkdir()
    expected = inpaint_models.fill(image, mask, model="loading", registry=registry)

    remote = make_registry(load_entry_points=False)
    remote.register(LoadingPlugin(tmp_path))
    # fork: worker processes start in a second, not after importing everything again (the spawn default)
    with dask.config.set({"distributed.worker.multiprocessing-method": "fork"}), distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None, silence_logs=50
    ) as cluster, distributed.Client(cluster) as client:
        worker_pids = set(client.run(os.getpid).values())
        out = inpaint_models.fill(da.from_array(image, chunks=16), da.from_array(mask, chunks=16), model="loading",
                                  registry=remote)
        result = out.compute()
        # the command line on the same cluster: inpaint fill ... --scheduler ADDRESS (an installed model there)
        from inpaint_models.cli import main

        source = write_store(tmp_path / "image.zarr", image, (16, 16))
        mask_store = write_store(tmp_path / "mask.zarr", mask, (16, 16))
        argv = ["fill", str(source), str(mask_store), "-o", str(tmp_path / "out.zarr"), "--model", "telea", "-q"]
        assert main(argv + ["--scheduler", cluster.scheduler_address]) == 0
        zarr = pytest.importorskip("zarr")
        assert np.array_equal(zarr.open_array(str(tmp_path / "out.zarr"), mode="r")[:],
                              inpaint_models.fill(image, mask, model="telea"))
    assert np.array_equal(result, expected)
    fills = (tmp_path / "fills").read_text().split()
    loads = (tmp_path / "loads").read_text().split()
    assert len(fills) == 18 and set(fills) <= {str(pid) for pid in worker_pids}  # none in this process
    assert sorted(loads) == sorted(set(loads)) and len(loads) <= 2  # once per worker, not once per crop


# ---------------------------------------------------------------- the command line (zarr, OME-Zarr, big TIFFs)
def write_store(path, array, chunks):
    zarr = pytest.importorskip("zarr")
    stored = zarr.create_array(str(path), shape=array.shape, chunks=chunks, dtype=array.dtype)
    stored[:] = array
    return path


def test_cli_fills_a_zarr_store_into_a_new_one(tmp_path, capsys):
    import zarr

    from inpaint_models.cli import main

    image, mask = rng_image((48, 40), np.uint16), holes_2d(48, 40)
    source = write_store(tmp_path / "image.zarr", image, (16, 16))
    mask_store = write_store(tmp_path / "mask.zarr", mask, (16, 16))
    out = tmp_path / "filled.zarr"
    assert main(["fill", str(source), str(mask_store), "-o", str(out), "--model", "telea", "-q"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    written = zarr.open_array(str(out), mode="r")
    assert written.chunks == (16, 16)
    assert np.array_equal(written[:], inpaint_models.fill(image, mask, model="telea"))
    assert main(["fill", str(source), str(mask_store), "-o", str(out), "--model", "telea", "-q"]) == 2
    assert "exists already" in capsys.readouterr().err


def test_cli_fills_an_ome_zarr_image_and_rebuilds_its_lower_levels(tmp_path, capsys):
    import zarr

    from inpaint_models.cli import main

    image = rng_image((2, 64, 48), np.uint16)  # (Z, Y, X)
    mask = np.zeros(image.shape, bool)
    mask[1, 20:30, 10:20] = True
    group = zarr.open_group(str(tmp_path / "scan.ome.zarr"), mode="w")
    axes = [{"name": "z", "type": "space"}, {"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    datasets = [{"path": str(level), "coordinateTransformations": [{"type": "scale", "scale": [1, 2**level, 2**level]}]}
                for level in range(3)]
    group.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": datasets}]
    group.attrs["omero"] = {"channels": [{"label": "test"}]}
    for level in range(3):
        f = 2**level
        level_array = group.create_array(str(level), shape=(2, 64 // f, 48 // f), chunks=(1, 16, 16), dtype=np.uint16)
        level_array[:] = image[:, ::f, ::f]
    mask_store = write_store(tmp_path / "mask.zarr", mask, (1, 16, 16))
    out = tmp_path / "filled.ome.zarr"
    assert main(["fill", str(tmp_path / "scan.ome.zarr"), str(mask_store), "-o", str(out), "--model", "biharmonic",
                 "-q"]) == 0
    written = zarr.open_group(str(out), mode="r")
    assert written.attrs["omero"] == {"channels": [{"label": "test"}]}
    assert written.attrs["multiscales"][0]["datasets"] == datasets
    expected = inpaint_models.fill(image, mask, model="biharmonic")
    assert np.array_equal(written["0"][:], expected)
    for level in (1, 2):  # each level the mean of 2 x 2 blocks of the one above
        above = written[str(level - 1)][:].astype(np.float64)
        mean = above.reshape(2, above.shape[1] // 2, 2, above.shape[2] // 2, 2).mean(axis=(2, 4))
        assert np.array_equal(written[str(level)][:], np.round(mean).astype(np.uint16))


def test_cli_reads_a_big_tiff_through_its_zarr_interface(tmp_path, monkeypatch, capsys):
    import tifffile
    import zarr

    from inpaint_models.cli import main
    from inpaint_models.io import zarrio

    image, mask = rng_image((3, 48, 40), np.uint16), np.zeros((3, 48, 40), bool)
    mask[1, 10:20, 10:20] = True
    tifffile.imwrite(tmp_path / "stack.tif", image, tile=(16, 16), photometric="minisblack", metadata={"axes": "ZYX"})
    tifffile.imwrite(tmp_path / "mask.tif", mask.astype(np.uint8), photometric="minisblack")
    monkeypatch.setattr(zarrio, "LAZY_TIFF_BYTES", 0)  # every TIFF is "big"
    assert zarrio.open_lazy(tmp_path / "stack.tif").array.chunks == ((1, 1, 1), (16, 16, 16), (16, 16, 8))
    out = tmp_path / "filled.zarr"
    assert main(["fill", str(tmp_path / "stack.tif"), str(tmp_path / "mask.tif"), "-o", str(out), "-q",
                 "--model", "biharmonic", "--volume-axis", "z"]) == 0
    assert np.array_equal(zarr.open_array(str(out), mode="r")[:], inpaint_models.fill(image, mask, model="biharmonic"))
    assert main(["fill", str(tmp_path / "stack.tif"), str(tmp_path / "mask.tif"), "-o", str(tmp_path / "f.tif")]) == 2
    assert "write the result to a zarr store, -o OUT.zarr" in capsys.readouterr().err
    monkeypatch.setattr(zarrio, "LAZY_TIFF_BYTES", 2 << 30)
    assert main(["fill", str(tmp_path / "stack.tif"), str(tmp_path / "mask.tif"), "-o", str(tmp_path / "f.tif"),
                 "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "--scheduler fills zarr stores" in capsys.readouterr().err


# ---------------------------------------------------------------- napari: a dask-backed layer stays lazy
def test_napari_fill_of_a_dask_layer_stays_lazy():
    from inpaint_models.io.maskops import prepare_mask
    from napari_inpaint.jobs import FillRequest, run_fill

    computed: list = []
    image = counting_image((6, 64, 64), (2, 32, 32), np.uint16, computed)
    labels = np.zeros((6, 64, 64), np.uint8)
    labels[3, 20:26, 40:44] = 1
    labels[1, 5:9, 5:9] = 1
    events = []
    for plane, dilation in ((None, 0), (None, 2), ((3,), 1)):
        computed.clear()
        request = FillRequest(image=image, mask=labels, model="telea", plane=plane, dilation=dilation, volume_axis=None)
        out = run_fill(request, progress=events.append)
        assert isinstance(out, da.Array) and out.chunks == image.chunks
        assert len(set(computed)) < image.npartitions / 2  # only the chunks around the holes
        prepared = prepare_mask(labels, (6, 64, 64), plane=plane, dilation=dilation)
        expected = inpaint_models.fill(image.compute(), prepared, model="telea", volume_axis=None)
        assert np.array_equal(out.compute(), expected), (plane, dilation)
    assert {e.phase for e in events} >= {"scan", "fill"}
    with pytest.raises(Cancelled):
        run_fill(FillRequest(image=image, mask=labels, model="telea"), cancel=lambda: True)


@pytest.mark.gui
def test_napari_new_mask_and_fill_of_a_dask_layer(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-inpaint", "Inpaint")
    qtbot.waitUntil(lambda: widget.loaded, timeout=60000)
    computed: list = []
    data = counting_image((4, 64, 64), (1, 32, 32), np.uint16, computed)
    image = viewer.add_image(data, name="big", contrast_limits=(0, 4000))
    widget.image_combo.set_value(image)
    mask = widget.new_mask()
    assert type(mask.data).__module__.startswith("zarr") and mask.data.shape == (4, 64, 64)  # no full-size array
    viewer.dims.set_point(0, 2)
    mask.paint((2, 20, 40), 1)
    painted = np.asarray(mask.data[:]) > 0
    widget.set_model("telea")
    with qtbot.waitSignal(widget.fill_finished, timeout=60000) as blocker:
        widget.fill_button.click()
    assert blocker.args == ["done"]
    result = viewer.layers["big inpainted"].data
    assert isinstance(result, da.Array) and result.chunks == data.chunks
    # the chunks napari showed and those around the hole; never the whole array (the last plane was never shown)
    assert len(set(computed)) < data.npartitions and not [index for index in computed if index[0] == 3]
    expected = inpaint_models.fill(data.compute(), painted, model="telea", volume_axis=None)
    assert np.array_equal(result.compute(), expected)
