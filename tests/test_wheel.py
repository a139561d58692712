"""The wheel as a user gets it: `python -m build` makes a wheel and an sdist, and the wheel installs into a fresh venv
that already has torch (as Kaggle and Colab do), with its dependencies from PyPI, and runs `covidxray --help` and the
demo from there: cwd outside the checkout, no PYTHONPATH, no nbdev.

The fresh venv gets torch the way a Kaggle or Colab image has it, already installed: torch, torchvision and what they
need (numpy, pillow, the CUDA libraries, ...) are linked in from the environment running the tests (their files and
their dist-info, so pip sees them as installed) instead of copied or downloaded again, which takes many minutes and
several GB. Everything else comes from the registry through pip:

- `test_wheel_runs` pins the rest to requirements-dev.txt's versions (the stack the notebooks were tested with);
- `test_wheel_newest_stack` (slow: `make test-newest-stack`, COVIDXRAY_NEWEST_STACK=1) lets pip take the newest fastai,
  fastcore and timm the registry serves, so that a Colab user's newer stack is known to work.
"""
import os, re, shutil, subprocess, sys, tarfile, time, zipfile
from importlib.metadata import distribution, PackageNotFoundError
from pathlib import Path
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
# what a Kaggle or Colab image has before us: torch and the scientific stack every such image ships
PRESENT = ['torch', 'torchvision', 'numpy', 'scipy', 'pandas', 'scikit-learn', 'matplotlib', 'pillow']

def _closure(names):
    "The distributions `names` need, transitively, as installed in this environment."
    seen, todo = {}, list(names)
    while todo:
        n = canonicalize_name(todo.pop())
        if n in seen: continue
        try: d = distribution(n)
        except PackageNotFoundError: continue
        seen[n] = d
        for r in d.requires or []:
            req = Requirement(r)
            if req.marker and not req.marker.evaluate({'extra': ''}): continue
            todo.append(req.name)
    return seen

