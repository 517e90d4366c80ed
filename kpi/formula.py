"""Derived-metric formulas: a tiny, safe arithmetic language over metric names and decimals."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import (
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import Literal, cast

# Enough digits that ratios of money figures (roi, aov, refund_rate) are exact for any
# realistic input; callers quantize for display.
PRECISION = 40
_CONTEXT = Context(prec=PRECISION, traps=[InvalidOperation, DivisionByZero, Overflow])

# Deep nesting is never a real formula; the cap keeps the recursive parser far from Python's
# recursion limit whatever text it is fed.
MAX_DEPTH = 64
_ZERO = Decimal(0)
MAX_LENGTH = 500

_TOKEN = re.compile(
    r"\s*(?:(?P<number>[0-9]+(?:\.[0-9]+)?|\.[0-9]+)|(?P<name>[a-z_][a-z0-9_]*)|(?P<op>[-+*/()]))"
)
NAME_PATTERN = re.compile(r"[a-z_][a-z0-9_]*")

Op = Literal["+", "-", "*", "/"]


@dataclass(frozen=True)
class Num:
    """A decimal literal, kept exactly as written."""

    value: Decimal


@dataclass(frozen=True)
class Name:
    """A reference to another metric."""

    name: str


@dataclass(frozen=True)
class Neg:
    """Unary minus."""

    operand: Node


@dataclass(frozen=True)
class BinOp:
    """A binary operation."""

    op: Op
    left: Node
    right: Node


Node = Num | Name | Neg | BinOp


@dataclass(frozen=True)
class _Token:
    kind: Literal["number", "name", "op", "end"]
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            start = pos + (len(text[pos:]) - len(text[pos:].lstrip()))
            raise ValueError(
                f"unexpected character {text[start]!r} at position {start + 1} in formula "
                f"{text!r}; use metric names, numbers, + - * / and parentheses"
            )
        kind = cast("Literal['number', 'name', 'op']", match.lastgroup)
        tokens.append(_Token(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    # A name or number directly followed by a name or number ("gmv refunds", "2x") is almost
    # always a sentence or a typo, never arithmetic.
    for before, after in itertools.pairwise(tokens):
        if before.kind in ("number", "name") and after.kind in ("number", "name"):
            raise ValueError(
                f"missing operator between {before.text!r} and {after.text!r} in formula {text!r}"
            )
    return tokens


class _Parser:
    """Recursive descent: expr := term (('+'|'-') term)*; term := unary (('*'|'/') unary)*;
    unary := '-' unary | primary; primary := number | name | '(' expr ')'."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def _fail(self, token: _Token, expected: str) -> ValueError:
        found = "the end" if token.kind == "end" else repr(token.text)
        return ValueError(
            f"expected {expected} but found {found} at position {token.pos + 1} in formula "
            f"{self.text!r}"
        )

    def parse(self) -> Node:
        node = self._expr()
        if self.current.kind != "end":
            raise self._fail(self.current, "an operator (+ - * /)")
        return node

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ValueError(f"formula nested too deeply (more than {MAX_DEPTH} levels)")

    def _expr(self) -> Node:
        node = self._term()
        while self.current.kind == "op" and self.current.text in "+-":
            op: Op = "+" if self.current.text == "+" else "-"
            self.index += 1
            node = BinOp(op, node, self._term())
        return node

    def _term(self) -> Node:
        node = self._unary()
        while self.current.kind == "op" and self.current.text in "*/":
            op: Op = "*" if self.current.text == "*" else "/"
            self.index += 1
            node = BinOp(op, node, self._unary())
        return node

    def _unary(self) -> Node:
        token = self.current
        if token.kind == "op" and token.text == "-":
            self.index += 1
            self._enter()
            operand = self._unary()
            self.depth -= 1
            return Neg(operand)
        return self._primary()

    def _primary(self) -> Node:
        token = self.current
        if token.kind == "number":
            self.index += 1
            return Num(Decimal(token.text))
        if token.kind == "name":
            self.index += 1
            return Name(token.text)
        if token.kind == "op" and token.text == "(":
            self.index += 1
            self._enter()
            node = self._expr()
            self.depth -= 1
            if not (self.current.kind == "op" and self.current.text == ")"):
                raise self._fail(self.current, "')'")
            self.index += 1
            return node
        raise self._fail(token, "a metric name, a number or '('")


def _names(node: Node) -> frozenset[str]:
    if isinstance(node, Name):
        return frozenset((node.name,))
    if isinstance(node, Neg):
        return _names(node.operand)
    if isinstance(node, BinOp):
        return _names(node.left) | _names(node.right)
    return frozenset()


def _additive(node: Node) -> bool:
    if isinstance(node, Name):
        return True
    if isinstance(node, Neg):
        return _additive(node.operand)
    if isinstance(node, BinOp):
        return node.op in "+-" and _additive(node.left) and _additive(node.right)
    return False


