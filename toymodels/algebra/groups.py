"""Finite groups as data: a multiplication table over element indices 0..|G|-1.

Families, by name (`group("S5")`):
    C<n>   cyclic, element k is k mod n; a∘b = a + b mod n
    D<n>   dihedral of order 2n (symmetries of the n-gon, n >= 3), element f*n + k is r^k s^f
           with r a rotation by 2π/n and s a reflection: r^k1 s^f1 ∘ r^k2 s^f2 = r^(k1 ± k2) s^(f1+f2)
    S<n>   symmetric, permutations of {0..n-1} in lexicographic order (identity first);
           (a∘b)(x) = a(b(x)), so a∘b applies b first
    A<n>   alternating, the even permutations of S<n> in the same order
    GxH    direct product, element i*|H| + j is (g_i, h_j); "C3xS3", "C2xC2xC2"

Every group has the identity at index 0. `Group.table[a, b]` is the index of a∘b.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import re

import numpy as np

from toymodels.errors import ConfigError

MAX_PERMUTATION_DEGREE = 6  # S6 has 720 elements; S7's 5040^2 table and 5040^3 logits are out of reach here
MAX_ORDER = 1000  # largest |G| built: the analyses hold |G|^2 x |G| logits per model


@dataclasses.dataclass(frozen=True, eq=False)
class Group:
    """A finite group as data.

    name      canonical name ("S5", "D6", "C3xS3")
    family    "C", "D", "S", "A" or "product"
    degree    n of C_n, D_n, S_n, A_n (0 for products)
    labels    a readable name per element ("(0 1 2)", "r^2 s", "3", "(1, r)")
    table     (|G|, |G|) int32: table[a, b] = a∘b
    perms     (|G|, m) permutation of {0..m-1} per element for S_n, A_n (m = n) and D_n (the
              n-gon's vertices); None for C_n and products
    factors   the factor groups of a direct product (empty otherwise)
    """

    name: str
    family: str
    degree: int
    labels: tuple[str, ...]
    table: np.ndarray
    perms: np.ndarray | None = None
    factors: tuple["Group", ...] = ()

    @property
    def order(self) -> int:
        return self.table.shape[0]

    def __len__(self) -> int:
        return self.order

    def __repr__(self) -> str:
        return f"Group({self.name}, order={self.order})"

    @functools.cached_property
    def inverse(self) -> np.ndarray:
        """(|G|,) index of each element's inverse."""
        return np.argmax(self.table == 0, axis=1).astype(np.int32)

    @functools.cached_property
    def class_of(self) -> np.ndarray:
        """(|G|,) conjugacy class index per element; classes are numbered by their smallest
        element, so class 0 is {identity}."""
        conj = self.table[self.table[:, :], self.inverse[:, None]]  # conj[h, g] = h g h^-1
        rep = conj.min(axis=0)
        _, cls = np.unique(rep, return_inverse=True)
        return cls.astype(np.int32)

    @property
    def n_classes(self) -> int:
        return int(self.class_of.max()) + 1

    def conjugacy_classes(self) -> list[np.ndarray]:
        """Element indices of each conjugacy class, in class-index order."""
        return [np.nonzero(self.class_of == k)[0] for k in range(self.n_classes)]

    def element_order(self) -> np.ndarray:
        """(|G|,) order of each element."""
        out = np.zeros(self.order, np.int64)
        power = np.arange(self.order)
        for k in range(1, self.order + 1):
            hit = (power == 0) & (out == 0)
            out[hit] = k
            if out.all():
                break
            power = self.table[power, np.arange(self.order)]
        return out

    def point_stabilisers(self) -> list[tuple[str, np.ndarray]]:
        """(name, member mask) of the stabiliser of each point of the natural action
        (S_n, A_n: {0..n-1}; D_n: the n-gon's vertices). Empty for groups without one."""
        if self.perms is None:
            return []
        return [(f"Stab({i})", self.perms[:, i] == i) for i in range(self.perms.shape[1])]


# ---------------------------------------------------------------------------------------------
# Families


def cyclic(n: int) -> Group:
    if n < 1:
        raise ConfigError(f"C_n needs n >= 1 (got {n})")
    x = np.arange(n)
    table = ((x[:, None] + x[None, :]) % n).astype(np.int32)
    return Group(f"C{n}", "C", n, tuple(str(k) for k in range(n)), table)


def dihedral(n: int) -> Group:
    """D_n of order 2n, n >= 3. Element f*n + k is r^k s^f; perms are the action on vertices
    (r: v -> v+1, s: v -> -v)."""
    if n < 3:
        raise ConfigError(f"D_n needs n >= 3 (got {n}; D1 = C2 and D2 = C2xC2)")
    k, f = np.divmod(np.arange(2 * n), n)[::-1]  # element index i -> (k, f)
    sign = np.where(f == 0, 1, -1)
    kk = (k[:, None] + sign[:, None] * k[None, :]) % n
    ff = f[:, None] ^ f[None, :]
    table = (ff * n + kk).astype(np.int32)
    v = np.arange(n)
    perms = ((sign[:, None] * v[None, :] + k[:, None]) % n).astype(np.int32)  # r^k s^f (v) = k ± v
    labels = tuple(("e" if kk_ == 0 else f"r^{kk_}") + (" s" if ff_ else "") for kk_, ff_ in zip(k, f))
    labels = tuple(lab.replace("e s", "s") for lab in labels)
    return Group(f"D{n}", "D", n, labels, table, perms)


def _permutation_group(name: str, family: str, n: int, perms: np.ndarray) -> Group:
    """Table of a group of permutations (rows of `perms`, closed under composition)."""
    perms = np.asarray(perms, np.int32)
    m = perms.shape[0]
    codes = _perm_codes(perms, n)
    order = np.argsort(codes)
    composed = perms[np.arange(m)[:, None, None], perms[None, :, :]]  # [a, b, x] = a(b(x))
    pos = np.searchsorted(codes[order], _perm_codes(composed.reshape(-1, n), n))
    table = order[pos].reshape(m, m).astype(np.int32)
    labels = tuple(_cycle_label(p) for p in perms)
    return Group(name, family, n, labels, table, perms)


def _perm_codes(perms: np.ndarray, n: int) -> np.ndarray:
    """An injective integer code of each permutation row (base-n digits)."""
    return perms.astype(np.int64) @ (n ** np.arange(n - 1, -1, -1, dtype=np.int64))


def _cycle_label(p: np.ndarray) -> str:
    seen, cycles = set(), []
    for start in range(len(p)):
        if start in seen:
            continue
        cyc, x = [], start
        while x not in seen:
            seen.add(x)
            cyc.append(int(x))
            x = int(p[x])
        if len(cyc) > 1:
            cycles.append("(" + " ".join(map(str, cyc)) + ")")
    return "".join(cycles) or "e"


def permutation_sign(perms: np.ndarray) -> np.ndarray:
    """(m,) +1 for even permutations, -1 for odd (parity of the inversion count)."""
    perms = np.asarray(perms)
    inv = (perms[:, :, None] > perms[:, None, :]) & np.triu(np.ones((perms.shape[1],) * 2, bool), 1)
    return np.where(inv.sum(axis=(1, 2)) % 2 == 0, 1, -1)


def symmetric(n: int) -> Group:
    if not 1 <= n <= MAX_PERMUTATION_DEGREE:
        raise ConfigError(f"S{n} is too large to build here: S_n needs 1 <= n <= {MAX_PERMUTATION_DEGREE}"
                          if n > MAX_PERMUTATION_DEGREE else f"S_n needs n >= 1 (got {n})")
    perms = np.array(list(itertools.permutations(range(n))), np.int32)
    return _permutation_group(f"S{n}", "S", n, perms)


def alternating(n: int) -> Group:
    if not 1 <= n <= MAX_PERMUTATION_DEGREE:
        raise ConfigError(f"A{n} is too large to build here: A_n needs 1 <= n <= {MAX_PERMUTATION_DEGREE}"
                          if n > MAX_PERMUTATION_DEGREE else f"A_n needs n >= 1 (got {n})")
    perms = np.array(list(itertools.permutations(range(n))), np.int32)
    perms = perms[permutation_sign(perms) == 1]
    return _permutation_group(f"A{n}", "A", n, perms)


def direct_product(*groups: Group) -> Group:
    if len(groups) == 1:
        return groups[0]
    g, h = groups[0], direct_product(*groups[1:])
    if g.order * h.order > MAX_ORDER:
        raise ConfigError(f"{g.name}x{h.name} has {g.order * h.order} elements; at most {MAX_ORDER} are supported")
    i, j = np.divmod(np.arange(g.order * h.order), h.order)
    table = (g.table[i[:, None], i[None, :]] * h.order + h.table[j[:, None], j[None, :]]).astype(np.int32)
    labels = tuple(f"({g.labels[a]}, {h.labels[b]})" for a, b in zip(i, j))
    factors = (g,) + (h.factors if h.family == "product" else (h,))
    return Group("x".join(f.name for f in factors), "product", 0, labels, table, None, factors)


# ---------------------------------------------------------------------------------------------
# Names

_FAMILIES = {"C": cyclic, "D": dihedral, "S": symmetric, "A": alternating}
_NAME = re.compile(r"^([CDSA])(\d{1,4})$")


@functools.lru_cache(maxsize=32)
def group(name: str) -> Group:
    """The group named `name`: "C7", "D6", "S5", "A4", products "C3xS3" (case-insensitive
    family letters and separator). Unknown or too-large groups raise ConfigError (one line)."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"unknown group {name!r}; expected e.g. S5, A4, D6, C7, C3xS3")
    parts = [p.strip() for p in re.split(r"[x×*]", name.strip(), flags=re.IGNORECASE)]
    parsed = []
    for part in parts:
        m = _NAME.match(part.upper())
        if not m:
            raise ConfigError(f"unknown group {name!r}; expected C<n>, D<n>, S<n>, A<n> or a product like C3xS3")
        parsed.append((m.group(1), int(m.group(2))))
    size = math.prod(_order_of(f, n) for f, n in parsed)
    if size > MAX_ORDER:
        raise ConfigError(f"group {name!r} has {size} elements; at most {MAX_ORDER} are supported")
    built = [_FAMILIES[f](n) for f, n in parsed]
    return direct_product(*built)


def _order_of(family: str, n: int) -> int:
    if family in ("S", "A") and n > MAX_PERMUTATION_DEGREE:
        raise ConfigError(f"{family}{n} is too large to build here: {family}_n needs n <= {MAX_PERMUTATION_DEGREE}")
    return {"C": n, "D": 2 * n, "S": math.factorial(n), "A": max(math.factorial(n) // 2, 1)}[family]


def group_order(name: str) -> int:
    """|G| for a group name, without building it (ConfigError for unknown names)."""
    parts = [p.strip() for p in re.split(r"[x×*]", name.strip(), flags=re.IGNORECASE)]
    total = 1
    for part in parts:
        m = _NAME.match(part.upper())
        if not m:
            raise ConfigError(f"unknown group {name!r}; expected C<n>, D<n>, S<n>, A<n> or a product like C3xS3")
        total *= _order_of(m.group(1), int(m.group(2)))
    return total
