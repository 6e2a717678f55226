"""Python files in a version are payload: read statically, never imported or run.

`ast.parse` finds syntax errors (with file and line) and which names a module defines at its top
level, which is enough to say whether an entry point like `pkg.env:load_environment` can exist.
"""

from __future__ import annotations

import ast
import warnings

from jobs.checks.base import CheckContext, FileRef
from jobs.checks.formats.documents import read_text


def parse(ctx: CheckContext, file: FileRef) -> ast.Module | None:
    """The module's syntax tree, or None with a reason naming the line of the syntax error."""
    text = read_text(ctx, file)
    if text is None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning for odd escapes in the payload is not ours
            return ast.parse(text, filename=file.path)
    except SyntaxError as exc:
        where = f"line {exc.lineno}: " if exc.lineno else ""
        ctx.fail("syntax_error", f"{where}Python syntax error: {exc.msg}", path=file.path)
    except (ValueError, RecursionError, MemoryError) as exc:
        ctx.fail("syntax_error", f"Python source that cannot be parsed: {str(exc)[:200]}", path=file.path)
    return None


def defines(tree: ast.Module, name: str) -> bool:
    """Whether `name` is bound at the module's top level (or might be, via `*` or `__getattr__`)."""
    bound: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bound.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    return True
                bound.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.If | ast.Try):  # `if TYPE_CHECKING:`, `try: import x` fallbacks
            inner = ast.Module(
                body=[n for n in ast.walk(node) if isinstance(n, ast.stmt) and n is not node], type_ignores=[]
            )
            if defines(inner, name):
                return True
    return name in bound or "__getattr__" in bound


def module_candidates(module: str, base: str = "") -> list[str]:
    """Where `module` (dotted) may live, relative to `base`: `a/b.py` or `a/b/__init__.py`, also under src/."""
    stem = module.replace(".", "/")
    roots = [base] if base else ["", "src"]
    return [f"{r}/{p}".lstrip("/") for r in roots for p in (f"{stem}.py", f"{stem}/__init__.py")]


Trees = dict[str, ast.Module | None]


def parse_once(ctx: CheckContext, file: FileRef, trees: Trees) -> ast.Module | None:
    """`parse`, remembered in `trees` so a file referenced twice is reported once."""
    if file.path not in trees:
        trees[file.path] = parse(ctx, file)
    return trees[file.path]


def check_entry_point(
    ctx: CheckContext, entry_point: str, trees: Trees, *, field: str, path: str, base: str = ""
) -> str | None:
    """`module:attr` must name a module file in the version that defines `attr`. Returns the file."""
    module, _, attr = entry_point.partition(":")
    file = next((f for c in module_candidates(module, base) if (f := ctx.file(c))), None)
    if file is None:
        tried = ", ".join(module_candidates(module, base))
        ctx.fail("missing_module", f"{field}: module '{module}' is not among the version's files ({tried})", path=path)
        return None
    tree = parse_once(ctx, file, trees)
    if tree is not None and attr and not defines(tree, attr.split(".")[0]):
        ctx.fail("missing_attribute", f"{field}: {file.path} defines no '{attr.split('.')[0]}'", path=path)
    return file.path
