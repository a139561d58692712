"""The house rules that import-linter cannot see: no module imports another's private names, no module grows past
~600 lines, and the command line holds no library code (its functions build parsers and run subcommands)."""
import ast, re
from pathlib import Path

LIB = Path(__file__).resolve().parents[1]/'covidxray'
MODULES = sorted(p for p in LIB.glob('*.py') if not p.name.startswith('_'))

def _imports(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or '').startswith('covidxray')):
            yield node.module or '', [a.name for a in node.names]

def test_no_private_imports_across_modules():
    bad = [f"{p.name}: from {m} import {n}" for p in MODULES for m, names in _imports(p) for n in names if n.startswith('_') and not n.startswith('__')]
    assert not bad, bad

def test_modules_stay_small():
    big = {p.name: n for p in MODULES if (n := len(p.read_text().splitlines())) > 600}
    assert not big, f"split these modules (one idea each): {big}"

def test_cli_defines_no_library_functions():
    tree = ast.parse((LIB/'cli.py').read_text())
    defs = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    allowed = re.compile(r'^(add_\w+_parser|run_\w+|parser|main|add_settings|settings_of|_\w+)$')
    assert defs and all(allowed.match(d) for d in defs), [d for d in defs if not allowed.match(d)]

def test_only_folders_spells_the_layout():
    "The on-disk layout has one room: no other module writes a name of it as a literal (a path join, a glob, a name)."
    from covidxray import folders
    names = {folders.CONFIG, folders.WEIGHTS, folders.ONNX, folders.ONNX_INT8, folders.RUN_METRICS, folders.RUN_PREDS, folders.HISTORY}
    dirs = {folders.SEGMENTER, folders.MODEL, folders.CHECKPOINT}
    bad = []
    for p in MODULES:
        if p.name == 'folders.py': continue
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div) and isinstance(n.right, ast.Constant) and n.right.value in names | dirs:
                bad.append(f"{p.name}:{n.lineno}: .../{n.right.value!r}")
            elif isinstance(n, ast.Constant) and isinstance(n.value, str) and (
                    n.value in names or any(n.value.endswith('/' + x) or n.value.startswith(x + '/') for x in names | dirs)):
                bad.append(f"{p.name}:{n.lineno}: {n.value!r}")
    assert not bad, f"use the names in covidxray.folders: {sorted(set(bad))}"
