"""Constraints on a search space: which configurations may be proposed at all.

A constraint is either a string, a Python boolean expression over parameter names (the T1
format's `Conditions`, e.g. `"block_size_x * block_size_y <= 1024"`), or a callable that takes
the configuration (as the objective receives it) and returns a truthy value when it is allowed.

Strings are parsed with `ast` and checked node by node: numbers, strings, parameter names
(dotted for nested spaces: `outer.inner`), arithmetic (`+ - * / // % **`, unary `- +`),
comparisons (chained too, `in`/`not in` a literal tuple or list), `and`/`or`/`not`, the
conditional expression `a if c else b` and parentheses. Anything else (calls, attributes
that are not parameters, subscripts, lambdas, comprehensions, ...) is rejected with its name.
The validated tree is compiled once to a Python function of the parameters' values, so a check
costs about a microsecond; `eval` of user text never happens.

A constraint that names a parameter which is knocked out (absent) in a configuration holds for
that configuration: it is about values that are not there.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

from compileiq.errors import ConstraintError

if TYPE_CHECKING:
    from compileiq.search_spaces.space import Genome, SearchSpace

__all__ = ["Constraint", "ConstraintInput", "Constraints", "Quantity", "parse_expression"]

ConstraintInput = Union[str, Callable[[Any], Any]]

_BIN_OPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_UNARY_OPS = (ast.Not, ast.USub, ast.UAdd)
_COMPARE_OPS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn)
_CONSTANTS = (int, float, str, bool)

_NAMES = {
    ast.Call: "a function call", ast.Attribute: "an attribute", ast.Subscript: "a subscript",
    ast.Lambda: "a lambda", ast.ListComp: "a list comprehension", ast.SetComp: "a set comprehension",
    ast.DictComp: "a dict comprehension", ast.GeneratorExp: "a generator expression",
    ast.NamedExpr: "an assignment expression (:=)", ast.JoinedStr: "an f-string", ast.Dict: "a dict",
    ast.Starred: "a starred expression", ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield from",
    ast.BitAnd: "the bitwise operator &", ast.BitOr: "the bitwise operator |", ast.BitXor: "the operator ^",
    ast.LShift: "the operator <<", ast.RShift: "the operator >>", ast.Invert: "the operator ~",
    ast.MatMult: "the operator @", ast.Is: "the operator 'is'", ast.IsNot: "the operator 'is not'",
}


def _describe(node: ast.AST) -> str:
    return _NAMES.get(type(node), type(node).__name__)


def _dotted(node: ast.AST) -> tuple[str, ...] | None:
    """`a.b.c` as ("a", "b", "c"); None when the node is not a plain dotted name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return tuple(reversed(parts))


class _Validator(ast.NodeTransformer):
    """Rejects every construct outside the allowed subset; replaces parameter names by `_pN`."""

    def __init__(self, text: str, resolve: Callable[[tuple[str, ...]], int]) -> None:
        self.text = text
        self.resolve = resolve
        self.used: dict[int, None] = {}

    def _forbid(self, node: ast.AST, what: str | None = None) -> None:
        snippet = ast.get_source_segment(self.text, node) or ""
        at = f" `{snippet}`" if snippet else ""
        raise ConstraintError(
            f"constraint {self.text!r} uses {what or _describe(node)}{at}, which constraints do not allow. "
            "Allowed: numbers, strings, parameter names, + - * / // % **, comparisons, in/not in a literal "
            "tuple, and/or/not, `a if c else b` and parentheses; for anything else pass a callable that "
            "takes the configuration dict."
        )

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, (ast.operator, ast.boolop, ast.cmpop, ast.unaryop, ast.expr_context)):
            return node  # checked by the node that holds it
        if isinstance(node, ast.Expression):
            return super().generic_visit(node)
        if isinstance(node, ast.BoolOp):
            return super().generic_visit(node)
        if isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, _UNARY_OPS):
                self._forbid(node, _describe(node.op))
            return super().generic_visit(node)
        if isinstance(node, ast.BinOp):
            if not isinstance(node.op, _BIN_OPS):
                self._forbid(node, _describe(node.op))
            return super().generic_visit(node)
        if isinstance(node, ast.Compare):
            for op, right in zip(node.ops, node.comparators):
                if not isinstance(op, _COMPARE_OPS):
                    self._forbid(node, _describe(op))
                if isinstance(op, (ast.In, ast.NotIn)) and not isinstance(right, (ast.Tuple, ast.List)):
                    self._forbid(right, "'in' with something other than a literal tuple or list")
            return super().generic_visit(node)
        if isinstance(node, (ast.Tuple, ast.List)):
            return super().generic_visit(node)
        if isinstance(node, ast.IfExp):
            return super().generic_visit(node)
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, _CONSTANTS):
                self._forbid(node, f"the constant {node.value!r}")
            return node
        if isinstance(node, (ast.Name, ast.Attribute)):
            path = _dotted(node)
            if path is None:
                self._forbid(node)
            if isinstance(node, ast.Name) and node.id in ("True", "False"):
                return node
            try:
                index = self.resolve(path)  # type: ignore[arg-type]
            except ConstraintError as exc:
                if isinstance(node, ast.Attribute):
                    try:
                        self.resolve(path[:1])  # type: ignore[index]
                    except ConstraintError:
                        pass
                    else:
                        self._forbid(node)  # an attribute of a parameter's value
                raise ConstraintError(f"constraint {self.text!r} {exc}") from None
            self.used[index] = None
            return ast.copy_location(ast.Name(id=f"_p{index}", ctx=ast.Load()), node)
        self._forbid(node)
        return node  # pragma: no cover - _forbid raises

    def visit(self, node: ast.AST) -> ast.AST:
        return self.generic_visit(node)


