"""Kaggle and Colab: every notebook opens with the badge and the install cell; the install cell does nothing outside
those hosts; data is found under a Kaggle-style /kaggle/input tree by default."""
import importlib.util, json, subprocess, sys
from pathlib import Path
from unittest import mock

import pytest
from fastcore.xtras import modified_env

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location('hosted_cells', ROOT/'tools'/'hosted_cells.py')
hosted = importlib.util.module_from_spec(spec); spec.loader.exec_module(hosted)
HOSTS = ('KAGGLE_KERNEL_RUN_TYPE', 'COLAB_RELEASE_TAG')

def host_env(**env):
    "Exactly the hosts' variables in `env` set (fastcore's `modified_env` deletes after it sets)."
    return modified_env(*(h for h in HOSTS if h not in env), **env)

def test_every_notebook_opens_with_badge_and_install_cell():
    nbs = hosted.notebooks()
    assert len(nbs) >= 15
    assert hosted.main(['--check']) == 0, "run 'python tools/hosted_cells.py' then 'nbdev_clean'"
    for nb in nbs:
        cells = json.loads(nb.read_text(encoding='utf-8'))['cells']
        badge, install = (''.join(c['source']) for c in cells[1:3])
        assert f'blob/main/nbs/{nb.name})' in badge and 'kaggle.com/kernels/welcome' in badge, nb
        assert install.startswith('#| hide\n'), f'{nb}: the install cell must be hidden from the docs'

def _run_install_cell(**env):
    "Execute the install cell as a kernel would, with `subprocess.run` recorded instead of run."
    with host_env(**env), mock.patch.object(subprocess, 'run') as run:
        exec(compile(hosted.INSTALL, 'install-cell', 'exec'), {'__name__': '__main__'})
    return run

def test_install_cell_is_a_no_op_outside_kaggle_and_colab():
    assert not _run_install_cell().called

@pytest.mark.parametrize('env', [dict(KAGGLE_KERNEL_RUN_TYPE='Interactive'), dict(KAGGLE_KERNEL_RUN_TYPE='Batch'),
                                 dict(COLAB_RELEASE_TAG='release-colab_20261201-060000_RC00')])
def test_install_cell_installs_on_the_hosts(env):
    run = _run_install_cell(**env)
    run.assert_called_once_with([sys.executable, '-m', 'pip', 'install', '-q', 'covidxray'], check=True)
    from covidxray.core import notebook_host   # the library's test says the same
    with host_env(**env): assert notebook_host() == ('kaggle' if 'KAGGLE_KERNEL_RUN_TYPE' in env else 'colab')
    with host_env(): assert notebook_host() is None

def test_badges_follow_settings(tmp_path):
    cfg = dict(git_url='https://github.com/someone/fork', branch='dev')
    b = hosted.badge('nbs/06_train.ipynb', cfg)
    assert 'colab.research.google.com/github/someone/fork/blob/dev/nbs/06_train.ipynb' in b
    assert 'src=https://github.com/someone/fork/blob/dev/nbs/06_train.ipynb' in b

def test_refresh_adds_and_keeps_cells(tmp_path):
    (tmp_path/'nbs').mkdir(); (tmp_path/'settings.ini').write_text((ROOT/'settings.ini').read_text())
    nb = tmp_path/'nbs'/'99_new.ipynb'
    cells = [dict(cell_type='markdown', metadata={}, source=['# New\n', '\n', '> A new idea.']),
             dict(cell_type='code', metadata={}, execution_count=None, outputs=[], source=['#| default_exp new'])]
    nb.write_text(json.dumps(dict(cells=cells, metadata={}, nbformat=4, nbformat_minor=5)))
    assert hosted.refresh(nb, tmp_path) and not hosted.refresh(nb, tmp_path)   # added, then already there
    got = [''.join(c['source']) for c in json.loads(nb.read_text())['cells']]
    assert got[0].startswith('# New') and 'nbs/99_new.ipynb' in got[1] and got[2] == hosted.INSTALL
    assert got[3] == '#| default_exp new'

def test_kaggle_input_tree_is_found_and_indexed(tmp_path):
    "Datasets as Kaggle mounts them: /kaggle/input/<dataset>/<its own folders>, found without naming a path."
    from covidxray.core import data_path
    from covidxray.data import find_sources, index_sources
    from covidxray.synthetic import make_synthetic
    inp = tmp_path/'kaggle'/'input'
    make_synthetic(inp/'covid19-radiography-database'/'COVID-19_Radiography_Dataset', 6, layout='radiography', size=64)
    make_synthetic(inp/'chest-xray-pneumonia'/'chest_xray', 6, layout='kermany', size=64, seed=1)
    make_synthetic(inp/'covid-chestxray-dataset', 6, layout='ieee8023', size=64, seed=2)
    with modified_env('COVIDXRAY_DATA', KAGGLE_KERNEL_RUN_TYPE='Interactive'):
        root = data_path(defaults=(inp, tmp_path/'content'/'data'))
    assert root == inp
    assert sorted(lay for lay, _ in find_sources(root)) == ['ieee8023', 'kermany', 'radiography']
    items = index_sources(root, n_folds=2, seed=0).items
    assert items.source.nunique() == 3 and set(items.label) == {'Covid', 'Normal', 'Pneumonia'}
    assert all(Path(p).is_relative_to(inp) for p in items.path)
