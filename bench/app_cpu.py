"""Benchmark: how fast `covidxray serve` starts and answers one film on a CPU (`app.FilmReader`, the page's reader).

Start: seconds from launching `covidxray serve MODEL` until the page answers on 127.0.0.1 (Python, torch, Gradio and the
model loaded). Answer: `FilmReader.read` per film, the whole answer the page shows (decoding, the input check, the
probabilities, the Grad-CAM overlay; the lung outline where the model has a segmenter), over `--n` films after one
warm-up, median and worst; the same without Grad-CAM. The CPU's name and flags are recorded.

    HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1 .venv/bin/python bench/app_cpu.py RUN/model FILMS.csv [--n 20] [--json OUT]
"""
import argparse, json, os, socket, subprocess, sys, time, urllib.request, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
import numpy as np, pandas as pd

def start_seconds(model:str)->float:
    "Seconds until `covidxray serve MODEL` answers on a free port."
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    env = {**os.environ, 'GRADIO_ANALYTICS_ENABLED': 'False'}
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, '-m', 'covidxray.cli', 'serve', model, '--port', str(port)], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try: urllib.request.urlopen(f'http://127.0.0.1:{port}/', timeout=2); return time.perf_counter() - t0
            except OSError:
                if p.poll() is not None or time.perf_counter() - t0 > 300: raise RuntimeError('covidxray serve did not start') from None
                time.sleep(0.1)
    finally: p.terminate(); p.wait(20)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('model'); ap.add_argument('films', help='a table with a path column (e.g. an index)')
    ap.add_argument('--n', type=int, default=20); ap.add_argument('--json', default=None)
    a = ap.parse_args()
    from covidxray.core import device_info
    from covidxray.app import FilmReader
    starts = [start_seconds(a.model) for _ in range(2)]
    films = pd.read_csv(a.films).sample(a.n + 1, random_state=0).path.tolist()
    rec = dict(model=a.model, start_s=[round(s, 2) for s in starts], cpu=device_info('cpu'))
    for cam in (True, False):
        r = FilmReader(a.model, cam=cam); r.read(films[0])
        ts = []
        for f in films[1:]:
            t0 = time.perf_counter(); r.read(f); ts.append(time.perf_counter() - t0)
        rec['with_gradcam' if cam else 'without_gradcam'] = dict(median_s=round(float(np.median(ts)), 3), max_s=round(max(ts), 3), n=len(ts))
    print(json.dumps(rec, indent=1))
    if a.json: Path(a.json).write_text(json.dumps(rec, indent=1) + '\n')

if __name__ == '__main__': main()
