"""scikit-image's biharmonic system, assembled over the hole only, and its solve.

The system is the one :func:`skimage.restoration.inpaint_biharmonic` solves:
for every hole voxel ``p``, ``(N @ N @ u)[p] = 0``, where ``N`` is the
Laplacian of the box with mirrored borders (scikit-image's kernel,
``laplace(laplace(delta))`` on the 5**d neighbourhood, truncated at the box's
border exactly as scikit-image truncates it), the known voxels moved to the
right-hand side. Its matrix is the principal submatrix of ``N @ N = N.T @ N``
on the hole: symmetric positive definite, so conjugate gradients apply, and
the solution is scikit-image's to the solver's tolerance.

Written here rather than taken from scikit-image because its assembly
allocates over the whole box and its one sparse LU factorisation grows faster
than the hole (4 GB and 89 s for a lost 1024**2 plane); scipy and pyamg do the
solving. Assembly is vectorised: one pass per stencil offset over all unknowns.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass

import numpy as np
from scipy import sparse

#: systems of at most this many unknowns are factorised (sparse LU: exact, and faster than iterating when small)
DIRECT_MAX = 4096
#: conjugate-gradient tolerance (relative residual): far below a uint16 step on the [0, 1] scale
RTOL = 1e-8
#: diagonal-preconditioned iterations tried first; thin holes (a lost plane between known planes, rows,
#: columns) converge in tens whatever their length; thicker ones then switch to the multigrid preconditioner
JACOBI_ITERATIONS = 120
#: most multigrid-preconditioned iterations (a 512**2 2D hole takes about 60)
MULTIGRID_ITERATIONS = 1000


@dataclass
class System:
    """The biharmonic system of one box (:func:`assemble`).

    Attributes:
        matrix: float64 CSR (n, n), symmetric positive definite, n = the hole voxels.
        rhs: float64 (n, C), one right-hand side per channel.
        flat: int64 (n,), the unknowns' flat indices in the box (C order).
        shape: the box's spatial shape.
    """

    matrix: sparse.csr_array
    rhs: np.ndarray
    flat: np.ndarray
    shape: tuple[int, ...]


@functools.cache
def stencil(spans: tuple[tuple[int, int], ...]) -> tuple[np.ndarray, np.ndarray]:
    """scikit-image's biharmonic kernel for a voxel ``spans[a] = (before, after)`` voxels (<= 2) from the border.

    Returns int64 offsets (k, d) and float64 coefficients (k,).
    """
    from scipy import ndimage

    shape = tuple(before + after + 1 for before, after in spans)
    center = tuple(before for before, _ in spans)
    delta = np.zeros(shape)
    delta[center] = 1.0
    kernel = ndimage.laplace(ndimage.laplace(delta))  # mode "reflect": the truncation scikit-image uses
    where = np.nonzero(kernel)
    offsets = np.stack([index - c for index, c in zip(where, center)], axis=1).astype(np.int64)
    return offsets, kernel[where]


def border_classes(flat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Each unknown's distances to the box's borders, clipped to 2, packed as one int32 code (base 3 digits)."""
    code = np.zeros(flat.size, np.int32)
    for coordinate, size in zip(np.unravel_index(flat, shape), shape):
        code = code * 9 + np.minimum(coordinate, 2) * 3 + np.minimum(size - 1 - coordinate, 2)
    return code


