"""Outputs complete or absent, missing input chunks never silent, malformed inputs as one-line errors (issue 22).

Items 1, 2 and 10 of the issue: a zarr / OME-Zarr output is written beside its
path and renamed into place (a kill or an error leaves nothing at the path, and
the rerun removes the stale temporary); a killed TIFF/PNG write's temporary is
removed by the next write of that file; output format problems are found before
the fill; a zarr image's missing chunks are named (warn / error / ignore); bad
OME-Zarr metadata, a corrupt chunk and broken image files give one line.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

import inpaint_models
from inpaint_models.cli import main
from inpaint_models.contract.errors import InpaintError
from inpaint_models.io import atomic, imageio, zarrio

zarr = pytest.importorskip("zarr")

IMAGE = (np.arange(64 * 48).reshape(64, 48) * 37 % 60000).astype(np.uint16)
MASK = np.zeros((64, 48), np.uint8)
MASK[20:30, 10:20] = 1  # inside chunks (1, 0) and (1, 1) of a 16 x 16 grid


def plain_store(path: Path, array: np.ndarray = IMAGE, zarr_format: int = 3, **options) -> Path:
    stored = zarr.create_array(str(path), shape=array.shape, chunks=(16, 16), dtype=array.dtype,
                               zarr_format=zarr_format, **options)
    stored[:] = array
    return path


def ome_store(path: Path, datasets=None, axes=None, levels=(0, 1)) -> Path:
    group = zarr.open_group(str(path), mode="w")
    for level in levels:
        f = 2**level
        group.create_array(str(level), shape=(64 // f, 48 // f), chunks=(16, 16), dtype=np.uint16)[:] = IMAGE[::f, ::f]
    axes = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}] if axes is None else axes
    datasets = [{"path": str(level)} for level in levels] if datasets is None else datasets
    group.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": datasets}]
    return path


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def dead_pid() -> int:
    """The pid of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def fill_never_runs(monkeypatch):
    """Make any fill fail the test: what is checked must be checked before the fill."""

    def refuse(*args, **kwargs):
        raise AssertionError("the fill ran before the output was checked")

    monkeypatch.setattr(inpaint_models.api, "fill", refuse)


def cli_error(capsys, *argv) -> str:
    """Run ``inpaint`` expecting exit status 2 and one ``inpaint: error:`` line; returns that line."""
    assert main(list(map(str, argv))) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("inpaint: error: "), err
    return err[0]


# ---------------------------------------------------------------- 1. outputs complete or absent
def test_a_zarr_write_that_fails_midway_leaves_nothing_and_a_rerun_succeeds(tmp_path):
    source = zarrio.open_lazy(ome_store(tmp_path / "scan.ome.zarr"))
    out = tmp_path / "filled.ome.zarr"
    calls = []

    def fail_at_the_second_level(stored):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        stored.compute()

    with pytest.raises(OSError, match="disk full"):
        zarrio.write_zarr(out, source.array, source, compute=fail_at_the_second_level)
    assert not out.exists() and temporaries(tmp_path) == []  # level 0 was written, yet nothing is at the path
    report = zarrio.write_zarr(out, source.array, source)
    assert report.written == ["0", "1"] and np.array_equal(zarr.open_group(str(out), mode="r")["0"][:], IMAGE)


KILLED_WRITE = """
import os, signal, sys
from inpaint_models.io import zarrio
source = zarrio.open_lazy(sys.argv[1])
def kill_after_level_0(stored):
    stored.compute()
    os.kill(os.getpid(), signal.SIGKILL)
zarrio.write_zarr(sys.argv[2], source.array, source, compute=kill_after_level_0)
"""


def test_a_killed_zarr_write_leaves_no_store_and_the_rerun_removes_its_temporary(tmp_path, capsys):
    ome_store(tmp_path / "scan.ome.zarr")
    plain_store(tmp_path / "mask.zarr", MASK)
    out = tmp_path / "filled.ome.zarr"
    process = subprocess.run([sys.executable, "-c", KILLED_WRITE, str(tmp_path / "scan.ome.zarr"), str(out)])
    assert process.returncode == -9
    assert not out.exists()  # no store that opens normally with chunks reading as zeros
    left = temporaries(tmp_path)
    assert len(left) == 1 and left[0].startswith(".filled.ome.zarr.tmp-")  # the killed write's level 0
    assert main(["fill", str(tmp_path / "scan.ome.zarr"), str(tmp_path / "mask.zarr"), "-o", str(out), "-q",
                 "--model", "telea"]) == 0
    assert temporaries(tmp_path) == []
    written = zarr.open_group(str(out), mode="r")
    assert zarrio.check_chunks(written["0"], "error") == 0 and zarrio.check_chunks(written["1"], "error") == 0


