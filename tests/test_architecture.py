"""The house rules that import-linter cannot see: no module imports another's private names, no module grows past
~600 lines, the command line holds no library code (its functions build parsers and run subcommands, each a call of
one library function), and only `folders` spells the on-disk layout."""
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

# what a command may call besides the one function that does its work: formatting its result for the terminal
_FORMATTERS = re.compile(r'^(format_\w+|\w+_summary|printable|path_reason)$')

def _library_calls(fn)->list:
    "The covidxray functions `fn` imports and calls by name (formatters aside)."
    lib = {a.asname or a.name for n in ast.walk(fn) if isinstance(n, ast.ImportFrom) and (n.module or '').startswith('covidxray')
           for a in n.names}
    return sorted({n.func.id for n in ast.walk(fn) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                   and n.func.id in lib and not _FORMATTERS.match(n.func.id)})

def test_commands_only_parse_call_and_print():
    "Each `run_*` calls one library function (the pipeline lives in the library, where a notebook can call it) and is short."
    tree = ast.parse((LIB/'cli.py').read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Import) and any(a.name.startswith('covidxray') for a in n.names)], \
        "import names from covidxray modules (the count below reads them), not the modules"
    fns = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    runs = {k: f for k, f in fns.items() if k.startswith('run_')}
    assert len(runs) >= 10, sorted(runs)
    many = {k: calls for k, f in runs.items() if len(calls := _library_calls(f)) != 1}
    assert not many, f"a command calls one library function (move the pipeline into the library): {many}"
    long = {k: f.end_lineno - f.lineno for k, f in runs.items() if f.end_lineno - f.lineno > 20}
    assert not long, f"a command parses, calls and prints: {long}"
    helpers = {k: calls for k, f in fns.items() if k.startswith('_') and len(calls := _library_calls(f)) > 2}
    assert not helpers, f"the command line's helpers check arguments; they do no library work: {helpers}"

def test_only_folders_spells_the_layout():
    "The on-disk layout has one room: no other module writes a name of it as a literal (a path join, a glob, a name)."
    from covidxray import folders
    names = {folders.CONFIG, folders.WEIGHTS, folders.ONNX, folders.ONNX_INT8, folders.RUN_METRICS, folders.RUN_PREDS, folders.HISTORY,
             folders.OV_XML, folders.OV_STAMP, folders.OV_INT8_XML, folders.OV_INT8_REPORT, folders.OV_FRONT_XML, folders.OV_BACK_XML,
             folders.ENGINE_RECORD}
    dirs = {folders.SEGMENTER, folders.MODEL, folders.CHECKPOINT, folders.OPENVINO}
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

def test_notebook_openings_say_what_they_build_on():
    "Each module's notebook opens with the covidxray modules it imports, and the list is the module's real one (tools/builds_on.py)."
    import importlib.util
    spec = importlib.util.spec_from_file_location('builds_on', LIB.parent/'tools'/'builds_on.py')
    tool = importlib.util.module_from_spec(spec); spec.loader.exec_module(tool)
    assert len(list(tool.notebooks())) >= 20
    bad = tool.stale()
    assert not bad, f"run python tools/builds_on.py; (says, should say): {bad}"