def parse_expression(text: str, resolve: Callable[[tuple[str, ...]], int]) -> tuple[Callable[..., Any], list[int]]:
    """Validate `text` and compile it to a function of the values of the parameters it names.

    `resolve` maps a dotted name to a parameter index (raising ConstraintError when unknown).
    Returns the function and the parameter indices, in the order of its arguments.
    """
    if not isinstance(text, str) or not text.strip():
        raise ConstraintError(f"constraint {text!r} is empty; pass an expression such as 'x * y <= 1024'.")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConstraintError(
            f"constraint {text!r} is not a Python expression ({exc.msg}); write a boolean expression "
            "over parameter names, e.g. 'block_size_x * block_size_y <= 1024'."
        ) from None
    validator = _Validator(text.strip(), resolve)
    body = validator.visit(tree)
    used = list(validator.used)
    return _lambda(body.body, used, text), used  # type: ignore[attr-defined]


def _lambda(body: ast.expr, used: list[int], label: str) -> Callable[..., Any]:
    """Compile a validated, name-free expression to a function of `_p{i}` for i in `used`."""
    args = [ast.arg(arg=f"_p{i}") for i in used]
    function = ast.Expression(
        body=ast.Lambda(
            args=ast.arguments(posonlyargs=[], args=args, vararg=None, kwonlyargs=[], kw_defaults=[],
                               kwarg=None, defaults=[]),
            body=body,
        )
    )
    ast.fix_missing_locations(function)
    code = compile(function, f"<constraint {label!r}>", "eval")
    return eval(code, {"__builtins__": {}})  # type: ignore[no-any-return]  # noqa: S307 - validated, name-free


@dataclass(frozen=True)
class Quantity:
    """An arithmetic sub-expression of an expression constraint that reads two or more parameters
    (`block_size_x * block_size_y` in `32 <= block_size_x * block_size_y <= 1024`): a derived
    quantity the constraint's author found worth bounding, such as a thread count."""

    text: str  # as written in the constraint
    key: str  # normalized text, for de-duplication
    genes: tuple[int, ...]
    function: Callable[..., Any]  # of the genes' values, in `genes` order; elementwise on numpy arrays


def _arithmetic(node: ast.AST) -> bool:
    if isinstance(node, ast.BinOp):
        return _arithmetic(node.left) and _arithmetic(node.right)
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, (ast.USub, ast.UAdd)) and _arithmetic(node.operand)
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
    return isinstance(node, ast.Name) and node.id.startswith("_p")


def _quantities(text: str, node: ast.AST, out: dict[str, Quantity]) -> None:
    """Collect the maximal arithmetic operands of comparisons (and of `%`) under `node`."""
    if isinstance(node, ast.Compare):
        for operand in [node.left, *node.comparators]:
            _quantities(text, operand, out)
        return
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):  # divisibility: its operands
        _quantities(text, node.left, out)
        _quantities(text, node.right, out)
        return
    if _arithmetic(node):
        names = sorted({int(n.id[2:]) for n in ast.walk(node) if isinstance(n, ast.Name)})
        key = ast.unparse(node)
        if len(names) >= 2 and isinstance(node, ast.expr) and key not in out:
            out[key] = Quantity(ast.get_source_segment(text, node) or key, key, tuple(names),
                                _lambda(node, names, text))
        return
    for child in ast.iter_child_nodes(node):
        _quantities(text, child, out)


def _callable_fingerprint(fn: Callable[..., Any]) -> str:
    target = fn if hasattr(fn, "__code__") else type(fn)
    name = f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"
    method = vars(type(fn)).get("__call__")
    code = getattr(fn, "__code__", None) or getattr(method, "__code__", None)
    digest = ""
    if code is not None:
        digest = hashlib.sha256(code.co_code + repr(code.co_consts).encode()).hexdigest()[:16]
    return f"callable:{name}:{digest}"


@dataclass(frozen=True)
class Constraint:
    """One compiled constraint: its source, the genes it reads and its check."""

    source: ConstraintInput
    genes: tuple[int, ...]  # the parameters an expression reads; empty for a callable
    function: Callable[..., Any]

    @property
    def text(self) -> str:
        """How the constraint reads in messages: the expression, or the callable's name."""
        if isinstance(self.source, str):
            return self.source
        return getattr(self.source, "__qualname__", None) or type(self.source).__qualname__

    @property
    def is_callable(self) -> bool:
        return not isinstance(self.source, str)

    def fingerprint(self) -> str:
        if isinstance(self.source, str):
            return "expr:" + ast.dump(ast.parse(self.source.strip(), mode="eval"))
        return _callable_fingerprint(self.source)