KILLED_IMAGE_WRITE = """
import os, signal, sys
import numpy as np
from inpaint_models.io import atomic, imageio
def killed_fsync(fd):
    os.kill(os.getpid(), signal.SIGKILL)
atomic.os.fsync = killed_fsync  # the process dies after writing the temporary file, before the rename
imageio.write_image(sys.argv[1], np.zeros((32, 32), np.uint8))
"""


@pytest.mark.parametrize("name", ["out.png", "out.tif"])
def test_a_killed_image_write_leaves_a_temporary_that_the_next_write_of_the_file_removes(tmp_path, name):
    out = tmp_path / name
    process = subprocess.run([sys.executable, "-c", KILLED_IMAGE_WRITE, str(out)])
    assert process.returncode == -9 and not out.exists()
    (killed,) = temporaries(tmp_path)
    unrelated = [f".other.png.tmp-{dead_pid()}-abcd1234", "notes.tmp-1", f".{name}.tmp-user-notes",
                 f".{name}.tmp-{os.getpid()}-live1234"]  # another file's, not temporaries, this (live) process's
    for file in unrelated:
        (tmp_path / file).write_bytes(b"x")
    imageio.write_image(out, np.full((32, 32), 7, np.uint8))
    assert np.all(imageio.read_image(out) == 7)
    assert not (tmp_path / killed).exists()
    assert all((tmp_path / file).exists() for file in unrelated)


def test_stale_temporaries_of_older_versions_and_whole_folders(tmp_path):
    out = tmp_path / "a.png"
    (tmp_path / ".a.png.tmp-k2j4_x9q").write_bytes(b"old")  # mkstemp's name of the previous version: no pid
    store = tmp_path / f".a.png.tmp-{dead_pid()}-folder12"
    store.mkdir()
    (store / "zarr.json").write_text("{}")
    (tmp_path / ".b.png.tmp-zzzz1111").write_bytes(b"old")
    assert atomic.remove_stale_temporaries(out) == 2 and temporaries(tmp_path) == [".b.png.tmp-zzzz1111"]
    (tmp_path / f".c.png.tmp-{os.getpid()}-mine1234").write_bytes(b"in progress")
    assert atomic.remove_temporary_files(tmp_path) == 1 and temporaries(tmp_path) == [f".c.png.tmp-{os.getpid()}-mine1234"]


@pytest.mark.parametrize(
    "array, name, words",
    [
        (np.zeros((3, 64, 48), np.uint16), "out.jpg", "3-D stack of shape (3, 64, 48) (uint16) to out.jpg"),
        (np.zeros((64, 48), np.uint16), "out.jpg", "JPEG holds 8-bit images only; use .png or .tif"),
        (np.zeros((3, 64, 48), np.uint8), "out.png", "PNG holds one 2-D image; use .tif for stacks"),
        (np.zeros((64, 48), np.float32), "out.png", "PNG holds 8- or 16-bit"),
    ],
)
def test_an_output_format_that_cannot_hold_the_result_is_refused_before_the_fill(tmp_path, capsys, monkeypatch,
                                                                                 array, name, words):
    import tifffile

    tifffile.imwrite(tmp_path / "in.tif", array)
    mask = np.zeros(array.shape, np.uint8)
    mask[..., 20:30, 10:20] = 255
    tifffile.imwrite(tmp_path / "mask.tif", mask)
    fill_never_runs(monkeypatch)
    line = cli_error(capsys, "fill", tmp_path / "in.tif", tmp_path / "mask.tif", "-o", tmp_path / name, "-q",
                     "--model", "telea")
    assert words in line and not (tmp_path / name).exists()
    with pytest.raises(InpaintError, match=re.escape(words)):
        imageio.check_writable(tmp_path / name, array.shape, array.dtype, imageio.read_image_with_axes(
            tmp_path / "in.tif")[1])


