"""Benchmark: prediction images/s on the CPU for resnet200d at 256 px: covidxray's `predict` (fp32, and int8
post-training quantization) against a plain fp32 eager timm forward of the same model on the same files, with the
share of identical predictions.

    HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1 .venv/bin/python bench/predict_cpu.py [--n 128] [--model FOLDER]
        [--data ../shared/data/cxr256]

Without `--model` the model is resnet200d with random weights made *realistic*: timm starts each residual branch's
last BatchNorm at zero (the branch is then silent), so those scales are drawn from U(0.1, 0.4), and every BatchNorm's
statistics are re-estimated on real X-rays (other images than those timed). An untrained model is the hardest case for
identical predictions: its class scores lie close together, so small numeric changes flip more arg-maxes than in a
trained, confident model. The script prints how spread its predictions are.
"""
import argparse, os, time, tempfile, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
import numpy as np, torch
from torch import nn
from covidxray.core import pick_precision
from covidxray.data import read_source, make_synthetic, open_xray, valid_aug
from covidxray.model import build_model, save_model, load_model, predict, quantize_int8, int8_engine, _calibration

def plain(m, paths, size, mean, std, bs=8):
    "Plain eager fp32: decode, resize/crop, normalise, forward, softmax, in one process (contiguous layout)."
    tfm = valid_aug(size)
    mean, std = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    out = []
    with torch.no_grad():
        for i in range(0, len(paths), bs):
            x = torch.stack([torch.from_numpy(tfm(image=np.asarray(open_xray(p, size)))['image'].astype(np.float32) / 255)
                             for p in paths[i:i+bs]])[:, None].expand(-1, 3, -1, -1)
            out.append(torch.softmax(m((x - mean) / std), 1))
    return torch.cat(out).numpy()

def realistic(m, paths, bs=16):
    "Random weights with live residual branches and BatchNorm statistics from the images in `paths`."
    torch.manual_seed(0)
    for mod in m.modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            if mod.weight is not None and not mod.weight.any(): mod.weight.data.uniform_(0.1, 0.4)
            mod.reset_running_stats(); mod.momentum = None          # cumulative average over the batches below
    x = _calibration(paths, m.config['size'], m.config, len(paths))
    m.train()
    with torch.no_grad():
        for i in range(0, len(x), bs): m(x[i:i+bs])
    return m.eval()

def timed(f):
    t = time.perf_counter(); r = f(); return r, time.perf_counter() - t

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default=str(Path(__file__).resolve().parents[2]/'shared'/'data'/'cxr256'))
    ap.add_argument('--n', type=int, default=128, help='images timed')
    ap.add_argument('--model', default=None, help='a trained model folder; default: a realistic random resnet200d')
    ap.add_argument('--bs', type=int, default=16)
    a = ap.parse_args()
    src = Path(a.data) if Path(a.data).exists() else make_synthetic(tempfile.mkdtemp(), n_per_class=70)
    allp = read_source(src).query("reason == ''").sample(frac=1, random_state=0).path.tolist()
    paths, spare = allp[:a.n], allp[a.n:a.n + 64]
    if a.model: m = load_model(a.model).eval(); folder = a.model
    else:
        m = realistic(build_model('resnet200d', pretrained=False), spare)
        folder = save_model(m, Path(tempfile.mkdtemp())/'model')
    cfg = m.config
    print(f"{len(paths)} images of {src}, {cfg['arch']} at {cfg['size']} px, {torch.get_num_threads()} threads, "
          f"fp32 precision picked on this CPU: {pick_precision('cpu')}, int8 engine: {int8_engine()}, "
          f"channels-last: {cfg['channels_last']}")
    m_plain = load_model(folder).eval().to(memory_format=torch.contiguous_format)   # as a user would: contiguous
    m_plain.channels_last = False
    plain(m_plain, paths[:8], cfg['size'], cfg['mean'], cfg['std'])                   # warm-up
    p0, t0 = timed(lambda: plain(m_plain, paths, cfg['size'], cfg['mean'], cfg['std']))
    p1, t1 = timed(lambda: predict(folder, paths, bs=a.bs, precision='fp32'))
    p2, t2 = timed(lambda: predict(folder, paths, bs=a.bs, precision='int8', calib=16))
    _, tq = timed(lambda: quantize_int8(load_model(folder), _calibration(paths, cfg['size'], cfg, 16)))   # its one-off part
    n, rate0 = len(paths), len(paths) / t0
    print(f"\nfp32 predictions: class shares {np.bincount(p0.argmax(1), minlength=p0.shape[1]) / n}, median top-2 "
          f"margin {np.median(np.diff(np.sort(p0, 1)[:, -2:], axis=1)):.3f}")
    print('\n| path | images/s | vs plain | identical predictions | max abs p difference |\n|---|---:|---:|---:|---:|')
    print(f'| plain fp32 eager timm forward, bs 8 | {rate0:.2f} | 1.00x | - | - |')
    for name, p, t in [(f'covidxray `predict`, fp32, bs {a.bs}', p1, t1), (f'covidxray `predict`, int8, bs {a.bs}, '
                       f'end to end ({n} images, incl. {tq:.0f} s quantization)', p2, t2),
                       (f'covidxray `predict`, int8, bs {a.bs}, after quantization (large folders)', p2, t2 - tq)]:
        print(f'| {name} | {n / t:.2f} | {n / t / rate0:.2f}x | {(p.argmax(1) == p0.argmax(1)).mean():.1%} '
              f'| {np.abs(p - p0).max():.3f} |')
    steady = n / (t2 - tq)
    print(f"\nint8 break-even vs plain: {tq / (1 / rate0 - 1 / steady):.0f} images; at 10,000 images: "
          f"{(10000 / rate0) / (tq + 10000 / steady):.2f}x")
