"""Hostile and careless inputs, one row each: what a user types, what covidxray must answer, what must survive.

To add a case, add a `Case` to `CASES`: the command line, with `{names}` from `world` (the shared inputs) and `{out}`
(a fresh folder of the row's own), the exit status, words the output must hold, and the inputs that must be
byte-identical afterwards. Rows run in-process (`cli.main`, a fraction of a second each after the first import); cases
that need a real process (signals, a second writer) are in `test_cli.py` and `test_train_cli.py`.
"""
import json, shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from covidxray.synthetic import make_synthetic

NEVER = ('Traceback', 'Warning', 'weights_only=False')   # no raw tracebacks, no library warnings, never the advice to unpickle

@dataclass
class Case:
    name: str          # the defect, in a few words
    argv: str          # the command line after `covidxray`, formatted with `world` and `out`
    rc: int            # the exit status: 2 for input the user must fix, 1 for what the system refused, 0 for done
    says: tuple = ()   # words the output (stdout and stderr) must hold
    keep: tuple = ()   # `world` names of inputs that must be byte-identical afterwards (files or folders)
    named: str = ''    # a `world` name whose path the output must say, and never twice on one line

CASES = [
    # outputs never destroy inputs (issue 21, defects 1-3)
    Case('--out is the image predicted', 'predict {run} {img} --out {img}', 2, ("image's extension",), ('img',)),
    Case('--out is the table predicted', 'predict {run} {table} --out {table}', 2, ('is also an input',), ('table',)),
    Case('--out with an image name', 'predict {run} {src} --out {out}/p.png', 2, ("image's extension",)),
    Case('--out inside the model folder', 'predict {run} {src} --out {run}/model/config.json', 2, ('inside the model folder',), ('run',)),
    Case('--out is a folder', 'predict {run} {src} --out {docs}', 1, ('is a folder',), ('docs',)),
    Case('index onto its own source table', 'index {table} --out {table}', 2, ('is also an input',), ('table',)),
    Case('export into a folder covidxray did not write', 'export {run}/model --onnx --out {docs} --no-dynamo', 1, ('cv.pdf',), ('docs',)),
    # model folders whose files lie (defect 5)
    Case('config.json with temperature -1', 'predict {inverted} {src} --out {out}/p.csv', 2, ("'temperature' must be a number",), ('inverted',)),
    Case('config.json beside other weights', 'predict {swapped} {src} --out {out}/p.csv', 2, ("'weights_sha256'",), ('swapped',)),
    Case('a pickled weights file', 'train {table} --out {out}/run --weights {evil} --arch resnet10t --epochs 1 --workers 0',
         2, ('pickled Python objects',), ('evil',)),
    # tables that would train dishonestly or read the wrong thing (defects 6, 8, 17)
    Case('a folded table in which every film is in two folds', 'train {joined} --out {out}/run --arch resnet10t --no-pretrained --epochs 1',
         2, ('leaks across folds',), ('joined',)),
    Case('a CSV without a file column', 'predict {run} {names} --out {out}/p.csv', 2, ('without a file column',)),
    Case('one film listed with two labels', 'index {clash} --out {out}/t.csv --folds 0 --workers 0', 0,
         ('[conflicting labels]', 'listed with different labels'), ('clash',), 'clash_film'),
    Case('a PNG named .dcm', 'predict {run} {misnamed} --out {out}/p.csv', 0, ('rename it to named.png', '1 unreadable skipped'), (), 'named_dcm'),
    # options that would fail late (defects 10, 16)
    Case('--device that is not a device', 'predict {run} {src} --out {out}/p.csv --device bogus', 2, ('is not a device',)),
    Case('--device this machine lacks', 'predict {run} {src} --out {out}/p.csv --device cuda:7', 2, ('no such device',)),
    Case('--bs 0', 'predict {run} {src} --out {out}/p.csv --bs 0', 2, ('--bs must be 1 or more',)),
    Case('--workers -1', 'predict {run} {src} --out {out}/p.csv --workers -1', 2, ('--workers must be 0',)),
    Case('a hub revision that climbs', 'predict hf://lab/cxr@../../etc {src} --out {out}/p.csv', 2, ('is not a revision',)),
    Case('a hub reference without an owner', 'predict hf://cxr {src} --out {out}/p.csv', 2, ('is not a hub model',)),
    Case('a path that does not exist', 'predict {run} {src}/nowhere.png --out {out}/p.csv', 2, ('does not exist',)),
]