def class_spans(code: int, ndim: int) -> tuple[tuple[int, int], ...]:
    """The ``(before, after)`` border distances of a :func:`border_classes` code."""
    spans = []
    for _ in range(ndim):
        spans.append((code % 9 // 3, code % 3))
        code //= 9
    return tuple(spans[::-1])


def assemble(values: np.ndarray, unknown: np.ndarray) -> System:
    """The biharmonic system of one box.

    Args:
        values: float (*shape, C): the box's values; those under ``unknown`` are ignored.
        unknown: bool (*shape), True = solve for this voxel. The box's border is
            the image's border (the kernel is truncated there, as scikit-image
            does): a box cut out of a larger image must hold a ring of 2 known
            voxels around its unknowns wherever its side is not the image's.
    """
    shape = unknown.shape
    flat = np.flatnonzero(unknown)
    count = flat.size
    position = np.full(unknown.size, -1, np.int32)
    position[flat] = np.arange(count, dtype=np.int32)
    known_values = values.reshape(unknown.size, -1)
    strides = np.array([int(np.prod(shape[axis + 1:], dtype=np.int64)) for axis in range(len(shape))])
    rhs = np.zeros((count, known_values.shape[1]))
    rows, columns, data = [], [], []
    codes = border_classes(flat, shape)
    classes = np.unique(codes)
    for code in classes:
        members = np.arange(count) if classes.size == 1 else np.flatnonzero(codes == code)
        offsets, coefficients = stencil(class_spans(int(code), len(shape)))
        base = flat[members]
        for offset, coefficient in zip(offsets @ strides, coefficients):
            neighbour = base + offset
            column = position[neighbour]
            solved = column >= 0
            rows.append(members[solved].astype(np.int32))
            columns.append(column[solved])
            data.append(np.full(rows[-1].size, coefficient))
            if not solved.all():
                rhs[members[~solved]] -= coefficient * known_values[neighbour[~solved]]
    matrix = sparse.csr_array(
        (np.concatenate(data), (np.concatenate(rows), np.concatenate(columns))), shape=(count, count)
    )
    return System(matrix, rhs, flat, shape)


def neumann_laplacian(system: System) -> sparse.csr_array:
    """Minus the box's mirrored-border Laplacian ``N`` restricted to the unknowns: SPD, float64 CSR (n, n).

    The multigrid preconditioner's operator: ``A = N_uu @ N_uu + (boundary terms)``, so two V-cycles of
    ``-N_uu``'s inverse make a preconditioner whose iterations grow slowly with the hole's width.
    """
    shape, flat, count = system.shape, system.flat, system.flat.size
    position = np.full(int(np.prod(shape, dtype=np.int64)), -1, np.int32)
    position[flat] = np.arange(count, dtype=np.int32)
    diagonal = np.zeros(count)
    rows, columns = [], []
    coordinates = np.unravel_index(flat, shape)
    stride = 1
    for axis in range(len(shape) - 1, -1, -1):
        for step, inside in ((stride, coordinates[axis] < shape[axis] - 1), (-stride, coordinates[axis] > 0)):
            diagonal += inside  # a missing (mirrored) neighbour adds nothing
            neighbour = position[flat[inside] + step]
            solved = neighbour >= 0
            rows.append(np.flatnonzero(inside)[solved].astype(np.int32))
            columns.append(neighbour[solved])
        stride *= shape[axis]
    rows.append(np.arange(count, dtype=np.int32))
    columns.append(np.arange(count, dtype=np.int32))
    data = np.concatenate([-np.ones(sum(r.size for r in rows[:-1])), diagonal])
    return sparse.csr_array((data, (np.concatenate(rows), np.concatenate(columns))), shape=(count, count))


def one_blas_thread():
    """A context in which BLAS runs on one thread (threadpoolctl), where threadpoolctl is installed.

    Conjugate gradients make three vector operations (BLAS) per iteration; on a
    busy machine OpenBLAS's threads wait for each other on every one of them:
    140 iterations on a 20 000-unknown system took 3.3 s on all threads and
    0.03 s on one (2 busy cores). The sparse products are single-threaded anyway.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an optional speed-up: the solve is the same without it
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def solve(system: System) -> np.ndarray:
    """The unknowns' values, float64 (n, C).

    Small systems are factorised (sparse LU, as scikit-image); larger ones go
    to conjugate gradients, diagonal-preconditioned first and, for channels
    that have not converged after :data:`JACOBI_ITERATIONS`, preconditioned by
    algebraic multigrid (pyamg) on the hole's Laplacian. Call it within
    :func:`one_blas_thread` when solving many systems.
    """
    from scipy.sparse.linalg import splu

    matrix, rhs = system.matrix, system.rhs
    if matrix.shape[0] <= DIRECT_MAX:
        return np.asarray(splu(matrix.tocsc(), permc_spec="MMD_AT_PLUS_A").solve(rhs)).reshape(rhs.shape)
    return iterate(system)


def iterate(system: System) -> np.ndarray:
    """:func:`solve` by conjugate gradients: diagonal preconditioner first, multigrid for what has not converged."""
    from scipy.sparse.linalg import LinearOperator, cg

    matrix, rhs = system.matrix, system.rhs
    inverse_diagonal = 1.0 / matrix.diagonal()
    jacobi = LinearOperator(matrix.shape, matvec=lambda v: inverse_diagonal * v.ravel(), dtype=np.float64)
    solution = np.zeros_like(rhs)
    stalled = []
    for channel in range(rhs.shape[1]):
        solution[:, channel], info = cg(matrix, rhs[:, channel], rtol=RTOL, maxiter=JACOBI_ITERATIONS, M=jacobi)
        if info != 0:
            stalled.append(channel)
    if stalled:
        preconditioner = multigrid_preconditioner(system)
        for channel in stalled:
            solution[:, channel], info = cg(
                matrix, rhs[:, channel], x0=solution[:, channel], rtol=RTOL, maxiter=MULTIGRID_ITERATIONS,
                M=preconditioner,
            )
    return solution


def multigrid_preconditioner(system: System):
    """Two pyamg V-cycles of the hole's Laplacian (:func:`neumann_laplacian`) as a symmetric preconditioner."""
    import pyamg
    from scipy.sparse.linalg import LinearOperator

    cycle = pyamg.ruge_stuben_solver(neumann_laplacian(system)).aspreconditioner(cycle="V")
    return LinearOperator(system.matrix.shape, matvec=lambda v: cycle(cycle(v.ravel())), dtype=np.float64)
