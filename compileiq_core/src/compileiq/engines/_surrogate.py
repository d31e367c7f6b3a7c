"""A small Gaussian-process surrogate that screens offspring before they are evaluated.

Genomes are encoded as features in [0, 1]: a range gene as its grid position over the grid
length, a choice as a one-hot block (scaled so that any change is distance 1), plus, for a
choice among three or more numbers, its rank over the number of values (times
`ordinal_weight`: distant values differ more than neighbouring ones), a knockable gene as an
extra presence bit. Costs are replaced by normal scores of their ranks, so the model is
indifferent to the scale of the objective and failures simply rank worst. The kernel is
Matern 5/2 with one length scale; length scale and noise level are picked by leave-one-out
likelihood among a few neighbours of the previous choice, which is what makes the model
absorb noisy measurements instead of chasing a lucky one.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from compileiq.search_spaces.models import ChoiceParamConfig, RangeParamConfig
from compileiq.search_spaces.space import KNOCKED_OUT, SearchSpace

__all__ = ["Encoder", "GaussianProcess", "derived_features", "expected_improvement", "normal_scores", "ordinal_ranks"]


def ordinal_ranks(cfg: object) -> np.ndarray | None:
    """Rank of each value of a choice among three or more distinct numbers (an ordinal), else None.

    Used by mutation, which steps to a neighbouring value, and by the surrogate, which encodes
    such a choice both as a category (one-hot) and by its rank: the rank alone ranked worse on
    held-out seeds (convolution), both together found gemm's optimum sooner.
    """
    if not isinstance(cfg, ChoiceParamConfig) or cfg.size < 3:
        return None
    values = cfg.vals
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return None
    if len(set(values)) != len(values):
        return None
    order = np.argsort(np.array(values, dtype=float), kind="stable")
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[order] = np.arange(len(values))
    return ranks

_SQRT5 = math.sqrt(5.0)
_LENGTH_SCALES = (0.08, 0.12, 0.18, 0.27, 0.4, 0.6, 0.9, 1.35, 2.0)
_NOISES = (1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5)


class Encoder:
    """Turns an (n, genes) int array of genomes into an (n, features) float array.

    `ordinal_weight` > 0 adds a rank feature (scaled to [0, ordinal_weight]) for each choice
    among three or more numbers, beside its one-hot block.
    """

    def __init__(self, space: SearchSpace, ordinal_weight: float = 0.0, derived_weight: float = 0.0) -> None:
        self._columns: list[tuple[int, str, int]] = []  # (gene, kind, size)
        self._ranks: dict[int, np.ndarray] = {}
        self.ordinal_weight = ordinal_weight
        self._derived = derived_features(space, derived_weight) if derived_weight else []
        width = 0
        for index, param in enumerate(space.params):
            cfg = param.config
            if param.knockable:
                self._columns.append((index, "presence", 1))
                width += 1
            if param.size <= 1:
                continue
            if isinstance(cfg, RangeParamConfig):
                self._columns.append((index, "range", param.size))
                width += 1
            elif isinstance(cfg, ChoiceParamConfig):
                self._columns.append((index, "choice", param.size))
                width += 1 if param.size == 2 else param.size
                ranks = ordinal_ranks(cfg)
                if ordinal_weight and ranks is not None:
                    self._ranks[index] = ranks * (ordinal_weight / (param.size - 1))
                    self._columns.append((index, "ordinal", param.size))
                    width += 1
        self.width = width + len(self._derived)

    def __call__(self, genomes: np.ndarray) -> np.ndarray:
        out = np.zeros((genomes.shape[0], self.width))
        col = 0
        for gene, kind, size in self._columns:
            values = genomes[:, gene]
            present = values != KNOCKED_OUT
            if kind == "presence":
                out[:, col] = present
                col += 1
            elif kind == "range":
                out[:, col] = np.where(present, values / (size - 1), 0.5)
                col += 1
            elif kind == "ordinal":
                scale = self._ranks[gene]
                out[:, col] = np.where(present, scale[np.where(present, values, 0)], 0.5 * self.ordinal_weight)
                col += 1
            elif size == 2:
                out[:, col] = np.where(present, values, 0.5)
                col += 1
            else:
                rows = np.flatnonzero(present)
                out[rows, col + values[rows]] = math.sqrt(0.5)
                col += size
        for genes, strides, table in self._derived:
            index = genomes[:, genes]
            absent: np.ndarray = np.asarray((index < 0).any(axis=1))
            out[:, col] = np.where(absent, 0.0, table[np.where(absent[:, None], 0, index) @ strides])
            col += 1
        return out


_DERIVED_LIMIT = 1 << 20  # largest product of the sizes of the parameters one derived feature reads


def derived_features(space: SearchSpace, weight: float) -> list[tuple[list[int], np.ndarray, np.ndarray]]:
    """One feature per derived quantity the space's expression constraints name (see
    `Constraints.quantities`: a thread count `bx * by`, a tile's shared memory), as (genes,
    mixed-radix strides, table of the feature by index over those genes' values).

    The value is log2 of the quantity when it is positive everywhere, else its rank among its
    distinct values, scaled to [0, weight] like the rank feature; 0 where a parameter it reads
    is knocked out. Quantities that are constant, not finite or not numeric over the product of
    their parameters' values are skipped (and so are those of more than 2^20 combinations)."""
    if space.constraints is None:
        return []
    out = []
    for quantity in space.constraints.quantities():
        genes = list(quantity.genes)
        sizes = [space.params[g].size for g in genes]
        values = [[space.params[g].config.at(i) for i in range(space.params[g].size)] for g in genes]
        if (sum(n > 1 for n in sizes) < 2 or math.prod(sizes) > _DERIVED_LIMIT
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for vs in values for v in vs)):
            continue
        grids = np.meshgrid(*(np.array(vs, dtype=float) for vs in values), indexing="ij")
        with np.errstate(all="ignore"):
            try:
                table = np.asarray(quantity.function(*grids), dtype=float).reshape(-1)
            except (ArithmeticError, TypeError, ValueError):
                continue
        if table.size != math.prod(sizes) or not np.isfinite(table).all() or table.min() == table.max():
            continue
        if table.min() > 0:
            table = np.log2(table)
        else:
            table = np.unique(table, return_inverse=True)[1].reshape(-1).astype(float)
        table = (table - table.min()) / (table.max() - table.min()) * weight
        strides = np.ones(len(genes), dtype=np.int64)
        for i in range(len(genes) - 2, -1, -1):
            strides[i] = strides[i + 1] * sizes[i + 1]
        out.append((genes, strides, table))
    return out


