"""The docs site (`make docs`: tools/build_docs.py) opened in headless Chromium, as a reader would.

Every page the notebooks give is loaded from disk; a page fails on an error output, an image that did not load, a link
to a page or an anchor that is not there, a JavaScript error, or an exported name without its `show_doc` section.
README.md must be what index.ipynb gives. Chromium is Debian's `chromium` (installed here when missing, as root);
playwright drives it (never `playwright install`: no browser download). `COVIDXRAY_SHOTS=DIR` keeps a screenshot of
the landing page and of one notebook page there.
"""
import importlib, inspect, os, re, shutil, subprocess, sys
from pathlib import Path
from urllib.parse import urlparse, unquote
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO/'tools'))
import build_docs  # noqa: E402

CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync']

def chromium_path():
    "Debian's chromium; installed with apt-get when missing and we are root, else None."
    for name in ('chromium', 'google-chrome', 'google-chrome-stable'):   # Debian's; a GitHub runner's Chrome
        if shutil.which(name): return shutil.which(name)
    if shutil.which('apt-get') and os.geteuid() == 0:
        env = {**os.environ, 'DEBIAN_FRONTEND': 'noninteractive'}
        subprocess.run(['apt-get', 'update', '-qq'], env=env, capture_output=True, timeout=600)
        subprocess.run(['apt-get', 'install', '-y', '-qq', 'chromium'], env=env, capture_output=True, timeout=900)
    return shutil.which('chromium')

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp('docs')/'_docs'
    errors = build_docs.build(out, quiet=True)
    assert not errors, 'the docs build found errors:\n' + '\n'.join(errors)
    return out

@pytest.fixture(scope='module')
def browser(tmp_path_factory):
    exe = chromium_path()
    if not exe: pytest.skip('chromium is not installed and cannot be installed here (apt-get as root)')
    try: from playwright import sync_api
    except ImportError:                                                  # a dev set without it: say so; in CI, fail
        if os.environ.get('CI'): pytest.fail('playwright (requirements-dev.txt) is not installed')
        pytest.skip('playwright (requirements-dev.txt) is not installed')
    profile = tmp_path_factory.mktemp('chromium-profile')                 # a fresh profile each run
    with sync_api.sync_playwright() as p:                                 # playwright adds --headless itself
        ctx = p.chromium.launch_persistent_context(str(profile), executable_path=exe, headless=True,
                                                   args=CHROMIUM_ARGS[1:], viewport={'width': 1280, 'height': 900})
        yield ctx
        ctx.close()

def test_every_notebook_has_a_page(site):
    nbs = REPO/'nbs'
    for nb in build_docs.notebooks(nbs):
        assert (site/build_docs.page_name(nb, nbs)).is_file(), nb
    assert (site/'index.html').is_file()

_PAGE_JS = """() => ({
  errors: [...document.querySelectorAll('.output_error, .output_stderr, [data-mime-type="application/vnd.jupyter.stderr"]')]
            .map(e => e.innerText.slice(0, 300)),
  images: [...document.images].map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0})),
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  ids: [...document.querySelectorAll('[id]')].map(e => e.id),
  text: document.body.innerText.length,
})"""

def test_pages_in_chromium(site, browser):
    "Each page loads with no error output, no broken image, no dead link to a page or an anchor, no script error."
    page = browser.new_page()
    js_errors = []
    page.on('pageerror', lambda e: js_errors.append(str(e)))
    info = {}
    for f in sorted(site.glob('*.html')):
        page.goto(f.as_uri(), wait_until='load')
        info[f.name] = page.evaluate(_PAGE_JS)
    problems = []
    for name, d in info.items():
        if d['text'] < 200: problems.append(f'{name}: almost empty ({d["text"]} characters)')
        problems += [f'{name}: error output: {e}' for e in d['errors']]
        problems += [f'{name}: image did not load: {i["src"]}' for i in d['images']     # the Colab/Kaggle badges are
                     if not i['ok'] and not i['src'].startswith(('http://', 'https://'))]  # outside: not checked offline
        for href in d['links']:
            u = urlparse(href)
            if u.scheme != 'file': continue                              # the outside world is not checked offline
            target = Path(unquote(u.path))
            if not target.is_file(): problems.append(f'{name}: dead link: {href}'); continue
            if u.fragment and target.suffix == '.html':
                ids = info.get(target.name, {}).get('ids', [])
                if u.fragment not in ids: problems.append(f'{name}: link to a missing anchor: {target.name}#{u.fragment}')
    problems += [f'JavaScript error: {e}' for e in js_errors]
    assert not problems, '\n'.join(problems)
    shots = os.environ.get('COVIDXRAY_SHOTS')
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.set_viewport_size({'width': 1280, 'height': 1000})
        page.goto((site/'index.html').as_uri(), wait_until='load')
        page.screenshot(path=str(Path(shots)/'index.png'), full_page=True)
        page.goto((site/'gradcam.html').as_uri(), wait_until='load')          # a notebook page at its first show_doc
        page.evaluate("() => document.querySelector('a.source-link').scrollIntoView()")
        page.screenshot(path=str(Path(shots)/'gradcam.png'))
    page.close()

def test_every_exported_name_has_its_show_doc(site):
    """Every function and class in a module's `__all__` has a heading with its id on the module's page (nbdev's links
    point there); constants are described in the notebook's prose, as nbdev leaves them."""
    cfg = build_docs._config()
    nbs = REPO/'nbs'
    missing = []
    for nb in build_docs.notebooks(nbs):
        m = re.search(r'#\|\s*default_exp\s+([\w.]+)', nb.read_text())
        if not m: continue
        mod = importlib.import_module(f'{cfg.lib_name}.{m.group(1)}')
        html = (site/build_docs.page_name(nb, nbs)).read_text()
        ids = set(re.findall(r'<h[1-6][^>]*\bid="([^"]*)"', html))
        names = [n for n in getattr(mod, '__all__', []) if inspect.isclass(getattr(mod, n)) or callable(getattr(mod, n))]
        assert names, f'{nb.name}: no functions or classes exported'
        missing += [f'{nb.name}: {n}' for n in names if n.lower() not in ids]
    assert not missing, 'exported names without a show_doc section:\n' + '\n'.join(missing)

def test_landing_page(site):
    "The landing page says what it is, how to install and start, and shows the results table and a Grad-CAM figure."
    html = (site/'index.html').read_text()
    for s in ('pip install covidxray', 'Quick start', 'macro-F1', '<table'): assert s in html, s
    imgs = re.findall(r'<img[^>]*src="([^"]+)"', html)
    assert any('gradcam' in i for i in imgs), imgs
    for i in imgs:
        if not i.startswith(('data:', 'http://', 'https://')): assert (site/i).is_file(), i

def test_readme_is_index():
    "README.md is what nbs/index.ipynb gives (`make readme` writes it)."
    assert (REPO/'README.md').read_text() == build_docs.readme_text(), \
        'README.md differs from nbs/index.ipynb: edit the notebook, then `make readme`'
