"""dojo.testing.assert_close: tolerances, shapes, and naming the classic mistake."""

import numpy as np
import pytest

from dojo.testing import assert_close


def test_close_values_pass_and_far_values_fail_with_the_place_and_the_numbers():
    assert_close(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9]), what="x")
    with pytest.raises(AssertionError, match=r"x: values differ .* at index \(1,\)"):
        assert_close(np.array([1.0, 2.5]), np.array([1.0, 2.0]), what="x")


def test_a_shape_mismatch_and_a_missing_return_are_named():
    with pytest.raises(AssertionError, match=r"shape \(3,\), expected \(2,\)"):
        assert_close(np.zeros(3), np.zeros(2), what="x")
    with pytest.raises(AssertionError, match="did you forget to return"):
        assert_close(None, np.zeros(2), what="x")


def test_a_wrong_result_is_matched_against_the_suspects_in_order():
    right, wrong = np.array([0.5, 0.5]), np.array([1.0, 1.0])
    suspects = [("a forgotten average", lambda: np.array([2.0, 2.0])),
                ("the sum instead of the mean", wrong),          # a value works too
                ("a later match that is never reported", lambda: wrong)]
    with pytest.raises(AssertionError) as info:
        assert_close(wrong, right, what="mean", suspects=suspects)
    message = str(info.value)
    assert message.startswith("mean: values differ")
    assert message.endswith("Your result matches the sum instead of the mean.")


def test_suspects_are_not_computed_when_the_result_is_right():
    def explode():
        raise RuntimeError("computed although the result was right")

    assert_close(np.ones(2), np.ones(2), what="x", suspects=[("never", explode)])


def test_a_suspect_that_cannot_be_compared_is_skipped():
    with pytest.raises(AssertionError) as info:
        assert_close(np.ones(2), np.zeros(2), what="x",
                     suspects=[("a wrong shape", np.ones(3)), ("a crash", lambda: 1 / 0)])
    assert "Your result matches" not in str(info.value)


def test_forbid_builtins_refuses_calls_and_imports_by_name(monkeypatch):
    import types

    from dojo.testing import forbid_builtins

    owner = types.SimpleNamespace(softmax=lambda x: x)
    honest = types.SimpleNamespace(helper=lambda x: owner.softmax(x))
    forbid_builtins(monkeypatch, honest, {"F.softmax": (owner, "softmax")}, "use exp and sum")
    with pytest.raises(AssertionError, match="F.softmax is off limits in this kata: use exp"):
        honest.helper(1)

    monkeypatch.undo()
    sneaky = types.SimpleNamespace(softmax=owner.softmax)  # `from F import softmax`
    off_limits = r"imports built-ins that are off limits: \['softmax'\]"
    with pytest.raises(AssertionError, match=off_limits):
        forbid_builtins(monkeypatch, sneaky, {"F.softmax": (owner, "softmax")}, "use exp")
    assert owner.softmax(2) == 2, "monkeypatch restores the built-ins after the test"
