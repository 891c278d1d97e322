"""The finding contract (harness/diagnosis/model.py): category parsing and the gate."""

import pytest

from harness.diagnosis import CAUSES, UNEXPLAINED, Category, Confidence, Diagnosis, Finding, parse_categories


def _finding(cause: str, *, expected: str | None = None) -> Finding:
    category = CAUSES[cause].category if cause in CAUSES else Category.RESULTS
    return Finding(iut="x", method="rk4", cause_key=cause, title=cause, category=category,
                   confidence=Confidence.HIGH, checks=("c",), expected=expected)


def test_parse_categories_names_all_and_lists():
    assert parse_categories("results, gradients") == {Category.RESULTS, Category.GRADIENTS}
    assert parse_categories(["all"]) == frozenset(Category)


@pytest.mark.parametrize("text", ["result", "results,bogus", "", " , "])
def test_parse_categories_refuses_bad_input_in_one_line(text):
    with pytest.raises(ValueError) as err:
        parse_categories(text)
    assert "\n" not in str(err.value) and "valid:" in str(err.value)


def test_gate_fails_on_a_selected_category_only():
    diag = Diagnosis(findings=(_finding("input-mutation"),))  # a contract finding
    assert not diag.gate()
    assert diag.gate(parse_categories("results,gradients"))
    assert diag.failing(frozenset({Category.CONTRACT})) == diag.findings


def test_known_finding_never_gates_and_unexplained_is_marked():
    known = _finding("stage-times", expected="recorded evidence")
    assert Diagnosis(findings=(known,)).gate()
    assert _finding(UNEXPLAINED).unexplained and _finding(UNEXPLAINED).cause is None
    assert _finding("stage-times").cause.category is Category.RESULTS


def test_finding_category_is_its_causes():
    """A finding cannot name a cause and a different category (the gate reads the category); an
    unknown cause key is refused in one line; an unexplained finding takes its check's category."""
    from harness.diagnosis.model import CAUSES, UNEXPLAINED, Confidence, Finding

    kw = dict(iut="x", method="m", title="t", confidence=Confidence.LOW, checks=("c",))
    assert Finding(cause_key="grad-sign", category=Category.GRADIENTS, **kw).cause is CAUSES["grad-sign"]
    with pytest.raises(ValueError, match="of category gradients, not contract"):
        Finding(cause_key="grad-sign", category=Category.CONTRACT, **kw)
    with pytest.raises(ValueError, match="unknown cause key 'grad-sing'"):
        Finding(cause_key="grad-sing", category=Category.GRADIENTS, **kw)
    assert Finding(cause_key=UNEXPLAINED, category=Category.COST, **kw).unexplained
