"""`covidxray serve` in headless Chromium, as a user would use it: a tiny model (random weights, an input check fitted
on synthetic films) is served on 127.0.0.1; the page gets a synthetic film (a probability table and a Grad-CAM overlay),
a film that is no frontal chest X-ray (a real lateral film where ../shared/data is beside the checkout, else matplotlib's
MRI slice: refused, with the reason, and no class), and a broken file (its reason, never a traceback).
`COVIDXRAY_SHOTS=DIR` keeps a screenshot of each state there (results/app/ holds the committed ones).
"""
import os, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import pytest

from test_docs import chromium_path, CHROMIUM_ARGS

REPO = Path(__file__).resolve().parents[1]
LATERALS = REPO.parent/'shared'/'data'/'cxr256_notfrontal'/'Lateral'
pytestmark = pytest.mark.timeout(600)

def _free_port()->int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@pytest.fixture(scope='module')
def served(tmp_path_factory):
    pytest.importorskip('gradio', reason='gradio (the [app] extra, requirements-dev.txt) is not installed')
    from covidxray.synthetic import make_synthetic, not_films
    from covidxray.model import build_model, save_model
    from covidxray.predict import fit_model_check
    from covidxray.app import FilmReader
    d = tmp_path_factory.mktemp('app')
    make_synthetic(d/'syn', n_per_class=10, size=128)
    films = sorted(str(p) for p in (d/'syn').rglob('*.png') if '.lesions' not in str(p) and '.lungs' not in str(p))
    m = build_model('resnet10t', pretrained=False).eval(); m.config['size'] = 128
    m.input_check = fit_model_check(m, films[::2], films[1::2])
    save_model(m, d/'model')
    reader = FilmReader(d/'model')
    film = next(f for f in films if reader.read(f)[0]['pred'])            # a film the check lets through
    laterals = sorted(LATERALS.glob('*.jpg'))
    other = str(laterals[0]) if laterals else str(next(p for p in not_films(d/'pics') if 'mri' in p.name))
    bad = d/'broken.png'; bad.write_bytes(b'\x89PNG\r\n\x1a\n not really')
    port = _free_port()
    env = {**os.environ, 'GRADIO_ANALYTICS_ENABLED': 'False', 'HF_HUB_OFFLINE': '1', 'NO_PROXY': '127.0.0.1,localhost'}
    t0 = time.time()
    proc = subprocess.Popen([sys.executable, '-m', 'covidxray.cli', 'serve', str(d/'model'), '--port', str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    url = f'http://127.0.0.1:{port}/'
    try:
        while True:
            try: urllib.request.urlopen(url, timeout=2); break
            except OSError:
                if proc.poll() is not None: pytest.fail('covidxray serve exited:\n' + proc.stdout.read())
                if time.time() - t0 > 120: pytest.fail('covidxray serve did not answer within 120 s')
                time.sleep(0.5)
        yield dict(url=url, film=film, other=other, lateral=bool(laterals), bad=str(bad), started=time.time() - t0)
    finally:
        proc.terminate()
        try: proc.wait(20)
        except subprocess.TimeoutExpired: proc.kill()

@pytest.fixture(scope='module')
def page(served, tmp_path_factory):
    exe = chromium_path()
    if not exe: pytest.skip('chromium is not installed and cannot be installed here (apt-get as root)')
    from playwright import sync_api
    profile = tmp_path_factory.mktemp('chromium-profile')
    with sync_api.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(profile), executable_path=exe, headless=True,
                                                   args=CHROMIUM_ARGS[1:], viewport={'width': 1280, 'height': 1100})
        pg = ctx.new_page()
        errors = []
        pg.on('pageerror', lambda e: errors.append(str(e)))
        pg.goto(served['url'], wait_until='load')
        pg.wait_for_selector('#read', timeout=60_000)
        pg.js_errors = errors
        yield pg
        ctx.close()

def _read(page, path):
    "Open the page afresh, upload `path` alone, press Read, and wait until the table names it."
    name = Path(path).name
    page.reload(wait_until='load'); page.wait_for_selector('#read', timeout=60_000)
    page.locator('#films input[type=file]').set_input_files(path)
    page.wait_for_function(f"document.querySelector('#films').innerText.includes({name!r})", timeout=60_000)
    page.click('#read')
    page.wait_for_function(f"document.querySelector('#results').innerText.includes({name!r})", timeout=60_000)
    page.wait_for_timeout(500)                                            # the gallery renders after the table
    return page.inner_text('#results')

def _shot(page, name):
    d = os.environ.get('COVIDXRAY_SHOTS')
    if d: Path(d).mkdir(parents=True, exist_ok=True); page.screenshot(path=str(Path(d)/name), full_page=True)

def test_the_page_starts_with_the_warning(served, page):
    text = page.inner_text('body')
    assert 'Not for diagnosis' in text, text[:500]
    assert served['started'] < 60, served['started']                     # seconds, not minutes (bench/app_cpu.md measures it)

def test_a_film_gets_probabilities_and_an_overlay(served, page):
    table = _read(page, served['film'])
    assert 'no answer' not in table and 'yes' in table, table
    assert any(c in table for c in ('Covid', 'Normal', 'Pneumonia'))
    imgs = page.eval_on_selector_all('#overlays img', 'els => els.map(e => e.complete && e.naturalWidth > 0)')
    assert imgs and all(imgs), imgs
    _shot(page, 'answer.png')

def test_a_lateral_film_is_refused(served, page):
    table = _read(page, served['other'])
    assert 'no answer' in table and 'no' in table.split(), table
    assert 'frontal' in table, table                                      # the reason, in words
    _shot(page, 'refused.png' if served['lateral'] else 'refused_mri.png')
    imgs = page.eval_on_selector_all('#overlays img', 'els => els.map(e => e.getAttribute("src"))')
    assert not imgs, f'no overlay for a refused film: {imgs}'

def test_a_broken_file_gets_its_reason(served, page):
    table = _read(page, served['bad'])
    assert 'no answer' in table and 'cannot be read' in table, table
    assert 'Traceback' not in page.inner_text('body')
    assert not page.js_errors, page.js_errors
