"""NAME=PATH flag values, shared by evaluate.py and rate.py."""

import pytest

from animegan_face.flag_values import named_paths


def test_names_keep_their_order_and_paths_may_hold_equals_signs():
    assert list(named_paths(["b=runs/x", "a=out/y=z"], "model").items()) == [
        ("b", "runs/x"), ("a", "out/y=z")]


@pytest.mark.parametrize("value", ["noequals", "=path", "name="])
def test_a_value_that_is_not_name_equals_path_names_the_flag(value):
    with pytest.raises(ValueError, match=f"--outputs expects NAME=DIR, got '{value}'"):
        named_paths([value], "outputs", path_word="DIR")


def test_a_name_given_twice_is_refused():
    with pytest.raises(ValueError, match="--model: model name 'a' given twice"):
        named_paths(["a=x", "a=y"], "model")
