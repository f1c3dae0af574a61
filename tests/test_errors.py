"""Option checks: one sentence naming the field from Python, the flag from the command line."""

import math

import pytest

from gruve.errors import OptionError, check_at_least, check_positive


@pytest.mark.parametrize("value", [0, -1, math.nan, math.inf, None])
def test_check_positive_refuses_what_is_not_a_finite_number_above_0(value):
    with pytest.raises(OptionError, match=rf"^temperature must be above 0 \(got {value}\)\.$"):
        check_positive(value, "temperature")


def test_check_positive_takes_a_number_above_0_and_none_where_optional():
    check_positive(0.5, "temperature")
    check_positive(None, "tail_temperature", optional=True)


def test_check_at_least_names_the_minimum():
    with pytest.raises(OptionError, match=r"^window must be at least 2 \(got 1\)\.$"):
        check_at_least(1, "window", 2)
    check_at_least(2, "window", 2)
    check_at_least(None, "bars", 1, optional=True)
    with pytest.raises(OptionError):
        check_at_least(None, "bars", 1)


def test_an_option_error_renders_each_field_as_the_caller_names_it():
    error = OptionError("mel", "choose {mel} or {envelope}, not both.")
    assert str(error) == "choose mel or envelope, not both."
    assert error.render(lambda field: "--" + field) == "choose --mel or --envelope, not both."
