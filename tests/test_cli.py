"Script tests: the `covidxray` command line, run as a user runs it (a subprocess)."
import subprocess, sys
import pandas as pd
import pytest

from covidxray.synthetic import make_synthetic

def cli(*args, check=True, cwd=None):
    r = subprocess.run([sys.executable, '-m', 'covidxray.cli', *map(str, args)], capture_output=True, text=True, timeout=600, cwd=cwd)
    if check: assert r.returncode == 0, r.stderr
    return r

def test_help_lists_subcommands():
    r = cli('--help')
    for sub in ('index', 'train', 'evaluate', 'audit'): assert sub in r.stdout
    assert 'usage: covidxray index' in cli('index', '--help').stdout

def test_console_script_installed():
    import shutil
    from pathlib import Path
    exe = shutil.which('covidxray', path=str(Path(sys.executable).parent)) or shutil.which('covidxray')
    assert exe, 'the covidxray console script is not installed (pip install -e .)'
    assert subprocess.run([exe, '--version'], capture_output=True, text=True).stdout.startswith('covidxray ')

@pytest.mark.parametrize('layout', ['folders', 'radiography', 'table', 'ieee8023', 'kermany'])
def test_index_every_layout(tmp_path, layout):
    src = make_synthetic(tmp_path/'src', n_per_class=10, layout=layout, size=96, seed=7)
    r = cli('index', src, '--out', tmp_path/'items.csv', '--folds', '3', '--workers', '0')
    t = pd.read_csv(tmp_path/'items.csv')
    assert {'path', 'label', 'source', 'patient_id', 'fold', 'phash'} <= set(t.columns)
    assert t.groupby('patient_id').fold.nunique().max() == 1
    dropped = pd.read_csv(tmp_path/'items.dropped.csv')
    n_classes = {'kermany': 2, 'ieee8023': 2}.get(layout, 3)   # Kermany has no Covid; ieee8023 Normal is 'No Finding'
    assert len(t) == 10 * n_classes
    assert (dropped.reason.str.contains('No Finding').all() if layout == 'ieee8023' else len(dropped) == 0)
    assert 'wrote' in r.stdout

def test_index_errors_are_one_line(tmp_path):
    r = cli('index', tmp_path/'nowhere', '--out', tmp_path/'x.csv', check=False)
    assert r.returncode == 2 and 'does not exist' in r.stderr and 'Traceback' not in r.stderr
    (tmp_path/'junk').mkdir(); (tmp_path/'junk'/'a.txt').write_text('x')
    r = cli('index', tmp_path/'junk', '--out', tmp_path/'x.csv', check=False)
    assert r.returncode == 2 and 'no chest X-ray layout found' in r.stderr

def test_index_relative_paths_stay_valid(tmp_path):
    "A table indexed from a relative path is usable from any folder."
    make_synthetic(tmp_path/'src', n_per_class=4, size=96, seed=8)
    cli('index', 'src', '--out', 'out/items.csv', '--folds', '2', '--workers', '0', cwd=tmp_path)
    from covidxray.data import read_table
    t = read_table(tmp_path/'out'/'items.csv')
    assert len(t) == 12 and (t.reason == '').all()
