"""Benchmark: prediction images/s on the CPU for resnet200d at 256 px — covidxray's `predict` (decode + validation
transform in loader workers overlapping the forward, channels-last, batch 32, `pick_precision`) against a plain
fp32 eager timm forward of the same model on the same files (decode in the main process, batch 8), with the share of
identical predictions.

    HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1 .venv/bin/python bench/predict_cpu.py [--n 64] [--data ../shared/data/cxr256]
"""
import argparse, os, time, tempfile, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
import numpy as np, torch
from covidxray.core import pick_precision
from covidxray.data import read_source, make_synthetic, open_xray, valid_aug
from covidxray.model import build_model, save_model, predict

def plain(m, paths, size, mean, std, bs=8):
    "Plain eager fp32: decode, resize/crop, normalise, forward, softmax, in one process."
    body = m.eval(); tfm = valid_aug(size)
    mean, std = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    out = []
    with torch.no_grad():
        for i in range(0, len(paths), bs):
            x = torch.stack([torch.from_numpy(tfm(image=np.asarray(open_xray(p, size)))['image'].astype(np.float32) / 255)
                             for p in paths[i:i+bs]])[:, None].expand(-1, 3, -1, -1)
            out.append(torch.softmax(body((x - mean) / std), 1))
    return torch.cat(out).numpy()

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default=str(Path(__file__).resolve().parents[2]/'shared'/'data'/'cxr256'))
    ap.add_argument('--n', type=int, default=64)
    ap.add_argument('--workers', type=int, default=os.cpu_count())
    a = ap.parse_args()
    src = Path(a.data) if Path(a.data).exists() else make_synthetic(tempfile.mkdtemp(), n_per_class=30)
    paths = read_source(src).query("reason == ''").path.tolist()[:a.n]
    torch.manual_seed(0)
    m = build_model('resnet200d', pretrained=False).eval()
    cfg = m.config
    folder = save_model(m, Path(tempfile.mkdtemp())/'model')
    print(f"{len(paths)} images, resnet200d at {cfg['size']} px, {os.cpu_count()} cores, covidxray precision on this CPU: "
          f"{pick_precision('cpu')}, channels-last: {cfg['channels_last']}")
    plain(m, paths[:8], cfg['size'], cfg['mean'], cfg['std'])                # warm-up
    t = time.perf_counter(); p0 = plain(m, paths, cfg['size'], cfg['mean'], cfg['std']); t0 = time.perf_counter() - t
    predict(folder, paths[:8], bs=8)                                          # warm-up
    t = time.perf_counter(); p1 = predict(folder, paths, bs=32, num_workers=a.workers); t1 = time.perf_counter() - t
    same = (p0.argmax(1) == p1.argmax(1)).mean()
    print('| path | images/s | vs plain |\n|---|---:|---:|')
    print(f'| plain fp32 eager timm forward, bs 8 | {len(paths)/t0:.2f} | 1.00x |')
    print(f'| covidxray `predict`, bs 32, {a.workers} workers | {len(paths)/t1:.2f} | {t0/t1:.2f}x |')
    print(f'identical predictions: {same:.1%}; max |p difference| {np.abs(p0 - p1).max():.2e}')
