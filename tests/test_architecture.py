"""The tree is the architecture: which part of gitmv may import which, read from the source.

Every `import` of a gitmv module counts, those inside functions too (a lazy import is still an
arrow). The rules here are the ones each subpackage's `__init__.py` states and
docs/architecture.md draws; a change that needs another arrow changes all three.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gitmv"

# The parts of gitmv: a subpackage, or a module at the top. What each may import, besides
# itself and the standard library. The top-level `gitmv` (its __version__) anyone may import.
BASE = {"errors", "ui", "fsutil", "config"}
MAY_IMPORT: dict[str, set[str]] = {
    "errors": set(),
    "ui": set(),
    "fsutil": {"errors", "ui"},
    "config": {"errors"},
    "objects": {"errors", "ui", "fsutil"},
    "repo": {"errors", "objects"},
    "worktree": BASE | {"objects", "repo"},
    "remotes": BASE | {"objects", "repo"},
    "transfer": BASE | {"objects", "repo", "worktree", "remotes"},
    "registry": BASE | {"objects", "repo", "worktree", "remotes", "transfer", "importers"},
    "review": BASE | {"objects", "repo", "worktree", "registry"},
    "hooks": BASE | {"objects", "repo", "worktree", "remotes", "transfer"},
    "importers": BASE | {"objects", "repo", "worktree", "remotes"},
    "commands": BASE | {"objects", "repo", "worktree", "remotes", "transfer", "registry",
                        "review", "hooks", "importers"},
    # the Python API sits beside the commands: what they may use, never them or the cli
    "api": BASE | {"objects", "repo", "worktree", "remotes", "transfer", "registry", "review"},
    "cli": BASE | {"hooks", "commands"},
    "manpage": {"cli"},
    "__main__": {"cli"},
}
# Finer rules inside a part: (importer prefix, imported prefix) pairs that must not exist.
NEVER = [
    ("gitmv.review", "gitmv.registry.write"),  # the review reads the registry, never writes it
    ("gitmv.review", "gitmv.registry.card"),
    ("gitmv.review.metrics", "gitmv.review.gates"),  # gates build on metrics
    ("gitmv.remotes", "gitmv.transfer"),
    # the three-way merge is pure: manifests and pointers in, a result out (no git, no disk)
    ("gitmv.worktree.merge", "gitmv.repo"),
    ("gitmv.worktree.merge", "gitmv.worktree.workspace"),
    ("gitmv.worktree.merge", "gitmv.objects.cache"),
    ("gitmv.worktree.merge", "gitmv.fsutil"),
    # a mirror of a repository by URL (worktree.mirror) is opened by the top only (commands,
    # the API): nothing a clone runs, hooks above all, reaches for the network through it
    *((f"gitmv.{low}", "gitmv.worktree.mirror") for low in (
        "hooks", "transfer", "registry", "review", "importers", "remotes", "objects")),
    *((m, "gitmv.worktree.mirror") for m in ("gitmv.worktree.workspace",
                                             "gitmv.worktree.checkout",
                                             "gitmv.worktree.diffing")),
]
# Modules that may start a program other than git, and which one.
SUBPROCESS_OK = {
    "gitmv.repo": "git (the one wrapper)",
    "gitmv.hooks.run": "the hook gitmv's hook chains to (NAME.mvm-chained)",
    "gitmv.remotes.lfs_endpoint": "ssh git-lfs-authenticate",
}


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = modules()


def imports_of(path: Path) -> Iterator[tuple[str, int]]:
    """(gitmv module imported, line) for every import in the file, lazy ones included."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "gitmv":
                continue
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                yield (full if full in MODULES else node.module), node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "gitmv":
                    yield alias.name, node.lineno


def part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "gitmv"


GRAPH = {m: {(t, line) for t, line in imports_of(p)} for m, p in MODULES.items()}


def test_every_part_is_known() -> None:
    assert {part(m) for m in MODULES} - {"gitmv"} == set(MAY_IMPORT)


