"""Vectorized feasibility of genome rows, for engines that breed thousands of candidates."""

from __future__ import annotations

import numpy as np

from compileiq.search_spaces.space import SearchSpace

__all__ = ["FeasibilityMask"]

_MASK_LIMIT = 1 << 24  # Cartesian sizes up to this get a flat lookup table (one byte each)


class FeasibilityMask:
    """`mask(rows)`: which rows of an (n, genes) int array satisfy the space's constraints.

    Enumerated spaces answer by table look-up (mixed-radix index of the genome); others check
    row by row with the compiled constraints.
    """

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.constrained = space.constraints is not None
        self._table: np.ndarray | None = None
        self._set: set[tuple[int, ...]] | None = None
        feasible = space.feasible_genomes
        if not self.constrained or feasible is None:
            return
        radix = np.array([p.size + p.knockable for p in space.params], dtype=np.int64)
        self._offset = np.array([int(p.knockable) for p in space.params], dtype=np.int64)
        if space.cardinality <= _MASK_LIMIT:
            strides = np.ones(len(radix), dtype=np.int64)
            for i in range(len(radix) - 2, -1, -1):
                strides[i] = strides[i + 1] * radix[i + 1]
            self._strides = strides
            table = np.zeros(int(space.cardinality), dtype=bool)
            rows = np.array(feasible, dtype=np.int64).reshape(len(feasible), len(radix))
            table[(rows + self._offset) @ strides] = True
            self._table = table
        else:
            self._set = set(feasible)

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        if not self.constrained or len(rows) == 0:
            return np.ones(len(rows), dtype=bool)
        if self._table is not None:
            found: np.ndarray = self._table[(rows + self._offset) @ self._strides]
            return found
        if self._set is not None:
            known = self._set
            return np.fromiter((tuple(r) in known for r in rows.tolist()), dtype=bool, count=len(rows))
        check = self.space.is_feasible
        return np.fromiter((check(tuple(r)) for r in rows.tolist()), dtype=bool, count=len(rows))
