"""The feasible part of a constrained space: pruned enumeration, random feasible draws.

Both walk the genes in order and check each expression constraint as soon as the genes it
reads are set, so whole sub-trees of infeasible prefixes are skipped; callables are checked on
complete configurations.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from compileiq.errors import ConstraintError

if TYPE_CHECKING:
    from compileiq.search_spaces.space import Genome, SearchSpace

__all__ = ["ENUMERATION_BUDGET", "prepare", "random_feasible"]

ENUMERATION_BUDGET = 1_500_000
"""Search-tree nodes visited at most to enumerate the feasible set (more: sample instead)."""
_SEARCH_BUDGET = 1_000_000


class _OverBudget(Exception):
    pass


def _walk(space: SearchSpace, genes: list[int], options: list[list[int]], budget: int,
          first_only: bool) -> list[Genome]:
    """Feasible genomes, setting the genes in the order `genes` with values in the order
    `options[gene]`; each expression is checked as soon as its genes are set. Raises _OverBudget."""
    assert space.constraints is not None
    constraints = space.constraints
    n = len(genes)
    position = {gene: depth for depth, gene in enumerate(genes)}
    checks: list[list[Any]] = [[] for _ in range(n + 1)]
    for item in constraints.items:
        if item.is_callable or not item.genes:
            checks[n if item.is_callable else 0].append(item)
        else:
            checks[max(position[g] for g in item.genes) + 1].append(item)
    out: list[Genome] = []
    genome = [0] * n
    visited = 0

    def holds(depth: int) -> bool:
        memo: list[Any] = []
        return all(constraints.holds(item, genome, memo) for item in checks[depth])

    if checks[0] and not holds(0):
        return out

    def descend(depth: int) -> bool:
        nonlocal visited
        gene = genes[depth]
        for value in options[gene]:
            visited += 1
            if visited > budget:
                raise _OverBudget
            genome[gene] = value
            if checks[depth + 1] and not holds(depth + 1):
                continue
            if depth + 1 == n:
                out.append(tuple(genome))
                if first_only:
                    return True
            elif descend(depth + 1) and first_only:
                return True
        return False

    if n:
        descend(0)
    return out


def prepare(space: SearchSpace) -> None:
    """Enumerate the feasible set when affordable; fail now if nothing is feasible."""
    options = [space.gene_options(i) for i in range(len(space.params))]
    try:
        feasible = _walk(space, list(range(len(options))), options, ENUMERATION_BUDGET, first_only=False)
    except _OverBudget:
        feasible = None
    if feasible is not None:
        if not feasible:
            raise _unsatisfiable(space, proven=True)
        space._feasible = feasible
        return
    rng = random.Random(0)
    for _ in range(2000):
        genome = tuple(rng.choice(o) for o in options)
        if space.constraints is not None and space.constraints.check(genome):
            return
    random_feasible(space, rng)  # raises when there is none


def random_feasible(space: SearchSpace, rng: random.Random) -> Genome:
    """One feasible genome found by a randomized pruned depth-first search."""
    assert space.constraints is not None
    options = []
    for i in range(len(space.params)):
        values = space.gene_options(i)
        rng.shuffle(values)
        options.append(values)
    # the genes the expressions read first, so that a dead end is found before the free genes
    named = dict.fromkeys(g for item in space.constraints.items for g in item.genes)
    genes = [*named, *(g for g in range(len(options)) if g not in named)]
    try:
        found = _walk(space, genes, options, _SEARCH_BUDGET, first_only=True)
    except _OverBudget:
        raise _unsatisfiable(space, proven=False) from None
    if not found:
        raise _unsatisfiable(space, proven=True)
    return found[0]


def _unsatisfiable(space: SearchSpace, proven: bool) -> ConstraintError:
    assert space.constraints is not None
    texts = "; ".join(repr(c.text) for c in space.constraints.items)
    if proven:
        return ConstraintError(
            f"no configuration of the search space satisfies the constraints ({texts}); nothing was "
            "evaluated. Loosen a constraint or widen the parameters it names."
        )
    return ConstraintError(
        f"no configuration satisfying the constraints ({texts}) was found in {_SEARCH_BUDGET:,} steps of a "
        "pruned search; they are unsatisfiable or nearly so. Loosen a constraint or widen its parameters."
    )
