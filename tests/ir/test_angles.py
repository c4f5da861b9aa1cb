import math

import numpy as np
import pytest

from hqvit.ir.angles import Angle, AngleTable


def test_affine_arithmetic_is_exact():
    a = Angle.symbol("x") * 2 + 0.5
    b = Angle.symbol("y") - Angle.symbol("x") * 2
    s = a + b
    assert s.symbols == ("y",)
    assert s.const == 0.5
    assert (a - a).is_numeric and (a - a).const == 0.0
    assert (-a).bind({"x": 1.0}) == -2.5


def test_unbound_symbol_is_named():
    with pytest.raises(KeyError, match="'z'"):
        Angle.symbol("z").bind({})


def test_zero_mod_period():
    assert Angle(4 * math.pi).is_zero_mod(4 * math.pi)
    assert not Angle(math.pi).is_zero_mod(4 * math.pi)
    assert not Angle.symbol("x").is_zero_mod(4 * math.pi)


def test_table_matches_scalar_binding(rng):
    names = ["a", "b", "c"]
    angles = [Angle(0.3), Angle.symbol("a") * 2 + 1, Angle.symbol("b") - Angle.symbol("c") * 0.5, Angle.symbol("c")]
    table = AngleTable(angles, names)
    values = rng.normal(size=(5, 3))
    got = table.bind(values)
    for row, vals in zip(got, values, strict=True):
        want = [a.bind(dict(zip(names, vals, strict=True))) for a in angles]
        np.testing.assert_allclose(row, want, atol=1e-12)
