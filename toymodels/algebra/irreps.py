"""Every real irreducible representation of a finite group, computed from the group.

Constructions
- C_n:  ρ_k(x) = rotation by 2πkx/n for 0 < k < n/2 (names "k=1", "k=2", ...), the trivial
        irrep, and for even n the 1-d irrep (-1)^x ("k=n/2"). Fourier analysis on Z_p is this.
- D_n:  ρ_k(r^j s^f) = R(2πkj/n) F^f with F = diag(1, -1), 0 < k < n/2 ("k=1", ...); the 1-d
        irreps "trivial", "sign" (reflections -1) and, for even n, "alt" (r -> -1, s -> +1) and
        "alt_sign" (r -> -1, s -> -1).
- S_n:  Young's orthogonal form on standard Young tableaux, one irrep per partition λ; the
        matrix of every element is built from those of the adjacent transpositions. Names:
        "trivial" (n), "sign" (1^n), "standard" (n-1,1), "standard_sign" (2,1^(n-2)), otherwise
        the partition "(3,1,1)"; the partition is always an alias.
- any other group (A_n, direct products; also available for every group as `general_irreps`):
        decompose the regular representation. A random element of the right group algebra,
        M = Σ_h r(h) R(h) with r(h) = r(h^-1), is a symmetric matrix commuting with every
        left-translation L(g); for generic r each eigenspace of M is one irreducible real
        L-invariant subspace U, and ρ(g) = Uᵀ L(g) U. Eigenspaces with equal characters are
        the same irrep; one of each is kept. A_n irreps are named after the S_n irrep they come
        from (a split one gets "a"/"b"), product irreps "A⊗B" after the factors' irreps.

Real irreps and complex ones
Every irrep here is a real orthogonal representation ρ: G -> O(d). A complex irrep χ whose
character is not real ("complex type") has no real form; it and its conjugate χ̄ appear
together as ONE real irrep of dimension 2·dim χ, its realification, with character χ + χ̄
(C_n's rotations are these). A quaternionic-type χ (real character, no real form; none of the
groups built here has one) appears as one real irrep of dimension 2·dim χ, character 2χ.
`Irrep.kind` says which: "real", "complex", "quaternionic", and `Irrep.endo_dim` e = <χ, χ>
= dim End_G(W) is 1, 2, 4 respectively.

How Σ d² = |G| reads for real irreps
The matrix entries g -> ρ(g)_ij of a real irrep W of dimension d span a subspace of R^|G| of
dimension d²/e (the real isotypic component of W in the regular representation). These
subspaces are mutually orthogonal and together span R^|G|, so Σ_W d_W²/e_W = |G|: for S_n
(all real type) that is the usual Σ d² = n!, for C_p it is 1 + 2·(p-1)/2 = p. `Irrep.span_basis`
is an orthonormal basis of that subspace; `projection_basis` stacks them into an orthogonal
|G|x|G| matrix. Characters are orthogonal with <χ_W, χ_W> = e_W.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools

import numpy as np

from toymodels.algebra.groups import Group
from toymodels.algebra.groups import group as _group
from toymodels.errors import ConfigError

KIND_OF_ENDO = {1: "real", 2: "complex", 4: "quaternionic"}


@dataclasses.dataclass(frozen=True, eq=False)
class Irrep:
    """One real irreducible representation: matrices[g] is ρ(g) (orthogonal, float64)."""

    name: str
    matrices: np.ndarray
    aliases: tuple[str, ...] = ()

    @property
    def dim(self) -> int:
        return self.matrices.shape[-1]

    @functools.cached_property
    def character(self) -> np.ndarray:
        return np.trace(self.matrices, axis1=1, axis2=2)

    @property
    def endo_dim(self) -> int:
        """e = <χ, χ> = dim End_G(W): 1 real type, 2 complex type (realified), 4 quaternionic."""
        return int(round(float(self.character @ self.character) / len(self.character)))

    @property
    def kind(self) -> str:
        return KIND_OF_ENDO.get(self.endo_dim, "reducible?")

    @property
    def span_dim(self) -> int:
        """Dimension of the span of the matrix entries in R^|G|: d²/e."""
        return self.dim**2 // self.endo_dim

    @functools.cached_property
    def span_basis(self) -> np.ndarray:
        """(span_dim, |G|) orthonormal rows spanning {g -> ρ(g)_ij}."""
        entries = self.matrices.reshape(len(self.matrices), -1).T  # (d², |G|)
        _, s, vt = np.linalg.svd(entries, full_matrices=False)
        rank = int(np.sum(s > 1e-8 * s[0]))
        if rank != self.span_dim:
            raise AssertionError(f"irrep {self.name}: entries span {rank} dims, expected {self.span_dim}")
        return vt[:rank]

    def kernel(self) -> np.ndarray:
        """(|G|,) bool: ρ(g) = I."""
        return np.all(np.abs(self.matrices - np.eye(self.dim)) < 1e-8, axis=(1, 2))

    def __repr__(self) -> str:
        return f"Irrep({self.name}, dim={self.dim}, {self.kind})"


# ---------------------------------------------------------------------------------------------
# Public entry points


def irreps(g: Group | str) -> tuple[Irrep, ...]:
    """All real irreps of a group (or group name), trivial first, then by dimension."""
    g = _group(g) if isinstance(g, str) else g
    return _irreps_cached(g.name)


@functools.lru_cache(maxsize=32)
def _irreps_cached(name: str) -> tuple[Irrep, ...]:
    g = _group(name)
    build = {"C": cyclic_irreps, "D": dihedral_irreps, "S": symmetric_irreps,
             "A": alternating_irreps, "product": product_irreps}[g.family]
    return _ordered(build(g))


def irrep_names(g: Group | str) -> list[str]:
    return [r.name for r in irreps(g)]


def irrep_index(g: Group | str, name: str) -> int:
    """Index of the irrep called `name` (or one of its aliases); ConfigError if none."""
    reps = irreps(g)
    for i, r in enumerate(reps):
        if name == r.name or name in r.aliases:
            return i
    gname = g if isinstance(g, str) else g.name
    raise ConfigError(f"unknown irrep {name!r} of {gname}; known: {', '.join(r.name for r in reps)}")


def character_table(g: Group | str) -> tuple[np.ndarray, list[np.ndarray]]:
    """(n_irreps, n_classes) characters at one element of each class, and the classes."""
    g = _group(g) if isinstance(g, str) else g
    classes = g.conjugacy_classes()
    reps = [c[0] for c in classes]
    return np.stack([r.character[reps] for r in irreps(g)]), classes


def projection_basis(g: Group | str) -> tuple[np.ndarray, np.ndarray]:
    """(|G|, |G|) orthogonal matrix whose rows are every irrep's `span_basis` in irrep order,
    and (|G|,) the irrep index of each row. `B @ v` splits v ∈ R^|G| into irrep parts."""
    reps = irreps(g)
    basis = np.concatenate([r.span_basis for r in reps])
    owner = np.concatenate([np.full(r.span_dim, i) for i, r in enumerate(reps)])
    return basis, owner


def _ordered(reps: list[Irrep]) -> tuple[Irrep, ...]:
    trivial = [r for r in reps if r.name == "trivial"]
    rest = [r for r in reps if r.name != "trivial"]
    order = {id(r): i for i, r in enumerate(rest)}  # ties keep the builder's order (S_n: partitions)
    return tuple(trivial + sorted(rest, key=lambda r: (r.dim, _rank_key(r), order[id(r)])))


def _rank_key(r: Irrep) -> int:
    named = ("sign", "alt", "alt_sign", "standard", "standard_sign")
    return named.index(r.name) if r.name in named else len(named)


def _from_generators(g: Group, gens: dict[int, np.ndarray]) -> np.ndarray:
    """ρ(g) for every element from ρ of generators, by breadth-first search on the Cayley
    graph: ρ(h∘s) = ρ(h) ρ(s)."""
    d = next(iter(gens.values())).shape[0]
    mats = np.zeros((g.order, d, d))
    mats[0] = np.eye(d)
    known = np.zeros(g.order, bool)
    known[0] = True
    frontier = np.array([0])
    while frontier.size:
        new = []
        for s, m in gens.items():
            nxt = g.table[frontier, s]
            fresh = ~known[nxt]
            nxt_f, src = nxt[fresh], frontier[fresh]
            nxt_f, first = np.unique(nxt_f, return_index=True)
            mats[nxt_f] = mats[src[first]] @ m
            known[nxt_f] = True
            new.append(nxt_f)
        frontier = np.unique(np.concatenate(new))
    if not known.all():
        raise AssertionError(f"generators do not generate {g.name}")
    return mats


# ---------------------------------------------------------------------------------------------
# C_n and D_n


def _rotation(theta: np.ndarray) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)


def cyclic_irreps(g: Group) -> list[Irrep]:
    n = g.order
    x = np.arange(n)
    reps = [Irrep("trivial", np.ones((n, 1, 1)), ("k=0",))]
    for k in range(1, (n - 1) // 2 + 1):
        reps.append(Irrep(f"k={k}", _rotation(2 * np.pi * k * x / n)))
    if n % 2 == 0:
        reps.append(Irrep(f"k={n // 2}", ((-1.0) ** x)[:, None, None], ("sign",)))
    return reps


def dihedral_irreps(g: Group) -> list[Irrep]:
    n = g.degree
    f, k = np.divmod(np.arange(2 * n), n)
    one = lambda v: v.astype(float)[:, None, None]  # noqa: E731
    reps = [Irrep("trivial", one(np.ones(2 * n))), Irrep("sign", one(np.where(f == 1, -1, 1)))]
    if n % 2 == 0:
        reps.append(Irrep("alt", one((-1) ** k)))
        reps.append(Irrep("alt_sign", one((-1) ** k * np.where(f == 1, -1, 1))))
    flip = np.diag([1.0, -1.0])
    for j in range(1, (n - 1) // 2 + 1):
        rot = _rotation(2 * np.pi * j * k / n)
        reps.append(Irrep(f"k={j}", np.where((f == 1)[:, None, None], rot @ flip, rot)))
    return reps


# ---------------------------------------------------------------------------------------------
# S_n: Young's orthogonal form


def partitions(n: int, largest: int | None = None) -> list[tuple[int, ...]]:
    """Partitions of n as non-increasing tuples, in reverse lexicographic order ((n) first)."""
    largest = n if largest is None else largest
    if n == 0:
        return [()]
    return [(k,) + rest for k in range(min(n, largest), 0, -1) for rest in partitions(n - k, k)]


def standard_tableaux(shape: tuple[int, ...]) -> list[tuple[tuple[int, int], ...]]:
    """Standard Young tableaux of `shape`, each as the (row, column) of numbers 0..n-1."""
    n = sum(shape)
    out = []

    def place(k, rows, pos):
        if k == n:
            out.append(tuple(pos))
            return
        for r in range(len(shape)):
            if rows[r] < shape[r] and (r == 0 or rows[r] < rows[r - 1]):
                rows[r] += 1
                place(k + 1, rows, pos + [(r, rows[r] - 1)])
                rows[r] -= 1

    place(0, [0] * len(shape), [])
    return out


def young_orthogonal_generators(shape: tuple[int, ...]) -> list[np.ndarray]:
    """ρ(s_i) for the adjacent transpositions s_i = (i i+1), i = 0..n-2, in Young's orthogonal
    form: on tableau T, s_i acts by +1 if i, i+1 share a row, -1 if they share a column, and
    otherwise mixes T with s_i·T: ρ[T, T] = 1/a, ρ[s_i·T, T] = sqrt(1 - 1/a²), where a is the
    axial distance c(i+1) - c(i) of contents c = column - row."""
    tabs = standard_tableaux(shape)
    index = {t: j for j, t in enumerate(tabs)}
    n, d = sum(shape), len(tabs)
    gens = []
    for i in range(n - 1):
        m = np.zeros((d, d))
        for j, t in enumerate(tabs):
            (r0, c0), (r1, c1) = t[i], t[i + 1]
            if r0 == r1:
                m[j, j] = 1.0
            elif c0 == c1:
                m[j, j] = -1.0
            else:
                a = (c1 - r1) - (c0 - r0)
                swapped = list(t)
                swapped[i], swapped[i + 1] = t[i + 1], t[i]
                m[j, j] = 1.0 / a
                m[index[tuple(swapped)], j] = np.sqrt(1.0 - 1.0 / a**2)
        gens.append(m)
    return gens


def partition_name(shape: tuple[int, ...]) -> str:
    return "(" + ",".join(map(str, shape)) + ")"


def _sn_nickname(shape: tuple[int, ...]) -> str | None:
    n = sum(shape)
    if shape == (n,):
        return "trivial"
    if shape == (1,) * n:
        return "sign"
    if n >= 3 and shape == (n - 1, 1):
        return "standard"
    if n >= 4 and shape == (2,) + (1,) * (n - 2):
        return "standard_sign"
    return None


def symmetric_irreps(g: Group) -> list[Irrep]:
    n = g.degree
    codes = {tuple(p): i for i, p in enumerate(g.perms.tolist())}
    transpositions = []
    for i in range(n - 1):
        p = list(range(n))
        p[i], p[i + 1] = p[i + 1], p[i]
        transpositions.append(codes[tuple(p)])
    reps = []
    for shape in partitions(n):
        gens = young_orthogonal_generators(shape)
        mats = _from_generators(g, dict(zip(transpositions, gens))) if n > 1 else np.ones((1, 1, 1))
        nick, part = _sn_nickname(shape), partition_name(shape)
        reps.append(Irrep(nick or part, mats, (part,) if nick else ()))
    return reps


# ---------------------------------------------------------------------------------------------
# Any group: decompose the regular representation


def general_irreps(g: Group, seed: int = 0) -> list[Irrep]:
    """Every real irrep of any group given by its table (see the module docstring), named
    "d<dim>_<i>"."""
    order = g.order
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(order)
    r = u + u[g.inverse]  # r(h) = r(h^-1) makes M symmetric
    # M[y, x] = r(x^-1 y): right multiplication, commutes with every left translation
    M = r[g.table[g.inverse[:, None], np.arange(order)[None, :]]].T
    vals, vecs = np.linalg.eigh(M)
    gaps = np.nonzero(np.diff(vals) > 1e-7 * max(1.0, np.abs(vals).max()))[0] + 1
    clusters = np.split(np.arange(order), gaps)
    back = g.table[g.inverse]  # back[g, y] = g^-1 y
    seen: dict[tuple, Irrep] = {}
    for idx in clusters:
        U = vecs[:, idx]
        # χ(g) = Σ_y Σ_j U[y, j] U[g^-1 y, j]
        chi = np.einsum("yj,gyj->g", U, U[back])
        key = tuple(np.round(chi, 6) + 0.0)
        if key in seen:
            continue
        mats = np.einsum("yi,gyj->gij", U, U[back])
        seen[key] = Irrep("", mats)
    reps = sorted(seen.values(), key=lambda rep: (rep.dim, -float(rep.character.sum())))
    return [dataclasses.replace(rep, name="trivial" if i == 0 else f"d{rep.dim}_{i}") for i, rep in enumerate(reps)]


def _inner(g_order: int, a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b) / g_order


def alternating_irreps(g: Group) -> list[Irrep]:
    """General decomposition, named after S_n: an A_n irrep W lies in the restriction of some
    S_n irrep λ (choose λ >= its conjugate); W takes λ's name, with "a"/"b" when λ's
    restriction splits into two real irreps."""
    reps = general_irreps(g)
    n = g.degree
    if n < 2:
        return reps
    sn = _group(f"S{n}")
    codes = {tuple(p): i for i, p in enumerate(sn.perms.tolist())}
    in_sn = np.array([codes[tuple(p)] for p in g.perms.tolist()])
    parents = []
    for shape in partitions(n):
        conj = tuple(sum(1 for part in shape if part > c) for c in range(shape[0]))
        if shape >= conj:
            parents.append(shape)
    sn_reps = {r.aliases[0] if r.aliases else r.name: r for r in irreps(sn)}
    named: list[Irrep] = []
    taken: dict[str, int] = {}
    for rep in reps:
        for shape in parents:
            sr = sn_reps[partition_name(shape)]
            if _inner(g.order, rep.character, sr.character[in_sn]) > 0.5:
                nick = _sn_nickname(shape)
                base = nick if nick in ("trivial", "standard") else partition_name(shape)
                whole = rep.dim == sr.dim
                if whole:
                    name = base
                else:
                    name = base + "ab"[taken.get(base, 0)]
                    taken[base] = taken.get(base, 0) + 1
                aliases = (partition_name(shape),) if name != partition_name(shape) and whole else ()
                named.append(dataclasses.replace(rep, name=name, aliases=aliases))
                break
        else:
            named.append(rep)
    return named


def product_irreps(g: Group) -> list[Irrep]:
    """General decomposition, named "A⊗B" (alias "A*B") after the factors' irreps it lies in;
    "#1", "#2" when one pair of complex-type irreps gives two real irreps."""
    reps = general_irreps(g)
    first, rest = g.factors[0], _group("x".join(f.name for f in g.factors[1:]))
    i, j = np.divmod(np.arange(g.order), rest.order)
    rest_reps = [r if r.name != "trivial" else dataclasses.replace(r, name="⊗".join(["trivial"] * len(g.factors[1:])))
                 for r in irreps(rest)]
    pairs = list(itertools.product(irreps(first), rest_reps))
    names = []
    for rep in reps:
        match = [f"{a.name}⊗{b.name}" for a, b in pairs
                 if _inner(g.order, rep.character, a.character[i] * b.character[j]) > 0.5]
        names.append(match[0] if len(match) == 1 else rep.name)
    out = []
    for rep, name in zip(reps, names):
        if rep.name == "trivial":
            out.append(dataclasses.replace(rep, name="trivial"))
            continue
        if names.count(name) > 1:
            k = sum(1 for prev in out if prev.name.startswith(name + "#")) + 1
            name = f"{name}#{k}"
        out.append(dataclasses.replace(rep, name=name, aliases=(name.replace("⊗", "*"),)))
    return out