def _link_present(venv):
    """Torch, torchvision and their requirements (package folders and dist-info), linked into a folder beside the venv
    that a `.pth` file puts on its path: pip sees them installed, and never uninstalls them (they lie outside the venv,
    so an upgrade would install beside them, not delete through the links)."""
    site = Path(subprocess.run([venv/'bin'/'python', '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                               capture_output=True, text=True, check=True).stdout.strip())
    present = venv.parent/'preinstalled'
    present.mkdir()
    pins = []
    for _name, d in _closure(PRESENT).items():
        src_site = Path(d.locate_file(''))
        tops = {Path(str(f)).parts[0] for f in d.files or [] if not str(f).startswith('..')}
        for t in sorted(tops - {'__pycache__'}):
            if t.endswith('.pth') or (present/t).exists() or not (src_site/t).exists(): continue
            (present/t).symlink_to(src_site/t)
        pins.append(f'{d.metadata["Name"]}=={d.version}')
    (site/'preinstalled.pth').write_text(str(present) + '\n')
    return pins

def _env():
    e = {k: v for k, v in os.environ.items() if not k.startswith(('PYTHON', 'VIRTUAL_ENV', 'PIP_REQUIRE'))}
    e.update(HF_HUB_OFFLINE='1', NO_ALBUMENTATIONS_UPDATE='1', MPLBACKEND='Agg', PIP_DISABLE_PIP_VERSION_CHECK='1')
    return e

def _run(cmd, cwd, timeout=900, **kw):
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout, **kw)
    assert r.returncode == 0, f'{" ".join(map(str, cmd))} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}'
    return r

@pytest.fixture(scope='module')
def dist(tmp_path_factory):
    "`python -m build`: the wheel and the sdist, from a copy of the checkout (the build leaves nothing in it)."
    out, src = tmp_path_factory.mktemp('dist'), tmp_path_factory.mktemp('src')/'covidxray'
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns('.git', '.venv', '_docs', '_proc', '__pycache__', 'build',
                                                            'dist', '*.egg-info', 'demo', 'nbs', 'bench', 'results'))
    _run([sys.executable, '-m', 'build', '--outdir', out, src], cwd=out)
    whl, sdist = list(out.glob('covidxray-*.whl')), list(out.glob('covidxray-*.tar.gz'))
    assert len(whl) == 1 and len(sdist) == 1, list(out.iterdir())
    return whl[0], sdist[0]

def test_wheel_and_sdist(dist):
    "The wheel holds the library, its command and its licence; the sdist can build it again (settings.ini, setup.py, README.md, LICENSE)."
    whl, sdist = dist
    names = zipfile.ZipFile(whl).namelist()
    for m in ('core', 'data', 'model', 'train', 'cli', 'weights', '_modidx'): assert f'covidxray/{m}.py' in names, m
    ep = next(n for n in names if n.endswith('entry_points.txt'))
    assert 'covidxray = covidxray.cli:main' in zipfile.ZipFile(whl).read(ep).decode()
    meta = zipfile.ZipFile(whl).read(next(n for n in names if n.endswith('METADATA'))).decode()
    assert re.search(r'^Requires-Dist: fastai>=', meta, re.M) and 'extra == "offline"' in meta
    assert not re.search(r'^Requires-Dist: nbdev', meta, re.M | re.I) or 'extra == "dev"' in meta
    sd = {n.split('/', 1)[-1] for n in tarfile.open(sdist).getnames()}
    for f in ('settings.ini', 'setup.py', 'README.md', 'LICENSE', 'covidxray/cli.py'): assert f in sd, f
    lic = [n for n in names if re.search(r'\.dist-info/(licenses/)?LICENSE$', n)]            # settings.ini says apache2: the text ships
    assert lic and 'Apache License' in zipfile.ZipFile(whl).read(lic[0]).decode(), names
    assert re.search(r'^License(-Expression)?: (Apache|apache)', meta, re.M), meta[:500]
    assert not any(n.startswith('tests/') for n in sd), 'the sdist carries tests that cannot run without the repository'

def _install(tmp_path, whl, pins=()):
    "A fresh venv with torch present; the wheel and its requirements from the registry; torch stays as it was."
    venv = tmp_path/'venv'
    _run([sys.executable, '-m', 'venv', venv], cwd=tmp_path)
    present = _link_present(venv)
    assert any(s.startswith('torch==') for s in present), 'torch is not installed in the environment running the tests'
    cons = tmp_path/'constraints.txt'                                  # the preinstalled torch stays; pins as asked
    cons.write_text('\n'.join([p for p in present if canonicalize_name(p.split('==')[0]) in PRESENT] + list(pins)) + '\n')
    t = time.time()
    _run([venv/'bin'/'pip', 'install', '-q', '--no-compile', f'{whl}[offline]', '-c', cons], cwd=tmp_path, timeout=1500)
    print(f'pip install of the wheel and its requirements: {time.time() - t:.0f} s')
    return venv, cons

def _check_runs(venv, tmp_path):
    "Imported from the venv (not the checkout), no nbdev there, `--help` and a small demo with ImageNet weights."
    py, work = venv/'bin'/'python', tmp_path/'work'
    work.mkdir()
    r = _run([py, '-c', 'import covidxray, importlib.util as u; print(covidxray.__file__); print(u.find_spec("nbdev"))'], cwd=work)
    f, nbdev = r.stdout.split()
    assert Path(f).resolve().is_relative_to(venv.resolve()) and not Path(f).resolve().is_relative_to(REPO), f
    assert nbdev == 'None', 'nbdev is installed in the fresh venv: the test would not show the wheel runs without it'
    r = _run([venv/'bin'/'covidxray', '--help'], cwd=work)
    for cmd in ('index', 'train', 'evaluate', 'predict', 'gradcam', 'audit', 'demo'): assert cmd in r.stdout, cmd
    t = time.time()
    r = _run([venv/'bin'/'covidxray', 'demo', '--out', 'demo', '--n-per-class', '30', '--epochs', '1'], cwd=work,
             timeout=1200)
    print(f'covidxray demo: {time.time() - t:.0f} s')
    assert 'demo-scratch' not in r.stdout, 'the [offline] extra did not bring the ImageNet weights:\n' + r.stdout[-2000:]
    for p in ('run/model/model.safetensors', 'eval/metrics.json', 'gradcam/grid.png'): assert (work/'demo'/p).is_file(), p
    return _run([py, '-m', 'pip', 'list', '--format=freeze'], cwd=work).stdout

def _dev_pins():
    "requirements-dev.txt's `==` pins, as pip constraints."
    return [ln.split('#')[0].strip() for ln in (REPO/'requirements-dev.txt').read_text().splitlines()
            if '==' in ln.split('#')[0]]

@pytest.mark.train
def test_wheel_runs(dist, tmp_path):
    "The wheel in a fresh venv with torch, its requirements at the tested versions: `--help` and the demo run."
    pins = [p for p in _dev_pins() if canonicalize_name(p.split('==')[0]) not in PRESENT]
    venv, _ = _install(tmp_path, dist[0], pins)
    _check_runs(venv, tmp_path)

@pytest.mark.skipif(not os.environ.get('COVIDXRAY_NEWEST_STACK'), reason='slow: `make test-newest-stack` runs it')
def test_wheel_newest_stack(dist, tmp_path):
    "Beside the newest fastai, fastcore and timm the registry serves (a Colab user's stack), the demo still runs."
    venv, cons = _install(tmp_path, dist[0])
    _run([venv/'bin'/'pip', 'install', '-q', '--upgrade', 'fastai', 'fastcore', 'timm', '-c', cons], cwd=tmp_path,
         timeout=900)
    frozen = _check_runs(venv, tmp_path)
    got = {ln.split('==')[0].lower(): ln.split('==')[1] for ln in frozen.splitlines() if '==' in ln}
    print('newest stack:', {k: got.get(k) for k in ('fastai', 'fastcore', 'timm', 'torch', 'albumentations', 'grad-cam')})
