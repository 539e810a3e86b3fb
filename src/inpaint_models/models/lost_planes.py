"""Whole lost planes of a stack filled by a linear predictor fitted on the stack's own known planes.

A lost plane ``k`` (a dropped frame: every voxel of the plane is a hole, its
neighbours ``k - 1`` and ``k + 1`` are not wholly lost) is predicted as

    plane[k] = b + sum over o in offsets of (w_o correlated with plane[k + o]),

``offsets`` = -2, -1, +1, +2 (all four inside the stack and not lost planes,
else the plane keeps the biharmonic fill), each ``w_o`` a
(2 :data:`RADIUS` + 1)**2 in-plane kernel, one predictor per lost plane and
channel. The weights are the least
squares fit of the same prediction of the *known* planes ``j`` nearest to ``k``
from their planes ``j + o`` (the same geometry), on a seeded random sample of
pixels whose whole neighbourhood is known (at most 64 Ki pixels: 16 planes) -- so it learns the stack's own
relation between neighbouring planes: how much to smooth the neighbours'
noise, how structures drift from plane to plane. Linear interpolation along Z
is one such predictor (the centre taps of -1 and +1 at 1/2), so on the
known planes the fit is never worse than it.

Measured (``benchmarks/bench_lost_plane.py``, docs/scale.md): on the lost plane,
over linear interpolation along Z, +0.00 dB on the synthetic benchmark stack
(whose plane-to-plane change is unpredictable by construction: no method can
gain more than +0.06 dB there) and +0.47, +1.36, +1.52 dB on real
fluorescence, cryo-EM and MRI volumes, where the biharmonic solution gets
-0.26 (synthetic), +0.30, +0.92, +0.27 dB. It needs two known planes on each side of the
lost plane and two more known planes to fit on: a crop of 11 planes or more
(``fill``'s ``volume_margin`` of 5 or more, when the lost plane is the only
hole). Written here: no kept library fits a spatial-and-Z linear predictor on
a stack's own planes (scikit-learn's regressors would want the whole feature
matrix; this is a 101-column least squares on a sample).
"""

from __future__ import annotations

import numpy as np

#: in-plane reach of each kernel: 5 x 5 taps per neighbouring plane
RADIUS = 2
#: neighbouring planes used, nearest first (each side)
REACH = 2
#: training pixels drawn per known target plane, and in all
SAMPLES_PER_PLANE = 4096
MAX_SAMPLES = 1 << 16
#: rows of the sample turned into float64 at a time when the normal equations are summed
CHUNK = 8192
#: fewest training pixels per weight: below it the lost plane keeps the biharmonic fill
MIN_SAMPLES_PER_WEIGHT = 20
#: ridge on the normal equations, relative to their mean diagonal (keeps the solve well posed)
RIDGE = 1e-6
#: the plane's outer band of RADIUS pixels (rows, then columns), where the predictor's window leaves the plane
BORDER = ((slice(0, RADIUS), slice(None)), (slice(-RADIUS, None), slice(None)),
          (slice(None), slice(0, RADIUS)), (slice(None), slice(-RADIUS, None)))
#: the seed of the training sample (the fill is deterministic)
SEED = 0


def whole_planes(mask: np.ndarray) -> np.ndarray:
    """bool (D,): which planes of a bool (D, H, W) mask are wholly hole (plane by plane: no copy of a strided mask)."""
    return np.array([bool(mask[z].all()) for z in range(mask.shape[0])], dtype=bool)


def lost_planes(mask: np.ndarray) -> list[int]:
    """Indices along axis 0 of the isolated wholly lost planes of a bool (D, H, W) mask (True = hole).

    A plane is taken when all of it is hole, it is not the first or last plane,
    and neither neighbour is wholly lost (a run of lost planes keeps the
    biharmonic fill). Planes smaller than the predictor's window are skipped.
    """
    if mask.ndim != 3 or min(mask.shape[1:]) < 2 * RADIUS + 1:
        return []
    whole = whole_planes(mask)
    return [k for k in range(1, mask.shape[0] - 1) if whole[k] and not whole[k - 1] and not whole[k + 1]]


def plane_offsets(whole: np.ndarray, k: int) -> tuple[int, ...]:
    """The neighbour offsets -REACH..REACH (not 0) of plane ``k`` inside the stack and not wholly lost.

    ``whole``: bool (D,), True where a plane is wholly lost. Stops at the first
    lost or missing plane on each side.
    """
    offsets = []
    for sign in (-1, 1):
        for step in range(1, REACH + 1):
            j = k + sign * step
            if not 0 <= j < whole.size or whole[j]:
                break
            offsets.append(sign * step)
    return tuple(sorted(offsets))


