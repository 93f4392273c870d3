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
    ``PLUMBING``) or reads (the modules of the phases in ``READS``), by name, sorted. A
    dataset's module is imported by name when its data are made (``poolstudy.data``): the
    ``prepare`` phase holds every dataset's (``dataset_modules``), each of its jobs only its
    own dataset's (``prepare_job_code``)."""
    if phase not in ENTRIES:
        raise KeyError(f"unknown phase {phase!r}; phases: {', '.join(ENTRIES)}")
    read = {name for other in READS.get(phase, ()) for name in phase_modules(other, package_dir)}
    runs = imported_closure(ENTRIES[phase], package_dir)
    if phase == "prepare":
        for dataset in dataset_sources(package_dir):
            runs |= set(dataset_modules(dataset, package_dir))
    return tuple(sorted(runs | read))


def dataset_sources(package_dir: Path = PACKAGE_DIR) -> dict[str, tuple[str, str]]:
    """``poolstudy.data.DATASET_SOURCES`` as the package's sources at ``package_dir`` write
    it (read, not imported: a literal)."""
    path = package_dir / "data" / "__init__.py"
    for node in ast.parse(path.read_text(), filename=str(path)).body:
        if isinstance(node, ast.AnnAssign | ast.Assign) and node.value is not None:
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            if any(getattr(target, "id", None) == "DATASET_SOURCES" for target in targets):
                return {
                    name: tuple(source) for name, source in ast.literal_eval(node.value).items()
                }
    raise ValueError(f"{path} assigns no DATASET_SOURCES")


def dataset_modules(dataset: str, package_dir: Path = PACKAGE_DIR) -> tuple[str, ...]:
    """The modules that make ``dataset``'s raw data: its source's module and what it imports,
    less ``PLUMBING``, by name, sorted."""
    sources = dataset_sources(package_dir)
    if dataset not in sources:
        raise KeyError(f"unknown dataset {dataset!r}; datasets: {', '.join(sources)}")
    return tuple(sorted(imported_closure((sources[dataset][0],), package_dir)))


def imported_closure(entries, package_dir: Path = PACKAGE_DIR) -> set[str]:
    """The modules ``entries`` and every module of the package they import, and the packages
    that hold them (Python runs a package's ``__init__.py`` before any module in it), less
    ``PLUMBING``."""
    seen: set[str] = set()
    todo = list(entries)
    while todo:
        name = todo.pop()
        if name in seen or name in PLUMBING:
            continue
        path = module_path(name, package_dir)
        if path is None:
            raise ValueError(f"{name} is not a module of {package_dir}")
        seen.add(name)
        parent = name.rpartition(".")[0]
        todo += sorted((imports_of(path, package_dir) | {parent}) - seen)
    return seen


def phase_code(phase: str, package_dir: str | Path) -> list[str]:
    """The files of ``phase``'s modules in the package's sources at ``package_dir``
    (``src/poolstudy`` from the project's root gives them as the Snakemake rules name
    their inputs)."""
    package_dir = Path(package_dir)
    return module_files(phase_modules(phase, package_dir), package_dir)


def prepare_job_code(dataset: str, package_dir: str | Path) -> list[str]:
    """The code inputs of the job that prepares ``dataset``, as ``phase_code`` gives a
    phase's: the ``prepare`` phase's modules but the other datasets' own, so that editing one
    dataset's source remakes that dataset's data alone."""
    package_dir = Path(package_dir)
    names = imported_closure(ENTRIES["prepare"], package_dir)
    return module_files(names | set(dataset_modules(dataset, package_dir)), package_dir)


def module_files(names, package_dir: Path) -> list[str]:
    return sorted(module_path(name, package_dir).as_posix() for name in names)