_NORMAL = NormalDist()


def normal_scores(costs: np.ndarray) -> np.ndarray:
    """Normal quantiles of the (average) ranks of `costs`: lower cost, lower score."""
    n = costs.shape[0]
    order = np.argsort(costs, kind="stable")
    ranks = np.empty(n)
    ranks[order] = np.arange(n, dtype=float)
    sorted_costs = costs[order]
    # average ranks over ties so equal costs get equal scores
    start = 0
    for end in range(1, n + 1):
        if end == n or sorted_costs[end] != sorted_costs[start]:
            if end - start > 1:
                ranks[order[start:end]] = (start + end - 1) / 2.0
            start = end
    quantiles = (ranks + 0.5) / n
    return np.array([_NORMAL.inv_cdf(q) for q in quantiles])


def _matern(sq_dist: np.ndarray, length_scale: float) -> np.ndarray:
    r = np.sqrt(np.maximum(sq_dist, 0.0)) / length_scale
    return (1.0 + _SQRT5 * r + (5.0 / 3.0) * r * r) * np.exp(-_SQRT5 * r)


def _sq_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T


class GaussianProcess:
    """Zero-mean GP on standardized targets; hyper-parameters by leave-one-out likelihood.

    `hint` is the (length-scale index, noise index) picked last time: only it and its
    neighbours are tried, so a refit costs a handful of matrix inversions. With `fixed`, only
    the hint itself: the model is conditioned on new data with the same hyper-parameters (one
    inversion).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, hint: tuple[int, int] | None = None, *,
                 fixed: bool = False) -> None:
        self.x = x
        self.y = y
        dims = max(x.shape[1], 1)
        scale = math.sqrt(dims)
        sq = _sq_dist(x, x)
        if hint is None:
            trials = [(li, ni) for li in range(0, len(_LENGTH_SCALES), 2) for ni in (1, 3)]
        else:
            li, ni = hint
            trials = [(li, ni)] if fixed else [(li, ni), (li - 1, ni), (li + 1, ni), (li, ni - 1), (li, ni + 1)]
            trials = [(a, b) for a, b in trials if 0 <= a < len(_LENGTH_SCALES) and 0 <= b < len(_NOISES)]
        best: tuple[float, int, int, np.ndarray] | None = None
        eye = np.eye(len(y))
        for li, ni in trials:
            kernel = _matern(sq, _LENGTH_SCALES[li] * scale) + _NOISES[ni] * eye
            try:
                inverse = np.linalg.inv(kernel)
            except np.linalg.LinAlgError:
                continue
            diag = np.clip(np.diag(inverse), 1e-12, None)
            alpha = inverse @ y
            loo = -0.5 * float(np.sum(-np.log(diag) + alpha * alpha / diag))
            if best is None or loo > best[0]:
                best = (loo, li, ni, inverse)
        if best is None:  # pragma: no cover - numerically hopeless data
            best = (0.0, 0, len(_NOISES) - 1, np.eye(len(y)) / (1.0 + _NOISES[-1]))
        _, li, ni, inverse = best
        self.hint = (li, ni)
        self.length_scale = _LENGTH_SCALES[li] * scale
        self.noise = _NOISES[ni]
        self._inverse = inverse
        self._alpha = inverse @ y

    def extended(self, x: np.ndarray, y: np.ndarray) -> GaussianProcess:
        """This model with rows `x` added to its training points and targets `y` for all of them
        (old rows first), same hyper-parameters: a block update of the inverse, O(n^2 m), not O(n^3)."""
        model = object.__new__(GaussianProcess)
        model.hint, model.length_scale, model.noise = self.hint, self.length_scale, self.noise
        model.x = np.vstack([self.x, x])
        model.y = y
        cross = self._inverse @ _matern(_sq_dist(self.x, x), self.length_scale)  # A^-1 K_ab
        schur = _matern(_sq_dist(x, x), self.length_scale) + self.noise * np.eye(len(x))
        schur -= _matern(_sq_dist(x, self.x), self.length_scale) @ cross
        try:
            schur_inverse = np.linalg.inv(schur)
        except np.linalg.LinAlgError:  # pragma: no cover - numerically hopeless data
            return GaussianProcess(model.x, y, self.hint, fixed=True)
        top = cross @ schur_inverse
        model._inverse = np.block([[self._inverse + top @ cross.T, -top], [-top.T, schur_inverse]])
        model._alpha = model._inverse @ y
        return model

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation (of the latent function) at rows of `x`."""
        k = _matern(_sq_dist(x, self.x), self.length_scale)
        mean = k @ self._alpha
        var = 1.0 - np.einsum("ij,ij->i", k @ self._inverse, k)
        return mean, np.sqrt(np.clip(var, 1e-12, None))

    def predict_believing(self, x: np.ndarray, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`predict(x)` once rows `others` are also observed at their predicted means (the kriging
        believer): the mean is unchanged and the deviation shrinks near them. The same posterior
        as `extended(others, ...)` followed by `predict`, without building the larger inverse."""
        k = _matern(_sq_dist(x, self.x), self.length_scale)
        weights = k @ self._inverse
        mean = k @ self._alpha
        var = 1.0 - np.einsum("ij,ij->i", weights, k)
        believed = self._believed(x, weights, others)
        if believed is not None:
            cross, shared_inverse = believed
            var -= np.einsum("ij,ij->i", cross @ shared_inverse, cross)
        return mean, np.sqrt(np.clip(var, 1e-12, None))

    def sample_believing(self, x: np.ndarray, others: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One joint draw of the latent function at rows `x` from the posterior that also
        believes rows `others` at their predicted means (see `predict_believing`)."""
        k = _matern(_sq_dist(x, self.x), self.length_scale)
        weights = k @ self._inverse
        mean = k @ self._alpha
        cov = _matern(_sq_dist(x, x), self.length_scale) - weights @ k.T
        believed = self._believed(x, weights, others)
        if believed is not None:
            cross, shared_inverse = believed
            cov -= cross @ shared_inverse @ cross.T
        draw = rng.standard_normal(len(mean))
        try:  # a little jitter: near-identical candidates make the covariance near-singular
            root = np.linalg.cholesky(cov + 1e-6 * np.eye(len(mean)))
        except np.linalg.LinAlgError:  # pragma: no cover - numerically hopeless data
            values, vectors = np.linalg.eigh(0.5 * (cov + cov.T))
            root = vectors * np.sqrt(np.clip(values, 0.0, None))
        return np.asarray(mean + root @ draw)

    def _believed(self, x: np.ndarray, weights: np.ndarray,
                  others: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """What observing rows `others` at their predicted means takes off the posterior at rows
        `x` (`weights`: their kernel row times the inverse): the cross-covariance of `x` with
        `others` and the inverse of the covariance of `others`, given the training data. None
        without `others` (or on numerically hopeless data)."""
        if not len(others):
            return None
        k_others = _matern(_sq_dist(self.x, others), self.length_scale)
        cross = _matern(_sq_dist(x, others), self.length_scale) - weights @ k_others
        shared = _matern(_sq_dist(others, others), self.length_scale) + self.noise * np.eye(len(others))
        shared -= k_others.T @ self._inverse @ k_others
        try:
            return cross, np.linalg.inv(shared)
        except np.linalg.LinAlgError:  # pragma: no cover - numerically hopeless data
            return None

    def smoothed(self) -> np.ndarray:
        """Posterior mean at the training points: measured values with the noise taken out."""
        return self.y - self.noise * self._alpha


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """EI for minimization, with a tanh approximation of the normal CDF (vectorized)."""
    z = (best - mean) / std
    cdf = 0.5 * (1.0 + np.tanh(0.7978845608 * (z + 0.044715 * z**3)))
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return (best - mean) * cdf + std * pdf