def test_check_writable_names_the_problem(tmp_path):
    assert imageio.check_writable(tmp_path / "a.tif", (2, 8, 8), np.float64) == tmp_path / "a.tif"
    assert imageio.check_writable(tmp_path / "a.png", (8, 8, 1), bool) == tmp_path / "a.png"
    for path, shape, dtype, words in [
        (tmp_path / "a.gif", (8, 8), np.uint8, "unknown image suffix"),
        (tmp_path / "no" / "a.png", (8, 8), np.uint8, "does not exist"),
        (tmp_path, (8, 8), np.uint8, "unknown image suffix"),
        (tmp_path / "a.png", (0, 8), np.uint8, "empty"),
        (tmp_path / "a.jpg", (8, 8, 4), np.uint8, "JPEG has no alpha"),
        (tmp_path / "a.tif", (8, 8), np.complex64, "cannot write a complex64"),
    ]:
        with pytest.raises(InpaintError, match=words):
            imageio.check_writable(path, shape, dtype)
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(InpaintError, match="it is a folder"):
        imageio.check_writable(tmp_path / "dir.png", (8, 8), np.uint8)


def test_an_existing_zarr_output_is_refused_before_the_fill(tmp_path, capsys, monkeypatch):
    plain_store(tmp_path / "image.zarr")
    plain_store(tmp_path / "mask.zarr", MASK)
    (tmp_path / "out.zarr").mkdir()
    fill_never_runs(monkeypatch)
    line = cli_error(capsys, "fill", tmp_path / "image.zarr", tmp_path / "mask.zarr", "-o", tmp_path / "out.zarr")
    assert "exists already" in line


# ---------------------------------------------------------------- 2. missing input chunks
def test_a_missing_chunk_of_a_zarr_image_is_named_and_can_be_refused(tmp_path, capsys):
    plain_store(tmp_path / "image.zarr")
    os.remove(tmp_path / "image.zarr" / "c" / "1" / "1")
    plain_store(tmp_path / "mask.zarr", MASK)
    assert not (tmp_path / "mask.zarr" / "c" / "0" / "0").exists()  # zarr writes no empty chunk: for a mask, no word
    args = ["fill", str(tmp_path / "image.zarr"), str(tmp_path / "mask.zarr"), "-q", "--model", "telea"]
    assert main(args + ["-o", str(tmp_path / "a.zarr")]) == 0
    err = capsys.readouterr().err
    assert "inpaint: warning:" in err and "1 of 12 chunks are missing (c/1/1)" in err and "fill value 0" in err
    assert "c/0/0" not in err
    line = cli_error(capsys, *args, "-o", tmp_path / "b.zarr", "--missing-chunks", "error")
    assert "image.zarr: 1 of 12 chunks are missing (c/1/1)" in line and not (tmp_path / "b.zarr").exists()
    assert main(args + ["-o", str(tmp_path / "c.zarr"), "--missing-chunks", "ignore"]) == 0
    assert "missing" not in capsys.readouterr().err


def test_missing_chunks_in_python(tmp_path):
    image = zarr.open_array(str(plain_store(tmp_path / "image.zarr")), mode="r")
    for key in ("0/0", "0/1", "1/0", "1/1", "2/0", "2/1"):
        os.remove(tmp_path / "image.zarr" / "c" / key)
    with pytest.warns(zarrio.MissingChunksWarning, match=r"6 of 12 chunks are missing \(c/0/0, c/0/1, c/1/0, c/1/1, "
                                                         r"c/2/0 and 1 more\)"):
        inpaint_models.fill(image, MASK, model="telea")
    with pytest.raises(InpaintError, match="6 of 12 chunks are missing"):
        inpaint_models.fill(image, MASK, model="telea", missing_chunks="error")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        inpaint_models.fill(image, MASK, model="telea", missing_chunks="ignore")
    with pytest.raises(InpaintError, match="6 of 12"):
        zarrio.open_lazy(tmp_path / "image.zarr", missing_chunks="error")
    with pytest.raises(InpaintError, match="choose one of warn, error, ignore"):
        inpaint_models.fill(np.zeros((8, 8)), np.eye(8, dtype=bool), missing_chunks="maybe")


def test_missing_chunks_of_v2_and_sharded_stores_and_the_check_reads_no_chunk(tmp_path):
    v2 = zarr.open_array(str(plain_store(tmp_path / "v2.zarr", zarr_format=2)), mode="r")
    os.remove(tmp_path / "v2.zarr" / "3.2")
    assert zarrio.missing_chunks(v2) == (["3.2"], 12)
    group = zarr.open_group(str(tmp_path / "sharded.zarr"), mode="w")
    sharded = group.create_array("0", shape=(64, 48), chunks=(16, 16), shards=(32, 32), dtype=np.uint16)
    sharded[:] = IMAGE
    os.remove(tmp_path / "sharded.zarr" / "0" / "c" / "1" / "0")
    assert zarrio.missing_chunks(zarr.open_array(str(tmp_path / "sharded.zarr"), path="0", mode="r")) == (["c/1/0"], 4)
    for chunk in (tmp_path / "v2.zarr").glob("[0-9].[0-9]"):
        chunk.write_bytes(b"corrupt")  # the check lists keys only: reading any chunk would fail
    with pytest.warns(zarrio.MissingChunksWarning, match=r"1 of 12 chunks are missing \(3.2\)"):
        assert zarrio.check_chunks(v2) == 1