class Constraints:
    """The compiled constraints of one search space; `check(genome)` says if it is allowed."""

    def __init__(self, space: SearchSpace, constraints: Sequence[ConstraintInput]) -> None:
        if isinstance(constraints, (str, bytes)) or callable(constraints):
            constraints = [constraints]
        if not isinstance(constraints, Sequence):
            raise ConstraintError(
                f"constraints={constraints!r} ({type(constraints).__name__}) is not a list; pass a list of "
                "expressions (strings) or callables."
            )
        self.space = space
        self._names = self._name_table(space)
        # the values each gene stands for, by position (knocked-out genes never reach a lookup)
        self._values = [tuple(p.config.at(i) for i in range(p.size)) for p in space.params]
        items: list[Constraint] = []
        for item in constraints:
            if isinstance(item, str):
                function, genes = parse_expression(item, self._resolve)
                items.append(Constraint(item, tuple(genes), function))
            elif callable(item):
                items.append(Constraint(item, (), item))
            else:
                raise ConstraintError(
                    f"constraint {item!r} ({type(item).__name__}) is neither an expression string nor a "
                    "callable; pass e.g. 'x * y <= 1024' or lambda config: config['x'] < config['y']."
                )
        self.items = tuple(items)
        self.has_callables = any(c.is_callable for c in items)

    # -- names -----------------------------------------------------------------------------

    @staticmethod
    def _name_table(space: SearchSpace) -> dict[tuple[str, ...], list[int]]:
        table: dict[tuple[str, ...], list[int]] = {}
        for index, param in enumerate(space.params):
            table.setdefault(param.path, []).append(index)
            if len(param.path) > 1:  # the leaf name alone, when unambiguous
                table.setdefault(param.path[-1:], []).append(index)
        return table

    def _resolve(self, path: tuple[str, ...]) -> int:
        found = self._names.get(path)
        name = ".".join(path)
        if not found:
            known = sorted({".".join(p) for p in self._names})
            close = difflib.get_close_matches(name, known, 1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConstraintError(
                f"names the unknown parameter {name!r}.{hint} Parameters: {', '.join(known)}."
            )
        if len(found) > 1:
            options = sorted({self.space.params[i].label for i in found})
            raise ConstraintError(
                f"names {name!r}, which is ambiguous: it is {', '.join(options)}; write the full dotted "
                "path (for a list of spaces, use a callable)."
            )
        return found[0]

    def quantities(self) -> list[Quantity]:
        """The derived quantities the expression constraints name: each maximal arithmetic
        operand of a comparison or of `%` that reads at least two parameters, once per
        normalized text, in order of appearance (callables name none)."""
        out: dict[str, Quantity] = {}
        for item in self.items:
            if isinstance(item.source, str):
                text = item.source.strip()
                tree = _Validator(text, self._resolve).visit(ast.parse(text, mode="eval"))
                _quantities(text, tree.body, out)  # type: ignore[attr-defined]
        return list(out.values())

    # -- checks ----------------------------------------------------------------------------

    def check(self, genome: Genome) -> bool:
        """True when `genome` satisfies every constraint (absent parameters satisfy any)."""
        memo: list[Any] = []
        return all(self.holds(item, genome, memo) for item in self.items)

    def violated(self, genome: Genome) -> str | None:
        """The first constraint `genome` violates, as text, or None."""
        memo: list[Any] = []
        for item in self.items:
            if not self.holds(item, genome, memo):
                return item.text
        return None

    def holds(self, item: Constraint, genome: Sequence[int], memo: list[Any]) -> bool:
        """Whether one constraint holds for `genome` (`memo` caches its decoded configuration)."""
        if not item.is_callable:
            args = []
            for gene in item.genes:
                position = genome[gene]
                if position < 0:
                    return True  # a knocked-out parameter: nothing to constrain
                args.append(self._values[gene][position])
        else:
            if not memo:
                memo.append(self.space.decode(tuple(genome)))
            args = [memo[0]]
        try:
            return bool(item.function(*args))
        except Exception as exc:  # noqa: BLE001 - reported with the configuration
            raise self._failure(item, tuple(genome), exc) from exc

    def _failure(self, item: Constraint, genome: Genome, exc: Exception) -> ConstraintError:
        config = self.space.decode(genome)
        kind = "callable" if item.is_callable else "expression"
        return ConstraintError(
            f"constraint {kind} {item.text!r} raised {type(exc).__name__}: {exc} for the configuration "
            f"{config!r}. A constraint must return True or False for every configuration; guard the "
            "failing case (e.g. 'y != 0 and x % y == 0')."
        )

    # -- identity --------------------------------------------------------------------------

    def fingerprints(self) -> list[str]:
        return [c.fingerprint() for c in self.items]

    def to_json(self) -> list[dict[str, str]]:
        """What the journal keeps: each expression, or a callable's name and code hash."""
        out = []
        for item in self.items:
            if item.is_callable:
                out.append({"callable": item.fingerprint()})
            else:
                out.append({"expression": str(item.source)})
        return out
