"""Count what issue 11 measured about the package's layout.

Usage: ``python tools/layout_stats.py [REPO_ROOT]`` (default: this checkout).

Prints the modules at the package root, the module count and the largest
module, the import cycles, the private cross-package imports and the shape of
``tests/``. Every import statement counts: at module level, inside functions
and under ``TYPE_CHECKING``, because each of them is a dependency a reader has
to follow. Package ``__init__`` modules are left out of the cycles: their lazy
re-exports point down at their own modules by design.
"""

from __future__ import annotations

import ast
import pathlib
import sys
from collections.abc import Iterator

PACKAGE = "k8s_aws_auth"


def discover(root: pathlib.Path) -> dict[str, pathlib.Path]:
    """Map every module's dotted name to its file."""
    modules: dict[str, pathlib.Path] = {}
    for path in sorted((root / "src" / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root / "src").with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imported_names(
    module: str, is_package: bool, node: ast.Import | ast.ImportFrom
) -> Iterator[str]:
    """The dotted names one import statement may refer to (absolute or relative)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    if node.level:
        base_parts = module.split(".")
        drop = node.level - 1 if is_package else node.level
        base_parts = base_parts[: len(base_parts) - drop]
        base = ".".join([*base_parts, *([node.module] if node.module else [])])
    else:
        base = node.module or ""
    for alias in node.names:
        yield f"{base}.{alias.name}"


def import_graph(modules: dict[str, pathlib.Path]) -> dict[str, set[str]]:
    """Edges from each module to the modules of ours it imports."""
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for imported in imported_names(name, is_package, node):
                if not imported.startswith(PACKAGE):
                    continue
                # "from pkg import name" names an attribute unless it is a module.
                target = imported
                while target not in modules and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target != name:
                    edges[name].add(target)
    return edges


def owning_package(name: str, modules: dict[str, pathlib.Path]) -> str:
    """The first-level subpackage a module lives in, or the root package."""
    parts = name.split(".")
    if len(parts) >= 2:
        candidate = f"{PACKAGE}.{parts[1]}"
        if candidate in modules and modules[candidate].name == "__init__.py":
            return candidate
    return PACKAGE


def private_reach_ins(
    edges: dict[str, set[str]], modules: dict[str, pathlib.Path]
) -> list[tuple[str, str]]:
    """Imports of another package's private modules (any ``_name`` below that package)."""
    found = []
    for source, targets in edges.items():
        for target in targets:
            owner = owning_package(target, modules)
            if owner == owning_package(source, modules):
                continue
            inner = target.split(".")[len(owner.split(".")) :]
            if any(part.startswith("_") for part in inner):
                found.append((source, target))
    return sorted(found)


def cycles(edges: dict[str, set[str]], modules: dict[str, pathlib.Path]) -> list[list[str]]:
    """Strongly connected groups of more than one module, package ``__init__`` left out."""
    plain = {
        n: {t for t in ts if modules[t].name != "__init__.py"}
        for n, ts in edges.items()
        if modules[n].name != "__init__.py"
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in plain.get(node, ()):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(plain)))
    for node in plain:
        if node not in index:
            visit(node)
    return groups


def line_count(path: pathlib.Path) -> int:
    """Lines in a file."""
    return len(path.read_text(encoding="utf-8").splitlines())


def main(argv: list[str]) -> None:
    """Print the layout figures of the checkout at ``argv[1]`` (default: here)."""
    root = (
        pathlib.Path(argv[1]) if len(argv) > 1 else pathlib.Path(__file__).resolve().parent.parent
    )
    modules = discover(root)
    edges = import_graph(modules)
    sizes = {name: line_count(path) for name, path in modules.items()}
    root_modules = [n for n in modules if n.count(".") == 1 and modules[n].name != "__init__.py"]
    largest = max(sizes, key=sizes.__getitem__)
    print(f"modules at the package root: {len(root_modules)} ({', '.join(sorted(root_modules))})")
    print(
        f"modules in all: {len(modules)}; over 500 lines: {sum(1 for s in sizes.values() if s > 500)}"
    )
    print(f"largest module: {largest} ({sizes[largest]} lines)")
    found_cycles = cycles(edges, modules)
    print(f"import cycles: {len(found_cycles)}")
    for group in found_cycles:
        print("    " + " <-> ".join(group))
    reach_ins = private_reach_ins(edges, modules)
    print(f"private cross-package imports: {len(reach_ins)}")
    for source, target in reach_ins:
        print(f"    {source} -> {target}")
    tests = sorted((root / "tests").rglob("*.py"))
    flat = [p for p in tests if p.parent == root / "tests"]
    print(
        f"tests: {len(tests)} files, {len(flat)} directly in tests/, "
        f"{len({p.parent for p in tests})} folders, {sum(map(line_count, tests))} lines"
    )


if __name__ == "__main__":
    main(sys.argv)