def test_a_store_that_cannot_list_its_keys_is_said_to_be_unchecked(tmp_path, monkeypatch):
    image = zarr.open_array(str(plain_store(tmp_path / "image.zarr")), mode="r")
    monkeypatch.setattr(type(image.store), "supports_listing", property(lambda self: False))
    with pytest.warns(zarrio.MissingChunksWarning, match="cannot list its keys"):
        assert zarrio.check_chunks(image) == 0
    with pytest.raises(InpaintError, match="cannot list its keys"):
        zarrio.check_chunks(image, "error")


def test_written_stores_have_every_chunk_even_the_empty_ones(tmp_path):
    source = zarrio.open_lazy(plain_store(tmp_path / "zeros.zarr", np.zeros((64, 48), np.uint16)))
    assert zarrio.missing_chunks(zarr.open_array(str(tmp_path / "zeros.zarr"), mode="r"))[0]  # zarr left them out
    zarrio.write_zarr(tmp_path / "out.zarr", source.array, source)
    assert zarrio.missing_chunks(zarr.open_array(str(tmp_path / "out.zarr"), mode="r")) == ([], 12)


# ---------------------------------------------------------------- 10. malformed inputs: one line
MALFORMED_OME = {
    "datasets without a path": (dict(datasets=[{"pth": "0"}]), "datasets[0] has no 'path'"),
    "a missing level": (dict(datasets=[{"path": "0"}, {"path": "2"}]), "names level '2', which is not an array"),
    "a level named s0 that is not there": (dict(datasets=[{"path": "s0"}]), "names level 's0'"),
    "no datasets": (dict(datasets=[]), "the multiscales list no datasets"),
    "datasets not a list": (dict(datasets={"path": "0"}), "the multiscales list no datasets"),
    "too many axes": (dict(axes=[{"name": "z"}, {"name": "y"}, {"name": "x"}]), "3 axes (z, y, x) for data with 2"),
    "an axis twice": (dict(axes=[{"name": "y"}, {"name": "y"}]), "an axis is named twice"),
    "axes without names": (dict(axes=[{"type": "space"}, {"type": "space"}]), "'axes' is not a list of named axes"),
}


@pytest.mark.parametrize("case", MALFORMED_OME)
def test_malformed_ome_zarr_metadata_is_one_line_naming_the_store(tmp_path, capsys, case):
    broken, words = MALFORMED_OME[case]
    ome_store(tmp_path / "scan.ome.zarr", **broken)
    plain_store(tmp_path / "mask.zarr", MASK)
    line = cli_error(capsys, "fill", tmp_path / "scan.ome.zarr", tmp_path / "mask.zarr", "-o", tmp_path / "out.zarr")
    assert f"{tmp_path / 'scan.ome.zarr'}: OME-Zarr metadata: " in line and words in line
    assert not (tmp_path / "out.zarr").exists()


def test_multiscales_that_are_not_a_list_and_levels_of_different_ranks(tmp_path):
    group = zarr.open_group(str(ome_store(tmp_path / "a.zarr")), mode="a")
    group.attrs["multiscales"] = {"datasets": []}
    with pytest.raises(InpaintError, match="'multiscales' is not a list"):
        zarrio.open_lazy(tmp_path / "a.zarr")
    group.attrs["multiscales"] = [{"datasets": [{"path": "0"}, {"path": "2"}]}]
    group.create_array("2", shape=(2, 16, 12), chunks=(1, 16, 12), dtype=np.uint16)
    with pytest.raises(InpaintError, match="level '2' has 3 axes, level '0' 2"):
        zarrio.open_lazy(tmp_path / "a.zarr")


def test_a_level_with_broken_metadata_is_one_line(tmp_path):
    ome_store(tmp_path / "a.zarr")
    (tmp_path / "a.zarr" / "1" / "zarr.json").write_text("{not json")
    with pytest.raises(InpaintError, match=r"a.zarr: level '1' cannot be opened: JSONDecodeError"):
        zarrio.open_lazy(tmp_path / "a.zarr")


