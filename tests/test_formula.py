"""Tests for kpi.formula: parsing, exact evaluation, "no value" and refusing anything else."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from decimal import Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi.formula import MAX_DEPTH, PRECISION, Formula

D = Decimal

VALUES: dict[str, Decimal | None] = {
    "gmv": D("60000"),
    "refunds": D("3000"),
    "ad_spend": D("15000"),
    "orders": D("400"),
    "zero": D("0"),
    "nothing": None,
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Precedence: * and / bind tighter than + and -, left to right within a level.
        ("1 + 2 * 3", D("7")),
        ("2 * 3 + 1", D("7")),
        ("10 - 4 - 3", D("3")),
        ("100 / 10 / 5", D("2")),
        ("8 / 4 * 2", D("4")),
        # Parentheses override precedence.
        ("(1 + 2) * 3", D("9")),
        ("10 - (4 - 3)", D("9")),
        ("((2))", D("2")),
        # Unary minus, including doubled and inside products.
        ("-3 + 5", D("2")),
        ("--3", D("3")),
        ("2 * -3", D("-6")),
        ("-(1 + 2)", D("-3")),
        # Exact decimals: no binary float rounding anywhere.
        ("0.1 + 0.2", D("0.3")),
        ("1.10 * 3", D("3.30")),
        (".5 + .25", D("0.75")),
        # Metric names.
        ("gmv - refunds", D("57000")),
        ("gmv / ad_spend", D("4")),
        ("(gmv - refunds) / ad_spend", D("3.8")),
        ("gmv / orders", D("150")),
        ("refunds / gmv", D("0.05")),
        ("gmv*2-refunds", D("117000")),
        # Whitespace is free.
        ("  gmv-refunds  ", D("57000")),
        ("gmv\t/\nad_spend", D("4")),
        # Division by zero has no value, wherever it happens.
        ("gmv / zero", None),
        ("zero / zero", None),
        ("1 + gmv / (refunds - 3000)", None),
        # A ratio or product with an unreported side has no value.
        ("gmv / missing", None),
        ("missing / gmv", None),
        ("zero * nothing", None),
        ("-nothing", None),
        # In a sum or difference an unreported input counts as 0 (issue 12, item 3):
        # gmv 60,000 - refunds (unreported) = 60,000 - 0.
        ("gmv - nothing", D("60000")),
        ("nothing + 1", D("1")),
        ("nothing - missing", None),  # nothing reported at all: no value
        # ...but a sum with an undefined ratio in it stays undefined, never "0".
        ("gmv + gmv / zero", None),
        ("(gmv - nothing) / ad_spend", D("4")),
    ],
)
def test_evaluate(text: str, expected: Decimal | None) -> None:
    result = Formula.parse(text).evaluate(VALUES)
    assert result == expected
    if expected is not None:
        assert type(result) is Decimal


def test_ratio_keeps_the_working_precision() -> None:
    # Well beyond the default 28 digits, so chained ratios lose nothing a cent could see.
    result = Formula.parse("1 / 3").evaluate({})
    assert result is not None
    assert result.as_tuple().digits == (3,) * PRECISION


def test_numbers_come_from_source_text() -> None:
    # Decimal(0.1) would be 0.1000000000000000055511151231257827...
    formula = Formula.parse("0.1")
    assert formula.evaluate({}) == D("0.1")
    assert str(formula.evaluate({})) == "0.1"


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("gmv - refunds", {"gmv", "refunds"}),
        ("gmv / gmv", {"gmv"}),
        ("(a + b_2) * _c / 3", {"a", "b_2", "_c"}),
        ("42", set()),
        ("-x", {"x"}),
    ],
)
def test_names(text: str, names: set[str]) -> None:
    assert Formula.parse(text).names == frozenset(names)


def test_text_is_kept_and_value_semantics() -> None:
    formula = Formula.parse("  gmv - refunds ")
    assert formula.text == "gmv - refunds"
    assert str(formula) == "gmv - refunds"
    assert formula == Formula.parse("gmv - refunds")
    assert hash(formula) == hash(Formula.parse("gmv - refunds"))
    with pytest.raises(AttributeError):
        formula.text = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("__import__('os')", "unexpected character"),
        ("__import__", None),  # a bare identifier is a (strange but harmless) metric name
        ("gmv.real", "unexpected character '.'"),
        ("os.system('x')", "unexpected character"),
        ("abs(gmv)", "found '('"),
        ("gmv(1)", "found '('"),
        ("gmv ** 2", "found '*'"),
        ("gmv // 2", "found '/'"),
        ("gmv % 2", "unexpected character '%'"),
        ("gmv[0]", "unexpected character '['"),
        ("lambda: 1", "unexpected character ':'"),
        ("gmv if orders else 1", "missing operator"),
        ("gmv refunds", "missing operator"),
        ("2gmv", "missing operator"),
        ("1e5", "missing operator"),
        ("GMV - refunds", "unexpected character 'G'"),
        ("gmv -", "found the end"),
        ("(gmv - refunds", "expected ')'"),
        ("gmv - refunds)", "found ')'"),
        ("()", "found ')'"),
        ("+gmv", "found '+'"),
        ("", "empty formula"),
        ("   ", "empty formula"),
        ("1,000 + gmv", "unexpected character ','"),
        ("٣ + 1", "unexpected character"),
        ("Gross merchandise value", "unexpected character 'G'"),
    ],
)
def test_rejects(text: str, fragment: str | None) -> None:
    if fragment is None:
        assert Formula.parse(text).names == {text}
        return
    with pytest.raises(ValueError, match="formula") as caught:
        Formula.parse(text)
    assert fragment in str(caught.value)


def test_rejects_deep_nesting_without_recursion_error() -> None:
    Formula.parse("(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH)
    too_deep = MAX_DEPTH + 1
    with pytest.raises(ValueError, match="nested too deeply"):
        Formula.parse("(" * too_deep + "1" + ")" * too_deep)
    with pytest.raises(ValueError, match="nested too deeply"):
        Formula.parse("-" * too_deep + "1")
    with pytest.raises(ValueError, match="longer than"):
        Formula.parse("(" * 5000 + "1" + ")" * 5000)


def test_rejects_non_text() -> None:
    with pytest.raises(ValueError, match="text"):
        Formula.parse(12)  # type: ignore[arg-type]


# -- properties ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expr:
    """A generated expression: its fully parenthesised text and its expected value."""

    text: str
    value: Decimal | None


NAMES = ("a", "b", "c")
ENV = {"a": D("12.5"), "b": D("-3"), "c": D("0")}

decimals = st.decimals(
    min_value=D("-1000"), max_value=D("1000"), places=2, allow_nan=False, allow_infinity=False
)


def _leaf() -> st.SearchStrategy[Expr]:
    # Negative literals are parenthesised so that "a - -1" style text stays readable.
    numbers = decimals.map(lambda d: Expr(f"({d})" if d < 0 else str(d), d))
    names = st.sampled_from(NAMES).map(lambda n: Expr(n, ENV[n]))
    return st.one_of(numbers, names)


def _combine(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    def build(op: str, left: Expr, right: Expr) -> Expr:
        text = f"({left.text} {op} {right.text})"
        if left.value is None or right.value is None:
            return Expr(text, None)
        if op == "+":
            return Expr(text, left.value + right.value)
        if op == "-":
            return Expr(text, left.value - right.value)
        if op == "*":
            return Expr(text, left.value * right.value)
        if right.value == 0:
            return Expr(text, None)
        return Expr(text, left.value / right.value)

    return st.builds(build, st.sampled_from("+-*/"), children, children)


expressions = st.recursive(_leaf(), _combine, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(expressions)
def test_evaluation_matches_direct_decimal_arithmetic(expr: Expr) -> None:
    # Recompute with the same precision the formula promises, so the comparison is exact.
    with localcontext() as ctx:
        ctx.prec = PRECISION
        expected = _reference(expr.text)
    assert Formula.parse(expr.text).evaluate(ENV) == expected


def _reference(text: str) -> Decimal | None:
    # An evaluator for the fully parenthesised text the strategy produces, independent of the
    # parser under test.
    tokens = text.replace("(", " ( ").replace(")", " ) ").split()
    position = 0

    def parse() -> Decimal | None:
        nonlocal position
        token = tokens[position]
        position += 1
        if token != "(":
            return ENV[token] if token in ENV else D(token)
        if tokens[position + 1] == ")":
            # "(-12.34)": a parenthesised negative literal.
            value = D(tokens[position])
            position += 2
            return value
        left = parse()
        op = tokens[position]
        position += 1
        right = parse()
        position += 1  # ")"
        if left is None or right is None:
            return None
        if op == "+":
            return left + right
        if op == "-":
            return left - right
        if op == "*":
            return left * right
        return None if right == 0 else left / right

    return parse()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab_19.+-*/() %e,'[]:x")), max_size=30))
def test_arbitrary_text_parses_or_raises_value_error(text: str) -> None:
    try:
        formula = Formula.parse(text)
    except ValueError:
        return
    result = formula.evaluate(dict.fromkeys(formula.names, D("2")))
    assert result is None or isinstance(result, Decimal)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_unicode_parses_or_raises_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        Formula.parse(text)
