"""The compiled search space: parameters flattened into genes, and genomes decoded back.

A genome is a tuple of ints, one per parameter: the position in the parameter's domain, or
`KNOCKED_OUT` (-1) when the key is left out. Engines work on genomes; the objective receives
`SearchSpace.decode(genome)`.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import random

    from compileiq.search_spaces.constraints import ConstraintInput, Constraints

from compileiq.errors import SearchSpaceError
from compileiq.search_spaces.models import (
    PARAM_TYPES,
    ChoiceParamConfig,
    ParamConfig,
    RangeParamConfig,
)

__all__ = ["FORMAT", "KNOCKED_OUT", "Genome", "Param", "SearchSpace"]

KNOCKED_OUT = -1
FORMAT = "compileiq-search-space-v1"
Genome = tuple[int, ...]


@dataclass(frozen=True)
class Param:
    """One leaf of the space: which sub-space, its key path, and its model."""

    space: int
    path: tuple[str, ...]
    config: ParamConfig

    @property
    def size(self) -> int:
        return self.config.size

    @property
    def knockable(self) -> bool:
        return bool(self.config.knockout_prob)

    @property
    def label(self) -> str:
        return ".".join(self.path) if self.space == 0 else f"[{self.space}]." + ".".join(self.path)


def _encode_key(path: tuple[str, ...]) -> str:
    return "_".join(base64.urlsafe_b64encode(p.encode()).decode().rstrip("=") for p in path)


def _decode_key(key: str) -> tuple[str, ...]:
    parts = []
    for seg in key.split("_"):
        seg += "=" * (-len(seg) % 4)
        parts.append(base64.urlsafe_b64decode(seg.encode()).decode())
    return tuple(parts)


def _config_to_json(cfg: ParamConfig) -> dict[str, Any]:
    if isinstance(cfg, RangeParamConfig):
        out: dict[str, Any] = {"type": "range", "low": cfg.low, "high": cfg.high, "step": cfg.step}
        if cfg.seed_low is not None:
            out["seed-low"] = cfg.seed_low
        if cfg.seed_high is not None:
            out["seed-high"] = cfg.seed_high
    elif isinstance(cfg, ChoiceParamConfig):
        out = {"type": "enum", "vals": list(cfg.vals)}
    else:
        out = {"type": "literal", "value": cfg.value}
    if cfg.knockout_prob is not None:
        out["knockout_threshold"] = 1.0 - cfg.knockout_prob
        out["knockout_prob"] = cfg.knockout_prob  # exact; the threshold carries float error
    return out


def _config_from_json(key: str, data: dict[str, Any]) -> ParamConfig:
    from compileiq.search_spaces import base as ss

    knockout = data.get("knockout_threshold")
    prob = data.get("knockout_prob", None if knockout is None else 1.0 - float(knockout))
    kind = data.get("type")
    if kind == "range":
        return ss.range(
            data["low"], data["high"], data.get("step", 1), prob, data.get("seed-low"), data.get("seed-high")
        )
    if kind == "enum":
        return ss.choice(data["vals"], prob)
    if kind == "literal":
        return ss.literal(data["value"], prob)
    raise SearchSpaceError(f"class {key!r} has type {kind!r}; expected 'range', 'enum' or 'literal'.")


class SearchSpace:
    """A search space compiled for engines: flat parameters, genome decoding, serialization."""

    def __init__(self, spaces: Sequence[dict[str, Any]], is_list: bool) -> None:
        self.is_list = is_list
        self.params: tuple[Param, ...] = ()
        self._skeletons: list[dict[str, Any]] = []
        params: list[Param] = []
        for index, space in enumerate(spaces):
            if not isinstance(space, dict) or not space:
                raise SearchSpaceError(
                    f"search space #{index} is {space!r}; expected a non-empty dict of parameters "
                    "such as {'x': ss.range(0, 10)}."
                )
            self._skeletons.append(self._flatten(index, space, (), params))
        self.params = tuple(params)
        self._flat = all(len(p.path) == 1 for p in self.params) and len(spaces) == 1
        self.constraints: Constraints | None = None
        """The compiled constraints (see `with_constraints`), or None."""
        self._feasible: list[Genome] | None = None
        self._feasible_set: tuple[list[Genome], frozenset[Genome]] | None = None  # lookup for `_feasible`
        self._plan: list[tuple[float | None, tuple[int, int] | None, int]] | None = None  # per-gene draw

    def _flatten(self, index: int, node: dict[str, Any], prefix: tuple[str, ...], out: list[Param]) -> dict[str, Any]:
        skeleton: dict[str, Any] = {}
        for key, value in node.items():
            if not isinstance(key, str):
                raise SearchSpaceError(
                    f"search-space key {key!r} at {'.'.join(prefix) or '<root>'} is a "
                    f"{type(key).__name__}; keys must be strings."
                )
            path = (*prefix, key)
            if isinstance(value, PARAM_TYPES):
                out.append(Param(index, path, value))
                skeleton[key] = len(out) - 1
            elif isinstance(value, dict) and value:
                skeleton[key] = self._flatten(index, value, path, out)
            else:
                raise SearchSpaceError(
                    f"search-space entry {'.'.join(path)!r} is {value!r} ({type(value).__name__}); "
                    "expected a builder such as ss.range(...), ss.choice([...]), ss.literal(...) "
                    "or a non-empty nested dict of them."
                )
        return skeleton

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_input(cls, space: Any) -> SearchSpace:
        """Compile what `Search(search_space=...)` accepts: a dict, a path, a provider or a list."""
        if isinstance(space, SearchSpace):
            return space
        if isinstance(space, (list, tuple)):
            if not space:
                raise SearchSpaceError("search_space is an empty list; pass at least one space.")
            return cls([cls._resolve_one(s) for s in space], is_list=True)
        return cls([cls._resolve_one(space)], is_list=False)

    @staticmethod
    def _resolve_one(space: Any) -> dict[str, Any]:
        if hasattr(space, "retrieve") and callable(space.retrieve):
            space = space.retrieve()
        if isinstance(space, dict):
            if space.get("format") == FORMAT:
                return SearchSpace._dict_from_schema(space)
            return space
        if isinstance(space, (str, Path)):
            path = Path(space)
            if not path.is_file():
                raise SearchSpaceError(f"search space file {str(path)!r} does not exist.")
            import json

            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise SearchSpaceError(
                    f"search space file {str(path)!r} is not a {FORMAT} JSON file. Protected "
                    "(encrypted) compiler spaces are not supported; describe the space with "
                    "compileiq.search_spaces.base builders instead."
                ) from None
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise SearchSpaceError(f"search space file {str(path)!r} lacks \"format\": {FORMAT!r}.")
            return SearchSpace._dict_from_schema(data)
        raise SearchSpaceError(
            f"search_space={space!r} ({type(space).__name__}) is not usable; pass a dict of "
            "builders, a list of such dicts, a path to a JSON space, or a provider with retrieve()."
        )

    @staticmethod
    def _dict_from_schema(data: dict[str, Any]) -> dict[str, Any]:
        root: dict[str, Any] = {}
        for key, cls_data in data.get("classes", {}).items():
            path = _decode_key(key)
            node = root
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = _config_from_json(key, cls_data)
        return root

    # -- serialization -----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any] | list[dict[str, Any]]:
        """The space in upstream's `compileiq-search-space-v1` schema (a list for list spaces)."""
        schemas = []
        for index in range(len(self._skeletons)):
            params = [p for p in self.params if p.space == index]
            keys = [_encode_key(p.path) for p in params]
            schemas.append(
                {
                    "format": FORMAT,
                    "classes": {k: _config_to_json(p.config) for k, p in zip(keys, params)},
                    "parameter_layout": ["{", *keys, "}"],
                }
            )
        return schemas if self.is_list else schemas[0]

    @classmethod
    def from_json(cls, data: dict[str, Any] | list[dict[str, Any]]) -> SearchSpace:
        """Rebuild a space written by `to_json`."""
        if isinstance(data, list):
            return cls([cls._dict_from_schema(d) for d in data], is_list=True)
        return cls([cls._dict_from_schema(data)], is_list=False)

    def fingerprint(self) -> str:
        """A stable hash of the space's structure and domains, and of its constraints if any."""
        import hashlib
        import json

        text = json.dumps(self.to_json(), sort_keys=True, default=repr)
        if self.constraints is not None:
            text += json.dumps(self.constraints.fingerprints())
        return hashlib.sha256(text.encode()).hexdigest()

    # -- constraints -------------------------------------------------------------------------

    def with_constraints(self, constraints: Sequence[ConstraintInput] | None) -> SearchSpace:
        """This space restricted by `constraints` (added to any it already has).

        Checks them at once: an unknown name, a forbidden construct, or constraints that no
        configuration satisfies raise `ConstraintError` here, before anything is evaluated.
        Spaces small enough (after pruning) have their feasible configurations enumerated.
        """
        import copy

        from compileiq.search_spaces.constraints import Constraints

        if not constraints:
            return self
        if isinstance(constraints, str) or callable(constraints):
            constraints = [constraints]
        before = [c.source for c in self.constraints.items] if self.constraints is not None else []
        new = copy.copy(self)
        new.constraints = Constraints(new, [*before, *constraints])
        new._feasible = None
        from compileiq.search_spaces._feasible import prepare

        prepare(new)
        return new

    def is_feasible(self, genome: Genome) -> bool:
        """Whether `genome` satisfies every constraint (always True without constraints)."""
        if self.constraints is None:
            return True
        if self._feasible is not None:  # enumerated: a set look-up, same answer as the check
            return genome in self._feasible_lookup()
        return self.constraints.check(genome)

    def _feasible_lookup(self) -> frozenset[Genome]:
        feasible = self._feasible
        assert feasible is not None
        if self._feasible_set is None or self._feasible_set[0] is not feasible:
            self._feasible_set = (feasible, frozenset(feasible))
        return self._feasible_set[1]

    @property
    def feasible_genomes(self) -> list[Genome] | None:
        """Every feasible genome when they were enumerated (constrained, small spaces), else None."""
        return self._feasible

    @property
    def feasible_cardinality(self) -> int:
        """How many configurations satisfy the constraints (the Cartesian size when unknown)."""
        return len(self._feasible) if self._feasible is not None else self.cardinality

    # -- genomes -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.params)

    @property
    def cardinality(self) -> int:
        """How many distinct configurations the space holds (knockout counted)."""
        return math.prod(p.size + p.knockable for p in self.params)

    def gene_options(self, index: int) -> list[int]:
        """Every value gene `index` can take."""
        param = self.params[index]
        return ([KNOCKED_OUT] if param.knockable else []) + list(range(param.size))

    def enumerate_genomes(self) -> Iterator[Genome]:
        """Every feasible genome of the space (every genome without constraints), in a fixed order."""
        import itertools

        if self._feasible is not None:
            return iter(self._feasible)
        product = itertools.product(*(self.gene_options(i) for i in range(len(self.params))))
        if self.constraints is None:
            return product
        return (g for g in product if self.is_feasible(g))

    def sample_genome(self, rng: random.Random, seed_threshold: float | None = 0.9) -> Genome:
        """A draw from the initial distribution: knockout priors and seeded-range windows.

        With constraints, draws are repeated until one satisfies them (the initial
        distribution restricted to feasible configurations); after 64 misses the draw is
        uniform among the enumerated feasible configurations, or found by a randomized
        pruned search when there are too many to enumerate.
        """
        genome = self._draw(rng, seed_threshold)
        if self.constraints is None:
            return genome
        for _ in range(64):
            if self.is_feasible(genome):
                return genome
            genome = self._draw(rng, seed_threshold)
        if self._feasible is not None:
            return self._feasible[rng.randrange(len(self._feasible))]
        from compileiq.search_spaces._feasible import random_feasible

        return random_feasible(self, rng)

    def _draw(self, rng: random.Random, seed_threshold: float | None) -> Genome:
        if self._plan is None:  # each gene's knockout prior, seeded window and size, worked out once
            self._plan = [(p.config.knockout_prob,
                           p.config.seed_window() if isinstance(p.config, RangeParamConfig) else None,
                           p.config.size) for p in self.params]
        genes = []
        for knockout, window, size in self._plan:
            if knockout and rng.random() < knockout:
                genes.append(KNOCKED_OUT)
                continue
            if window is not None and seed_threshold and rng.random() < seed_threshold:
                genes.append(rng.randint(window[0], window[1]))
            else:
                genes.append(rng.randrange(size))
        return tuple(genes)

    def decode(self, genome: Genome) -> dict[str, Any] | list[dict[str, Any]]:
        """The configuration the objective receives for `genome`."""
        params = self.params
        if self._flat:
            return {params[i].path[0]: params[i].config.at(g) for i, g in enumerate(genome) if g != KNOCKED_OUT}
        decoded = [self._fill(skel, genome) for skel in self._skeletons]
        return decoded if self.is_list else decoded[0]

    def _fill(self, skeleton: dict[str, Any], genome: Genome) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, node in skeleton.items():
            if isinstance(node, dict):
                out[key] = self._fill(node, genome)
            elif genome[node] != KNOCKED_OUT:
                out[key] = self.params[node].config.at(genome[node])
        return out

    def encode(self, config: dict[str, Any] | list[dict[str, Any]]) -> Genome:
        """The genome of a configuration the objective received (inverse of `decode`)."""
        spaces: Any = config if self.is_list else [config]
        genes = []
        for param in self.params:
            node: Any = spaces[param.space]
            for part in param.path:
                node = node.get(part, _MISSING) if isinstance(node, dict) else _MISSING
            if node is _MISSING:
                if not param.knockable:
                    raise SearchSpaceError(f"configuration lacks {param.label!r}, which cannot be knocked out.")
                genes.append(KNOCKED_OUT)
            elif isinstance(param.config, RangeParamConfig):
                genes.append(param.config.index_of(node))
            elif isinstance(param.config, ChoiceParamConfig):
                genes.append(_index_in(param.config.vals, node, param.label))
            else:
                genes.append(0)
        return tuple(genes)


_MISSING = object()


def _index_in(values: tuple[Any, ...], value: Any, label: str) -> int:
    for i, v in enumerate(values):
        if v == value and type(v) is type(value):
            return i
    for i, v in enumerate(values):
        if v == value or (isinstance(v, tuple) and list(v) == value):
            return i
    raise SearchSpaceError(f"value {value!r} of {label!r} is not one of its choices {list(values)!r}.")
