"""The library modules each phase of the pipeline runs, found by following its imports: the
code inputs of its Snakemake rule (and the ``deps`` of its stage in ``dvc.yaml``), so that
editing a module reruns every phase that runs it, and no other.

A phase starts from the modules its command uses (``ENTRIES``) and takes in every module of
the package that they import, at the top or inside a function, except ``PLUMBING``: writing
files atomically and reading and validating the config, whose settings reach a job as its
parameters, which Snakemake and DVC watch themselves."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGE = "poolstudy"

ENTRIES = {
    "prepare": ("poolstudy.data.prepare",),
    "train": ("poolstudy.train",),
    "evaluate": ("poolstudy.evaluate",),
    # `analyze` takes the primary contrasts and the regime's settings from plan.py
    "analyze": ("poolstudy.analyze", "poolstudy.plan"),
    "figures": ("poolstudy.figures",),
    "paper_inputs": ("poolstudy.paper",),
}
PLUMBING = frozenset({"poolstudy", "poolstudy.atomic", "poolstudy.config", "poolstudy.checks"})
RECORDED_PHASES = ("prepare", "train", "evaluate", "analyze")
"""The phases a recorded run's tables come from: ``poolstudy.record`` keeps the hash of their
code, and the paper, which names the modules changed since, runs on that code too (``READS``)."""
READS = {"paper_inputs": RECORDED_PHASES}
"""Phases whose code another phase reads (hashes) besides running its own."""


def module_path(name: str, package_dir: Path = PACKAGE_DIR) -> Path | None:
    """The file of module ``name`` of the package (its ``__init__.py`` for a subpackage), or
    None where ``name`` is not a module (a function or class imported from one)."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = package_dir.joinpath(*parts[1:])
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


def imported_modules(path: Path, package_dir: Path = PACKAGE_DIR) -> frozenset[str]:
    """The package's modules that the file at ``path`` imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from poolstudy import device` imports a module, `from poolstudy.x import f` not
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found |= {name for name in names if module_path(name, package_dir) is not None}
    return frozenset(found)


# the phases share most of their modules: each file is parsed once per process (a plain
# function, cached here rather than decorated, so that mutation testing still reaches it)
imports_of = cache(imported_modules)


def phase_modules(phase: str, package_dir: Path = PACKAGE_DIR) -> tuple[str, ...]:
    """Every module that ``phase`` runs (``ENTRIES``, and what they import, less
    ``PLUMBING``) or reads (the modules of the phases in ``READS``), by name, sorted."""
    if phase not in ENTRIES:
        raise KeyError(f"unknown phase {phase!r}; phases: {', '.join(ENTRIES)}")
    read = {name for other in READS.get(phase, ()) for name in phase_modules(other, package_dir)}
    seen: set[str] = set()
    todo = list(ENTRIES[phase])
    while todo:
        name = todo.pop()
        if name in seen or name in PLUMBING:
            continue
        path = module_path(name, package_dir)
        if path is None:
            raise ValueError(f"{name} is not a module of {package_dir}")
        seen.add(name)
        todo += sorted(imports_of(path, package_dir) - seen)
    return tuple(sorted(seen | read))


def phase_code(phase: str, package_dir: str | Path) -> list[str]:
    """The files of ``phase``'s modules in the package's sources at ``package_dir``
    (``src/poolstudy`` from the project's root gives them as the Snakemake rules name
    their inputs)."""
    package_dir = Path(package_dir)
    return sorted(
        module_path(name, package_dir).as_posix() for name in phase_modules(phase, package_dir)
    )
