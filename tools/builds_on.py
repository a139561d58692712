"""Every module's notebook opens with what it builds on: the covidxray modules it imports, read from the module itself.

    python tools/builds_on.py          # add or refresh the *Builds on* line in the opening cell of every module's notebook
    python tools/builds_on.py --check  # exit 1 naming the notebooks whose line is missing or stale

The line sits at the end of the notebook's first cell, under its title and summary; `tests/test_architecture.py` runs
the check, so a notebook that starts importing another module says so in its opening (and `.importlinter` says
whether it may).
"""
import argparse, ast, json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIB, NBS = ROOT/'covidxray', ROOT/'nbs'
LINE = re.compile(r'^\*Builds on\* \(what it imports of covidxray\): .*$', re.M)

def imports_of(path:Path)->set:
    "The covidxray modules `path` imports (at module level or inside functions), by short name."
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or '').startswith('covidxray')):
            m = (node.module or '').removeprefix('covidxray.').removeprefix('covidxray')
            out |= {m.split('.')[0]} if m else {a.name for a in node.names if not a.name.startswith('__')}
    return out - {path.stem}

def line(mods:set)->str:
    return '*Builds on* (what it imports of covidxray): ' + (', '.join(f'`{m}`' for m in sorted(mods)) if mods else 'nothing') + '.'

def notebooks():
    "(module file, its notebook) for every exported module."
    for p in sorted(LIB.glob('*.py')):
        m = None if p.name.startswith('_') else re.search(r'File to edit: \.\./nbs/(\S+\.ipynb)', p.read_text())
        if m: yield p, NBS/m.group(1)

def stale()->dict:
    "{notebook: (what its opening says, what the module imports)} where they differ."
    out = {}
    for p, nbp in notebooks():
        first = ''.join(json.loads(nbp.read_text())['cells'][0]['source'])
        said = LINE.search(first)
        if not said or said.group(0) != line(imports_of(p)): out[nbp.name] = (said.group(0) if said else 'no line', line(imports_of(p)))
    return out

def refresh():
    for p, nbp in notebooks():
        nb = json.loads(nbp.read_text()); c = nb['cells'][0]; s = ''.join(c['source']); want = line(imports_of(p))
        new = LINE.sub(want, s) if LINE.search(s) else s.rstrip('\n') + '\n\n' + want
        if new != s: c['source'] = new.splitlines(True); nbp.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n'); print(nbp.name, want)

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0]); ap.add_argument('--check', action='store_true')
    if ap.parse_args().check:
        bad = stale()
        for k, (said, want) in bad.items(): print(f"{k}: says {said!r}, should say {want!r}")
        sys.exit(1 if bad else 0)
    refresh()