def _model(folder, seed=0):
    "An untrained resnet10t at 64 px saved as a model folder: prediction without training."
    import torch
    from covidxray.model import build_model, save_model
    torch.manual_seed(seed)
    m = build_model('resnet10t', pretrained=False); m.config['size'] = 64
    return save_model(m, folder/'model').parent

@pytest.fixture(scope='module')
def world(tmp_path_factory):
    "The inputs every row may name; built once."
    import torch
    from covidxray.cli import main
    d = tmp_path_factory.mktemp('world')
    w = dict(src=make_synthetic(d/'src', n_per_class=3, size=80, seed=7), table=d/'t.csv', docs=d/'docs', evil=d/'evil.pth')
    w['img'] = next(p for p in sorted(w['src'].rglob('*.png')) if '.lungs' not in p.parts)
    assert main(['index', str(w['src']), '--out', str(w['table']), '--folds', '2', '--workers', '0']) == 0
    w['docs'].mkdir(); (w['docs']/'cv.pdf').write_bytes(b'years of work')
    w['run'] = _model(d/'run')
    w['inverted'] = Path(shutil.copytree(w['run'], d/'inverted'))
    cfg = json.loads((w['inverted']/'model'/'config.json').read_text())
    (w['inverted']/'model'/'config.json').write_text(json.dumps({**cfg, 'temperature': -1}))
    w['swapped'] = Path(shutil.copytree(w['run'], d/'swapped'))
    shutil.copy(_model(d/'other', seed=1)/'model'/'model.safetensors', w['swapped']/'model'/'model.safetensors')
    class Evil:
        def __reduce__(self): return (print, ('pickled code ran!',))
    torch.save({'w': Evil()}, w['evil'])
    t = pd.read_csv(w['table'])
    pd.concat([t, t.assign(fold=1 - t.fold)]).to_csv(d/'joined.csv', index=False); w['joined'] = d/'joined.csv'
    t[['label']].to_csv(d/'names.csv', index=False); w['names'] = d/'names.csv'
    w['clash_film'] = t.path[0]
    pd.concat([t[['path', 'label']], t[['path', 'label']].iloc[:1].assign(label='Normal' if t.label[0] != 'Normal' else 'Covid')]
              ).to_csv(d/'clash.csv', index=False); w['clash'] = d/'clash.csv'
    (d/'misnamed').mkdir(); Image.open(w['img']).save(d/'misnamed'/'named.dcm', format='PNG')
    w['misnamed'], w['named_dcm'] = d/'misnamed', d/'misnamed'/'named.dcm'
    return w

def _snapshot(p:Path)->dict:
    return {str(f.relative_to(p)): f.read_bytes() for f in sorted(p.rglob('*')) if f.is_file()} if p.is_dir() else {'': p.read_bytes()}

@pytest.mark.parametrize('case', CASES, ids=[c.name for c in CASES])
def test_hostile(case, world, tmp_path, capsys):
    from covidxray.cli import main
    before = {k: _snapshot(Path(world[k])) for k in case.keep}
    capsys.readouterr()
    rc = main(case.argv.format(**world, out=tmp_path).split())
    got = capsys.readouterr(); text = got.out + got.err
    assert rc == case.rc, (rc, text)
    for s in case.says: assert s in text, (s, text)
    for s in NEVER: assert s not in text, (s, text)
    if case.named:
        lines = [l for l in text.splitlines() if str(world[case.named]) in l]
        assert lines and all(l.count(str(world[case.named])) == 1 for l in lines), text
    for k in case.keep: assert _snapshot(Path(world[k])) == before[k], f'{k} changed'
    if case.rc: assert not any(tmp_path.iterdir()), list(tmp_path.iterdir())   # a refusal writes nothing