def test_arrows_point_one_way() -> None:
    wrong = []
    for module, targets in GRAPH.items():
        src = part(module)
        for target, line in sorted(targets):
            dst = part(target)
            if dst in (src, "gitmv"):
                continue
            if dst not in MAY_IMPORT.get(src, set()):
                wrong.append(f"{MODULES[module].relative_to(ROOT)}:{line} imports {target}")
            for a, b in NEVER:
                if module.startswith(a) and target.startswith(b):
                    wrong.append(f"{MODULES[module].relative_to(ROOT)}:{line} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle() -> None:
    """No cycle among modules (lazy imports included) nor among the parts."""
    def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
        state: dict[str, int] = {}
        stack: list[str] = []

        def visit(node: str) -> list[str] | None:
            state[node] = 1
            stack.append(node)
            for nxt in sorted(edges.get(node, ())):
                if state.get(nxt) == 1:
                    return [*stack[stack.index(nxt):], nxt]
                if nxt not in state and (found := visit(nxt)):
                    return found
            stack.pop()
            state[node] = 2
            return None

        for node in sorted(edges):
            if node not in state and (found := visit(node)):
                return found
        return None

    module_edges = {m: {t for t, _ in ts if t != m} for m, ts in GRAPH.items()}
    assert find_cycle(module_edges) is None, find_cycle(module_edges)
    part_edges: dict[str, set[str]] = {}
    for m, ts in module_edges.items():
        part_edges.setdefault(part(m), set()).update(
            part(t) for t in ts if part(t) not in (part(m), "gitmv"))
    assert find_cycle(part_edges) is None, find_cycle(part_edges)


def test_subpackage_inits_are_docstrings_that_import_nothing() -> None:
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        tree = ast.parse(init.read_text())
        doc = ast.get_docstring(tree)
        assert (doc and "May import" in doc) or "imports nothing" in (doc or ""), init
        body = [n for n in tree.body if not (isinstance(n, ast.Expr)
                                             and isinstance(n.value, ast.Constant))]
        assert body == [], f"{init.relative_to(ROOT)} does more than document its package"


def test_only_the_wrapper_starts_git() -> None:
    """Every git call goes through gitmv.repo, where the environment is controlled; other
    programs are started only where listed."""
    wrong = []
    for module, path in MODULES.items():
        text = path.read_text()
        tree = ast.parse(text)
        uses = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)
                for a in n.names if "subprocess" in (a.name, getattr(n, "module", None))}
        uses |= {"os.system" for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                 and n.attr in ("system", "popen", "execvp", "execv", "spawnlp")
                 and isinstance(n.value, ast.Name) and n.value.id == "os"}
        if uses and module not in SUBPROCESS_OK:
            wrong.append(f"{path.relative_to(ROOT)} starts programs ({', '.join(sorted(uses))})")
        if module != "gitmv.repo":
            for node in ast.walk(tree):
                if (isinstance(node, ast.List | ast.Tuple) and node.elts
                        and isinstance(node.elts[0], ast.Constant) and node.elts[0].value == "git"):
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} builds a git command")
    assert not wrong, "\n".join(wrong)


def test_the_architecture_doc_matches_the_tree() -> None:
    """docs/architecture.md names every module and subpackage (the commands as a package:
    each is named for its command), and nothing that is gone."""
    doc = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`(gitmv/[\w/]+(?:\.py|/))`", doc))
    files = {str(p.relative_to(ROOT)) for p in MODULES.values() if p.name != "__init__.py"
             and (p.parent.name != "commands" or p.name == "output.py")}
    packages = {str(p.parent.relative_to(ROOT)) + "/" for p in PACKAGE.glob("*/__init__.py")}
    missing = (files | packages) - named
    assert not missing, f"not in docs/architecture.md: {sorted(missing)}"
    gone = {n for n in named if not (ROOT / n).exists()}
    assert not gone, f"docs/architecture.md names what is not in the tree: {gone}"


def test_the_architecture_doc_draws_these_arrows() -> None:
    """The arrow list at the top of docs/architecture.md is MAY_IMPORT, written for people."""
    doc = (ROOT / "docs" / "architecture.md").read_text()
    block = doc.split("```", 2)[1]
    floor = {"config", "fsutil", "ui", "errors"}
    drawn: dict[str, set[str]] = {}
    for line in block.strip().splitlines():
        name, _, targets = line.partition("─►")
        words = re.split(r"[,;]\s*", re.sub(r"\(.*?\)", "", targets).strip())
        drawn[name.strip()] = {w.strip() for w in words if w.strip()}
    above_repo = set(MAY_IMPORT) - floor - {"repo", "objects", "manpage", "__main__"}
    for name, targets in drawn.items():
        if targets == {"any part below"}:
            targets = set(MAY_IMPORT[name])  # the commands: checked by the other tests
        if name in above_repo:
            targets |= floor | ({"repo", "objects"} if name != "cli" else set())
        assert targets == MAY_IMPORT[name], (name, targets ^ MAY_IMPORT[name])
    assert set(drawn) == set(MAY_IMPORT) - {"manpage", "__main__", "config", "fsutil", "ui",
                                            "errors"}


@pytest.mark.parametrize("hook_module", ["gitmv.hooks.run", "gitmv.cli"])
def test_the_hook_path_imports_only_the_standard_library_at_the_top(hook_module: str) -> None:
    """`git mvm hook NAME` imports gitmv.cli and gitmv.hooks.run before it knows whether there
    is anything to do: at module level they import only the standard library (and, for the
    cli, the two smallest modules), so a hook with nothing to do stays cheap."""
    tree = ast.parse(MODULES[hook_module].read_text())
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    gitmv_top = {f"{n.module}.{a.name}" if isinstance(n, ast.ImportFrom) else a.name
                 for n in top for a in n.names
                 if (getattr(n, "module", None) or a.name).split(".")[0] == "gitmv"}
    allowed = {"gitmv.__version__", "gitmv.ui", "gitmv.errors.GitMvmError"}
    assert gitmv_top <= allowed, gitmv_top - allowed