def training_sample(values: np.ndarray, mask: np.ndarray, offsets: tuple[int, ...],
                    rng: np.random.Generator, near: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Features and targets of known planes predicted from their planes at ``offsets``.

    Args:
        values: float32 (D, H, W), one channel.
        mask: bool (D, H, W), True = hole; a pixel is drawn only when it and its
            whole window in every feature plane are known.
        offsets: the neighbour planes, relative.
        rng: the sample's random generator.
        near: the plane the predictor is for: target planes are taken nearest
            to it first, until :data:`MAX_SAMPLES` pixels are drawn (a tall
            stack changes along Z -- a fluorescence stack's outer planes are out
            of focus -- and fitted on its first planes the predictor lost 2.9 dB
            to linear Z in the middle of a 60-plane nuclei stack). None: in order.

    Returns:
        float32 (n, len(offsets) * (2 RADIUS + 1)**2 + 1) features (the last
        column 1) and float64 (n,) targets.
    """
    depth, height, width = values.shape
    side = 2 * RADIUS + 1
    dy, dx = (a.ravel() for a in np.mgrid[-RADIUS:RADIUS + 1, -RADIUS:RADIUS + 1])
    whole = whole_planes(mask)
    features, targets = [], []
    candidates = range(max(0, -min(offsets)), min(depth, depth - max(offsets)))
    if near is not None:
        candidates = sorted(candidates, key=lambda j: (abs(j - near), j))
    drawn = 0
    for j in candidates:
        if drawn >= MAX_SAMPLES:
            break
        planes = [j + o for o in offsets]
        if whole[[j] + planes].any():
            continue
        ys = rng.integers(RADIUS, height - RADIUS, SAMPLES_PER_PLANE)
        xs = rng.integers(RADIUS, width - RADIUS, SAMPLES_PER_PLANE)
        rows, columns = ys[:, None] + dy, xs[:, None] + dx
        keep = ~mask[j, ys, xs]
        for p in planes:  # a pixel whose window touches a hole in any feature plane is not drawn
            keep &= ~mask[p][rows, columns].any(axis=1)
        ys, xs = ys[keep], xs[keep]
        if ys.size == 0:
            continue
        taps = [values[p][ys[:, None] + dy, xs[:, None] + dx] for p in planes]
        features.append(np.concatenate(taps + [np.ones((ys.size, 1), np.float32)], axis=1))
        targets.append(values[j, ys, xs].astype(np.float64))
        drawn += ys.size
    if not features:
        return np.zeros((0, len(offsets) * side * side + 1), np.float32), np.zeros(0)
    return np.concatenate(features)[:MAX_SAMPLES], np.concatenate(targets)[:MAX_SAMPLES]


def fit_weights(features: np.ndarray, targets: np.ndarray) -> np.ndarray | None:
    """Least squares weights of targets on features (last column 1: the bias); None when the sample is too small.

    Solved in float64 on centred features (their normal equations summed
    :data:`CHUNK` rows at a time: no float64 copy of the whole sample), with a
    tiny ridge relative to their mean variance, so that it is well posed
    whatever the values' scale.
    """
    if features.shape[0] < MIN_SAMPLES_PER_WEIGHT * features.shape[1]:
        return None
    mean, target_mean = features[:, :-1].mean(axis=0, dtype=np.float64), targets.mean()
    columns = features.shape[1] - 1
    gram, moment = np.zeros((columns, columns)), np.zeros(columns)
    for start in range(0, features.shape[0], CHUNK):
        centred = features[start:start + CHUNK, :-1] - mean  # float64
        gram += centred.T @ centred
        moment += centred.T @ (targets[start:start + CHUNK] - target_mean)
    gram[np.diag_indices_from(gram)] += RIDGE * max(np.trace(gram) / columns, np.finfo(float).tiny)
    weights = np.linalg.solve(gram, moment)
    return np.append(weights, target_mean - mean @ weights)


def predict_plane(values: np.ndarray, k: int, offsets: tuple[int, ...], weights: np.ndarray,
                  into: np.ndarray) -> None:
    """Write plane ``k`` of float32 (D, H, W) ``values`` predicted from its planes at ``offsets`` into ``into``.

    ``into``: float32 (H, W), writable (may be ``values[k]`` itself: the
    prediction reads only the other planes). Borders are mirrored (the window
    reaches past the plane's edge there). One (H, W) buffer of extra memory.
    """
    from scipy import ndimage

    side = 2 * RADIUS + 1
    kernels = weights[:-1].reshape(len(offsets), side, side).astype(np.float32)
    buffer = np.empty(values.shape[1:], np.float32)
    into[...] = weights[-1]
    for offset, kernel in zip(offsets, kernels):
        ndimage.correlate(values[k + offset], kernel, output=buffer, mode="mirror")
        into += buffer


def fill_lost_planes(out: np.ndarray, mask: np.ndarray) -> list[int]:
    """Overwrite the isolated wholly lost planes of ``out`` with the fitted predictor, in place.

    Args:
        out: float32 (D, H, W, C), writable: the stack with every hole already
            filled (the predictor reads the lost plane's neighbours, filled
            voxels included; it trains only on known voxels).
        mask: bool (D, H, W), True = hole (as given to the fill).

    Returns:
        The planes overwritten. A lost plane keeps its value in ``out`` where
        the predictor would fall short: without two known planes on each side
        (planes at +-1 only: measured worse than the biharmonic fill on the MRI
        volume), without enough known planes around it in the stack to fit it
        (at least two: a crop of 11 or more planes), and in the outer
        :data:`RADIUS` pixels of the plane, where its window would leave the plane.
    """
    whole = whole_planes(mask)
    done = []
    for k in lost_planes(mask):
        offsets = plane_offsets(whole, k)
        if len(offsets) < 2 * REACH:
            continue
        weights = [fit_weights(*training_sample(out[..., c], mask, offsets, np.random.default_rng(SEED), near=k))
                   for c in range(out.shape[-1])]
        if any(w is None for w in weights):
            continue
        for channel, channel_weights in enumerate(weights):
            plane = out[k, ..., channel]
            band = [(edge, plane[edge].copy()) for edge in BORDER]  # the outer RADIUS pixels keep their fill
            predict_plane(out[..., channel], k, offsets, channel_weights, plane)
            for edge, kept in band:
                plane[edge] = kept
        done.append(k)
    return done
