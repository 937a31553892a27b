"""Finite groups as tables: group axioms, sizes, classes, and one-line errors for bad names."""


import numpy as np
import pytest

from toymodels.algebra.groups import group
from toymodels.errors import ConfigError

ALL = ["C1", "C2", "C7", "C12", "D3", "D5", "D6", "S1", "S3", "S4", "S5", "S6", "A3", "A4", "A5", "A6",
       "C3xS3", "C2xC2xC2", "D4xC2"]
ORDERS = {"C7": 7, "D5": 10, "D6": 12, "S5": 120, "S6": 720, "A5": 60, "A6": 360, "C3xS3": 18, "C2xC2xC2": 8}
CLASSES = {"S4": 5, "S5": 7, "S6": 11, "A4": 4, "A5": 5, "A6": 7, "D5": 4, "D6": 6, "C7": 7, "C3xS3": 9}


@pytest.mark.parametrize("name", ALL)
def test_group_axioms(name):
    g = group(name)
    T, n = g.table, g.order
    assert (T[0] == np.arange(n)).all() and (T[:, 0] == np.arange(n)).all()  # identity at 0
    assert all((np.sort(row) == np.arange(n)).all() for row in T)  # Latin square
    assert (T[np.arange(n), g.inverse] == 0).all()
    rng = np.random.default_rng(0)
    a, b, c = rng.integers(0, n, (3, 2000))
    assert (T[T[a, b], c] == T[a, T[b, c]]).all()  # associativity
    sizes = np.bincount(g.class_of)
    assert sizes.sum() == n and all(n % s == 0 for s in sizes)


@pytest.mark.parametrize("name, order", ORDERS.items())
def test_orders(name, order):
    assert group(name).order == order


@pytest.mark.parametrize("name, k", CLASSES.items())
def test_number_of_conjugacy_classes(name, k):
    assert group(name).n_classes == k


def test_permutation_convention_and_abelian():
    g = group("S3")
    p = g.perms
    for a in range(6):
        for b in range(6):
            assert (p[g.table[a, b]] == p[a][p[b]]).all()  # (a∘b)(x) = a(b(x))
    assert not (g.table == g.table.T).all()
    assert (group("C3xC3").table == group("C3xC3").table.T).all()
    assert sorted(set(group("D6").element_order())) == [1, 2, 3, 6]
    assert group("S4").element_order().tolist().count(2) == 9  # 6 transpositions, 3 double transpositions


@pytest.mark.parametrize("name, message", [
    ("Q8", "unknown group 'Q8'"), ("S", "unknown group"), ("", "unknown group"),
    ("S7", "S7 is too large"), ("A9", "A9 is too large"), ("D2", "D_n needs n >= 3"),
    ("C40xC40", "at most 1000"),
])
def test_bad_names_are_config_errors(name, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        group(name)