def _degree(node: Node) -> int:
    """The polynomial degree of a tree in its names, capped at 2 ("not linear"); a division
    by anything that reads a name is not linear either."""
    if isinstance(node, Num):
        return 0
    if isinstance(node, Name):
        return 1
    if isinstance(node, Neg):
        return _degree(node.operand)
    left, right = _degree(node.left), _degree(node.right)
    if node.op in "+-":
        return max(left, right)
    if node.op == "*":
        return min(left + right, 2)
    return left if right == 0 else 2


class _Undefined:
    """A result with no meaning (a ratio over zero), unlike an input nobody reported."""


_UNDEFINED = _Undefined()
_Result = Decimal | None | _Undefined


def _evaluate(node: Node, values: Mapping[str, Decimal | None]) -> _Result:
    """Evaluate a tree; ``None`` is an unreported input, ``_UNDEFINED`` a meaningless result."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Name):
        return values.get(node.name)
    if isinstance(node, Neg):
        operand = _evaluate(node.operand, values)
        return -operand if isinstance(operand, Decimal) else operand
    left = _evaluate(node.left, values)
    right = _evaluate(node.right, values)
    if isinstance(left, _Undefined) or isinstance(right, _Undefined):
        return _UNDEFINED
    if node.op in "+-":
        if left is None and right is None:
            return None
        # In a sum or difference an unreported input counts as 0 (issue 12): net_gmv is gmv
        # while no refund is reported. Callers name such inputs (``Formula.missing``).
        left = _ZERO if left is None else left
        right = _ZERO if right is None else right
        return left + right if node.op == "+" else left - right
    if left is None or right is None:
        # A product or ratio with an unreported side has no value (refund_rate without refunds).
        return _UNDEFINED
    if node.op == "*":
        return left * right
    if right.is_zero():
        # A ratio over nothing (roi with no ad spend) has no value; it is not zero.
        return _UNDEFINED
    return left / right


@dataclass(frozen=True)
class Formula:
    """A parsed formula such as ``gmv - refunds`` or ``(gmv - refunds) / ad_spend``.

    Attributes:
        text: the formula as written (surrounding whitespace removed).
        names: the metric names it reads.
    """

    text: str
    names: frozenset[str]
    tree: Node = field(repr=False, compare=False)

    @classmethod
    def parse(cls, text: str) -> Formula:
        """Parse a formula.

        Args:
            text: arithmetic over metric names (``[a-z_][a-z0-9_]*``) and decimal numbers with
                ``+ - * /``, parentheses and unary minus.

        Returns:
            The parsed formula.

        Raises:
            ValueError: the text is not such a formula; the message says where and why.
        """
        if not isinstance(text, str):
            raise ValueError(f"a formula is text, not {type(text).__name__}")
        stripped = text.strip()
        if not stripped:
            raise ValueError("empty formula; write e.g. 'gmv - refunds'")
        if len(stripped) > MAX_LENGTH:
            raise ValueError(f"formula longer than {MAX_LENGTH} characters")
        tree = _Parser(stripped).parse()
        return cls(stripped, _names(tree), tree)

    def evaluate(self, values: Mapping[str, Decimal | None]) -> Decimal | None:
        """Compute the formula exactly.

        Args:
            values: each metric's value; a missing name or ``None`` means "no value".

        Returns:
            The exact result, or ``None`` when it is undefined: a divisor is zero, or an
            operand of ``*`` or ``/`` has no value, or neither operand of ``+``/``-`` has one.
            An operand of ``+``/``-`` without a value, beside one with a value, counts as 0.
        """
        with localcontext(_CONTEXT):
            try:
                result = _evaluate(self.tree, values)
                return result if isinstance(result, Decimal) else None
            except (InvalidOperation, Overflow):
                # Only reachable with absurd magnitudes; "no value" is safer than a crash.
                return None

    @property
    def additive(self) -> bool:
        """Whether the formula only adds and subtracts metrics (``gmv - refunds``).

        Such a metric sums over days like a reported one, so a target on it scales with the
        days of a clipped period; a ratio or a product does not."""
        return _additive(self.tree)

    @property
    def linear(self) -> bool:
        """Whether the formula is linear in its inputs: sums and differences of metrics, each
        possibly multiplied or divided by constants (``gmv - refunds``, ``(gmv - refunds) *
        0.9``, ``gmv / 2``).

        Such a formula gives the same value on a period's totals as summed day by day, however
        the days its inputs were reported differ. A ratio or a product of metrics
        (``gmv / ad_spend``, ``orders * price``) does not: on totals over different days it
        misleads, so it is evaluated over the days all its inputs were reported
        (:func:`kpi.pace.aligned_values`). A constant term (``gmv + 100``) keeps a formula
        linear here: it does not depend on which days were reported."""
        return _degree(self.tree) <= 1

    def __str__(self) -> str:
        return self.text
