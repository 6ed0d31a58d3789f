"""The package's layers, checked on its source (AST, nothing imported) and in a fresh interpreter.

Scanning (``nlpguard.text``, ``.io``, ``.runtime``, ``guard``, ``taxonomy``, ``errors`` and the
package's ``__init__``) never imports training or the front ends; a front end (``nlpguard.apps``)
imports no other front end, except that ``cli``, the command-line front door, loads the one a
command needs inside that command's function, and ``serve`` uses its review page and feedback
store; and no modules import each other in a cycle at module level.
"""
import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "nlpguard"
RUNTIME_LAYERS = ("nlpguard.text", "nlpguard.io", "nlpguard.runtime", "nlpguard.guard", "nlpguard.taxonomy",
                  "nlpguard.errors")
FORBIDDEN_FOR_RUNTIME = ("nlpguard.training", "nlpguard.apps")
# front end -> the other front ends it may import, and whether only inside functions
APP_IMPORTS = {"nlpguard.apps.cli": ({"serve", "spark", "feedback", "parallel", "review"}, True),
               "nlpguard.apps.serve": ({"feedback", "review"}, False)}


def _modules() -> dict[str, Path]:
    """Dotted module name -> source file, for every module of the package (packaged models excluded)."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if "models" in parts:
            continue
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = _modules()


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _imports(name: str, path: Path) -> list[tuple[str, bool]]:
    """``(imported nlpguard module, at module level)`` for every import statement of the module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((alias.name, inner) for alias in child.names if _within(alias.name, "nlpguard"))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[:len(package.split(".")) - child.level + 1]
                    module = ".".join(base + ([child.module] if child.module else []))
                else:
                    module = child.module or ""
                if _within(module, "nlpguard"):
                    for alias in child.names:  # ``from . import baseline`` imports a module
                        submodule = f"{module}.{alias.name}"
                        found.append((submodule if submodule in MODULES else module, inner))
            visit(child, inner)

    visit(tree, True)
    return found


def test_the_walk_sees_every_layer():
    for layer in ("nlpguard.text.normalize", "nlpguard.io.inputs", "nlpguard.runtime.modeldir",
                  "nlpguard.training.train", "nlpguard.apps.cli", "nlpguard.guard"):
        assert layer in MODULES
    assert ("nlpguard.runtime.modeldir", True) in _imports("nlpguard.guard", MODULES["nlpguard.guard"])


def test_scanning_never_imports_training_or_front_ends():
    bad = [f"{name} imports {target}" for name, path in MODULES.items()
           if name == "nlpguard" or any(_within(name, layer) for layer in RUNTIME_LAYERS)
           for target, _ in _imports(name, path) if any(_within(target, f) for f in FORBIDDEN_FOR_RUNTIME)]
    assert not bad, bad


def test_front_ends_do_not_import_each_other():
    bad = []
    for name, path in MODULES.items():
        if not _within(name, "nlpguard.apps") or name == "nlpguard.apps":
            continue
        allowed, functions_only = APP_IMPORTS.get(name, (set(), False))
        for target, top in _imports(name, path):
            if _within(target, "nlpguard.apps") and target != name:
                other = target.removeprefix("nlpguard.apps.")
                if other not in allowed or (functions_only and top):
                    bad.append(f"{name} imports {target}" + (" at module level" if top else ""))
    assert not bad, bad


def test_no_import_cycles_at_module_level():
    graph = {name: {t for t, top in _imports(name, path) if top and t in MODULES and t != name}
             for name, path in MODULES.items()}
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack + [target])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles


def test_scanning_loads_no_training_code_and_no_torch():
    code = ("import sys, nlpguard\n"
            "guard = nlpguard.Guard.load()\n"
            "guard.scan('你好', task='messages')\n"
            "guard.scan('一、您继续使用即视为同意本政策。', task='clauses')\n"
            "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('nlpguard.training')\n"
            "      or m.split('.')[0] in ('torch', 'datasets', 'transformers'))))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", proc.stdout
