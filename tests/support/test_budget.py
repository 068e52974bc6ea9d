"""A CI run's share of the property tests' examples (tests/support/budget.py), and who uses it."""

from __future__ import annotations

import ast
import pathlib

import pytest

from tests.support import budget

TESTS = pathlib.Path(__file__).parents[1]


def test_a_run_without_the_variable_draws_every_example(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(budget.SHARE_VARIABLE, raising=False)
    assert budget.share() == 1.0
    assert budget.examples(300) == 300
    assert budget.seed(20231128) == 20231128


def test_a_shared_run_draws_its_fraction_from_seeds_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(budget.SHARE_VARIABLE, "0.25")
    assert budget.examples(300) == 75
    assert budget.examples(2000) == 500
    # Never below the minimum, never above what a full run draws.
    assert budget.examples(20) == 10
    assert budget.examples(4) == 4
    seeds = {budget.seed(20231128) for _ in range(4)}
    assert 20231128 not in seeds
    assert len(seeds) > 1


@pytest.mark.parametrize("raw", ["", "a quarter", "0", "-0.5", "1.5", "nan"])
def test_a_share_that_is_no_fraction_is_refused(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv(budget.SHARE_VARIABLE, raw)
    with pytest.raises(ValueError, match=budget.SHARE_VARIABLE):
        budget.examples(100)


def test_every_max_examples_in_the_suite_goes_through_the_budget() -> None:
    """A literal ``max_examples=N`` would run in full on every Python in CI."""
    literal: list[str] = []
    for path in sorted(TESTS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "max_examples":
                call = node.value
                through_budget = (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Name)
                    and call.func.id == "examples"
                )
                if not through_budget:
                    literal.append(f"{path.relative_to(TESTS)}:{node.lineno}")
    assert literal == []