@pytest.mark.parametrize("where", ["in a hole's crop", "away from the holes"])
def test_a_corrupt_chunk_is_one_line_naming_the_store_and_no_output_is_left(tmp_path, capsys, where):
    ome_store(tmp_path / "scan.ome.zarr")
    plain_store(tmp_path / "mask.zarr", MASK)
    chunk = "1/1" if where == "in a hole's crop" else "3/2"  # read by the fill, or only by the write
    (tmp_path / "scan.ome.zarr" / "0" / "c" / chunk).write_bytes(b"\x28\xb5\x2f\xfd garbage, not zstd")
    out = tmp_path / "out.ome.zarr"
    line = cli_error(capsys, "fill", tmp_path / "scan.ome.zarr", tmp_path / "mask.zarr", "-o", out, "--model", "telea",
                     "-q")
    assert f"{tmp_path / 'scan.ome.zarr'}/0: cannot read [" in line and "corrupt" in line
    assert not out.exists() and temporaries(tmp_path) == []


def test_a_corrupt_chunk_through_the_python_api(tmp_path):
    image = zarr.open_array(str(plain_store(tmp_path / "image.zarr")), mode="r")
    (tmp_path / "image.zarr" / "c" / "1" / "1").write_bytes(b"garbage")
    with pytest.raises(InpaintError, match=r"image.zarr: cannot read \[16:32, 16:32\]"):
        inpaint_models.fill(image, MASK, model="telea")


@pytest.fixture
def broken_files(tmp_path):
    import cv2
    import tifffile

    tifffile.imwrite(tmp_path / "good.tif", IMAGE)
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "empty.tif").write_bytes(b"")
    os.symlink(tmp_path / "loop.png", tmp_path / "loop.png")
    os.mkfifo(tmp_path / "fifo.png")
    cv2.imwrite(str(tmp_path / "mask.png"), MASK * 255)
    return tmp_path


# truncated PNGs and TIFFs, a PNG named .tif, a text file named .png, a folder were one line already (test_imageio)
BROKEN = {
    "empty.png": "the file is empty",
    "empty.tif": "the file is empty",
    "loop.png": "is a symbolic link loop, not a file or folder",
    "fifo.png": "is a FIFO (named pipe), not a regular file",  # it was read: a hang without a writer
    "/dev/zero": "is a character device, not a regular file",
}


def _unblock_fifo(path: Path, stop: threading.Event) -> None:
    """Feed a FIFO a few bytes whenever a reader opens it, so an old reader returns instead of hanging the test."""
    while not stop.is_set():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # no reader yet
            stop.wait(0.05)
            continue
        os.write(fd, b"not an image")
        os.close(fd)


@pytest.mark.parametrize("name", BROKEN)
@pytest.mark.parametrize("role", ["image", "mask"])
def test_a_broken_image_or_mask_file_is_one_line_naming_it(broken_files, capsys, name, role):
    path = Path(name) if name.startswith("/") else broken_files / name
    stop = threading.Event()
    feeder = threading.Thread(target=_unblock_fifo, args=(broken_files / "fifo.png", stop), daemon=True)
    feeder.start()
    try:
        files = [path, broken_files / "mask.png"] if role == "image" else [broken_files / "good.tif", path]
        line = cli_error(capsys, "fill", *files, "-o", broken_files / "out.tif", "--model", "telea")
    finally:
        stop.set()
        feeder.join()
    assert BROKEN[name] in line and (str(path) in line or path.name in line), line
    assert not (broken_files / "out.tif").exists()


def test_a_broken_big_tiff_read_chunk_by_chunk_is_one_line(tmp_path, capsys, monkeypatch):
    import tifffile

    tifffile.imwrite(tmp_path / "stack.tif", IMAGE, tile=(16, 16), photometric="minisblack")
    data = (tmp_path / "stack.tif").read_bytes()
    (tmp_path / "stack.tif").write_bytes(data[: len(data) * 2 // 3])  # the last tiles are cut off
    tifffile.imwrite(tmp_path / "mask.tif", MASK, photometric="minisblack")
    monkeypatch.setattr(zarrio, "LAZY_TIFF_BYTES", 0)  # every TIFF is "big"
    line = cli_error(capsys, "fill", tmp_path / "stack.tif", tmp_path / "mask.tif", "-o", tmp_path / "out.zarr",
                     "--model", "telea", "-q")
    assert "stack.tif" in line and not (tmp_path / "out.zarr").exists() and temporaries(tmp_path) == []
