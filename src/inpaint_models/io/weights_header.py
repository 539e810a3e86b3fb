"""The header of a safetensors weights file, read and checked before any tensor is.

A safetensors file is an 8-byte little-endian header length N, N bytes of JSON
(``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}``),
then the tensors' bytes. :func:`read_weights_header` reads only the header, from
a regular file (:mod:`inpaint_models.io.regular_files`: never a FIFO or a
device), and checks it against the file: a header claiming more bytes than the
file holds, or more than :data:`HEADER_MAX_BYTES`, an unknown dtype, a shape
whose byte count does not match its offsets, offsets past the end of the file:
all are :class:`~inpaint_models.contract.errors.WeightsError` naming the file,
never a ``MemoryError``. A caller compares the shapes with its networks before
reading any data, then :func:`read_tensor_bytes` reads only the tensors it
needs, as a smaller safetensors image that ``safetensors.torch.load`` decodes.

Written by hand, not with ``safetensors.safe_open``: that opens the path itself
(a FIFO put there blocks it) and offers no way to read a header from an open
file, and ``safetensors.torch.load`` needs the whole file in memory before it
checks anything. The format is fixed and small (see the safetensors spec). No torch.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Union

from inpaint_models.contract.errors import WeightsError
from inpaint_models.io.regular_files import open_regular_file

#: the largest header read; safetensors itself refuses more than 100 MB. A napari-inpaint
#: network has at most a few thousand tensors (about 150 bytes of header each): 16 MiB is ample
HEADER_MAX_BYTES = 16 * 2**20
#: the most dimensions a tensor may have (networks here use at most 5: conv3d weights)
MAX_DIMENSIONS = 8
METADATA_KEY = "__metadata__"
#: bytes per element of each safetensors dtype napari-inpaint loads (those ``safetensors.torch`` decodes)
DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E4M3FNUZ": 1, "F8_E5M2": 1, "F8_E5M2FNUZ": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8, "C64": 8,
}


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of a safetensors header: its dtype, shape and byte range in the data section."""

    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


@dataclass(frozen=True)
class WeightsHeader:
    """A checked safetensors header.

    Attributes:
        path: the file.
        metadata: the ``__metadata__`` strings (``{}`` when absent).
        tensors: name -> :class:`TensorEntry`, every range inside the file.
        data_start: where the data section begins (8 + header length).
    """

    path: Path
    metadata: dict[str, str]
    tensors: dict[str, TensorEntry]
    data_start: int

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """name -> shape of every tensor."""
        return {name: entry.shape for name, entry in self.tensors.items()}


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _entry(path: Path, name: str, raw: Any, data_bytes: int) -> TensorEntry:
    def bad(problem: str) -> WeightsError:
        return WeightsError(f"{path} is not a valid safetensors file: tensor {name[:100]!r} {problem}")

    if not isinstance(raw, dict):
        raise bad("is not described by an object")
    dtype, shape, offsets = raw.get("dtype"), raw.get("shape"), raw.get("data_offsets")
    if dtype not in DTYPE_BYTES:
        raise bad(f"has dtype {str(dtype)[:40]!r}, not one of {', '.join(DTYPE_BYTES)}")
    if not isinstance(shape, list) or len(shape) > MAX_DIMENSIONS or not all(map(_is_count, shape)):
        raise bad(f"has shape {str(shape)[:60]}, not a list of at most {MAX_DIMENSIONS} sizes")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_count, offsets))
            and offsets[0] <= offsets[1] <= data_bytes):
        raise bad(f"has data offsets {str(offsets)[:60]} outside the file's {data_bytes:,} bytes of data")
    expected = math.prod(shape) * DTYPE_BYTES[dtype]
    if offsets[1] - offsets[0] != expected:
        raise bad(f"of shape {tuple(shape)} and dtype {dtype} needs {expected:,} bytes, "
                  f"its offsets give {offsets[1] - offsets[0]:,}")
    return TensorEntry(dtype, tuple(shape), offsets[0], offsets[1])


def _parse(path: Path, handle: BinaryIO, size: int) -> WeightsHeader:
    start = handle.read(8)
    if len(start) < 8:
        raise WeightsError(f"{path} is not a valid safetensors file: {size} bytes, too short for a header")
    (length,) = struct.unpack("<Q", start)
    if length > min(HEADER_MAX_BYTES, size - 8):
        limit = "the file holds" if length > size - 8 else "napari-inpaint reads at most"
        raise WeightsError(f"{path} is not a valid safetensors file: its header claims {length:,} bytes; "
                           f"{limit} {min(HEADER_MAX_BYTES, size - 8):,}")
    try:
        raw = json.loads(handle.read(length).decode("utf-8"))
    except (ValueError, RecursionError) as error:
        raise WeightsError(f"{path} is not a valid safetensors file: its header is not JSON "
                           f"({str(error)[:100]})") from None
    if not isinstance(raw, dict):
        raise WeightsError(f"{path} is not a valid safetensors file: its header is not a JSON object")
    metadata = raw.pop(METADATA_KEY, None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise WeightsError(f"{path} is not a valid safetensors file: its {METADATA_KEY} is not strings")
    data_bytes = size - 8 - length
    tensors = {name: _entry(path, name, entry, data_bytes) for name, entry in raw.items()}
    return WeightsHeader(path, dict(metadata), tensors, 8 + length)


def read_weights_header(path: Union[str, Path]) -> WeightsHeader:
    """Read and check the header of a safetensors file; reads no tensor data.

    Raises:
        WeightsError: not a regular file (see :mod:`inpaint_models.io.regular_files`),
            unreadable, or not a valid safetensors file (the message says why).
    """
    path = Path(path)
    with open_regular_file(path, "weights file", WeightsError) as (handle, size):
        try:
            return _parse(path, handle, size)
        except OSError as error:
            raise WeightsError(f"cannot read the weights file {path}: {error.strerror or error}") from None


def read_tensor_bytes(header: WeightsHeader, names: Iterable[str]) -> bytes:
    """A safetensors image holding only the tensors ``names`` of ``header``'s file.

    Reads just those tensors' bytes (so the memory used is theirs, whatever else
    the file holds); the result is what ``safetensors.torch.load`` takes.

    Raises:
        KeyError: a name not in the header.
        WeightsError: the file cannot be read or changed since its header was read.
    """
    names = list(names)
    entries = [header.tensors[name] for name in names]
    described: dict[str, Any] = {}
    offset = 0
    for name, entry in zip(names, entries, strict=True):
        described[name] = {"dtype": entry.dtype, "shape": list(entry.shape),
                           "data_offsets": [offset, offset + entry.end - entry.begin]}
        offset += entry.end - entry.begin
    text = json.dumps(described, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data section starts 8-byte aligned, as safetensors writes it
    parts = [struct.pack("<Q", len(text)), text]
    path = header.path
    with open_regular_file(path, "weights file", WeightsError) as (handle, size):
        if size < header.data_start + max((entry.end for entry in entries), default=0):
            raise WeightsError(f"{path} changed while it was read (now {size:,} bytes)")
        try:
            for entry in entries:
                handle.seek(header.data_start + entry.begin)
                parts.append(handle.read(entry.end - entry.begin))
        except OSError as error:
            raise WeightsError(f"cannot read the weights file {path}: {error.strerror or error}") from None
    return b"".join(parts)
