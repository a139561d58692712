"""Benchmark: the training data pipeline (decode + heavy augmentation + collate + batch transforms) against plain
decode + resize of the same files, and against what training consumes (resnet200d at 256 px, body frozen, CPU bf16).

    HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1 .venv/bin/python bench/data_pipeline.py [--data ../shared/data/cxr256] [--n 512]

Prints a markdown table; results and the command are kept in bench/data_pipeline.md.
"""
import argparse, os, time, tempfile, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')

import numpy as np, torch
from PIL import Image
from covidxray.synthetic import make_synthetic
from covidxray.data import index_sources
from covidxray.inputs import xray_dls

def plain_decode_resize(paths, size):
    "Baseline: PIL decode to grayscale + resize to size x size, nothing else."
    t = time.perf_counter()
    for p in paths:
        with Image.open(p) as im: np.asarray(im.convert('L').resize((size, size), Image.BILINEAR))
    return len(paths) / (time.perf_counter() - t)

def pipeline_rate(items, size, bs, workers, n):
    "Images/s out of the fastai training DataLoader (decode, heavy albumentations, collate, to-3-channel, normalise)."
    dls = xray_dls(items, fold=0, size=size, bs=bs, num_workers=workers, seed=0, device='cpu')
    it = iter(dls.train); next(it)                       # start the workers, first batch not timed
    t, seen = time.perf_counter(), 0
    while seen < n:
        try: xb, yb = next(it)
        except StopIteration: it = iter(dls.train); continue
        seen += len(xb)
    return seen / (time.perf_counter() - t)

def training_consumption(size, bs=8, steps=3):
    "Images/s covidxray's resnet200d training step consumes here: frozen body (no graph), head step, `pick_precision`."
    from contextlib import nullcontext
    from covidxray.core import pick_precision, autocast_dtype
    from covidxray.model import build_model
    m = build_model('resnet200d', pretrained=False)
    for q in m.body.parameters(): q.requires_grad_(False)
    m.body.eval()
    opt = torch.optim.AdamW(m.head.parameters())
    x = torch.randn(bs, 3, size, size); y = torch.randint(0, 3, (bs,))
    dt = autocast_dtype(pick_precision('cpu'))
    def step():
        with (torch.autocast('cpu', dtype=dt) if dt else nullcontext()): loss = torch.nn.functional.cross_entropy(m(x).float(), y)
        loss.backward(); opt.step(); opt.zero_grad()
    step()
    t = time.perf_counter()
    for _ in range(steps): step()
    return steps * bs / (time.perf_counter() - t)

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default=str(Path(__file__).resolve().parents[2]/'shared'/'data'/'cxr256'))
    ap.add_argument('--n', type=int, default=512, help='images timed per variant')
    ap.add_argument('--size', type=int, default=256)
    ap.add_argument('--bs', type=int, default=32)
    ap.add_argument('--skip-model', action='store_true')
    a = ap.parse_args()
    src = Path(a.data)
    if not src.exists(): src = make_synthetic(tempfile.mkdtemp(), n_per_class=200, size=a.size)
    items = index_sources(src, n_folds=5).items
    paths = items.path.tolist()[:a.n]
    cpus = os.cpu_count()
    print(f'data: {src} ({len(items)} images), {cpus} cores, torch {torch.__version__}, {a.n} images per variant, size {a.size}, bs {a.bs}\n')
    base = plain_decode_resize(paths, a.size)
    one = pipeline_rate(items, a.size, a.bs, 0, a.n)
    dflt = pipeline_rate(items, a.size, a.bs, None, a.n)   # xray_dls default: one worker per core
    rows = [('plain PIL decode + resize, 1 process (baseline)', base, 1.0),
            ('covidxray train pipeline, in the main process (per-worker rate)', one, one / base),
            (f'covidxray train pipeline, default workers ({cpus})', dflt, dflt / base)]
    print('| variant | images/s | vs baseline |\n|---|---:|---:|')
    for name, r, x in rows: print(f'| {name} | {r:.0f} | {x:.2f}x |')
    if not a.skip_model:
        used = training_consumption(a.size)
        print(f'\ntraining consumes (resnet200d {a.size}px, frozen body, covidxray CPU path, bs 8): {used:.1f} images/s')
        print(f'pipeline with default workers / consumption: {dflt / used:.0f}x (target >= 3x)')
