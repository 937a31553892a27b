"""The shape of the package: imports run one way (no cycles, none hidden inside a function), the
kernel knows no toy, figures never import a recipe, toys do not import each other (but for the
SAE toy's TMS source, whose features are a superposition model's), and each
committed figure set is what its run definition in experiments/ resolves to."""

import ast
import json
from pathlib import Path

import pytest

from toymodels.pipeline import resolve, run_definition

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "toymodels"
KERNEL = {"toymodels.engine", "toymodels.store", "toymodels.config", "toymodels.recipe", "toymodels.plotting",
          "toymodels.errors"}
TOYS = {"grokking", "superposition", "universality", "memorisation", "saes"}
SOURCES = {"saes": {"superposition"}}  # a toy may read another toy's models as its data, one way


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> tuple[set[str], list[str]]:
    """(toymodels modules imported at module level, those imported inside a function)."""
    tree = ast.parse(path.read_text())
    top, nested = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("toymodels"):
            names = {f"{node.module}.{a.name}" for a in node.names}
            found = {n for n in names if n in MODULES} | ({node.module} - {None})
        elif isinstance(node, ast.Import):
            found = {a.name for a in node.names if a.name.startswith("toymodels")}
        else:
            continue
        found = {f for f in found if f in MODULES}
        (top.update if node.col_offset == 0 else nested.extend)(found)
    return top, nested


MODULES = {_module(p) for p in PACKAGE.rglob("*.py")}
GRAPH = {_module(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def test_no_import_is_hidden_inside_a_function():
    assert {m: nested for m, (_, nested) in GRAPH.items() if nested} == {}


def test_the_import_graph_has_no_cycle():
    state: dict[str, int] = {}

    def visit(m, path):
        if state.get(m) == 1:
            raise AssertionError(" -> ".join([*path[path.index(m):], m]))
        if state.get(m) == 2:
            return
        state[m] = 1
        for dep in sorted(GRAPH[m][0] - {m}):
            if dep != "toymodels":  # the package __init__ re-exports; importing a submodule runs it first
                visit(dep, [*path, m])
        state[m] = 2

    for m in sorted(GRAPH):
        visit(m, [])


def _toy(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in TOYS else None


def test_the_kernel_knows_no_toy_and_toys_do_not_import_each_other():
    for module, (deps, _) in GRAPH.items():
        if module in KERNEL or module.startswith(("toymodels.algebra", "toymodels.models")):
            assert not {d for d in deps if _toy(d) or d == "toymodels.registry"}, module
        if _toy(module):
            assert {_toy(d) for d in deps if _toy(d)} <= {_toy(module)} | SOURCES.get(_toy(module), set()), module


@pytest.mark.parametrize("toy", sorted(TOYS))
def test_figures_never_import_a_recipe(toy):
    assert f"toymodels.{toy}.recipe" not in GRAPH[f"toymodels.{toy}.figures"][0]


@pytest.mark.parametrize("definition", sorted((ROOT / "experiments").glob("*.toml")), ids=lambda p: p.name)
def test_each_committed_figure_set_is_what_its_run_definition_resolves_to(definition):
    d = run_definition(definition)
    _, _, spec = resolve(d.experiment, d.preset, d.seeds, d.sets)
    committed = ROOT / d.out
    assert json.loads((committed / "config.json").read_text()) == json.loads(json.dumps(spec))
    report = json.loads((committed / "report.json").read_text())
    pngs = [f for f in report["figures"] if f.endswith(".png")]
    assert pngs and all((committed / f).stat().st_size > 1000 for f in pngs)
