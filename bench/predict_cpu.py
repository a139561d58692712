"""Benchmark: prediction on the CPU. Speed: images/s for resnet200d at 256 px, covidxray's `predict` (fp32, and int8
post-training quantization) against a plain fp32 eager timm forward of the same model on the same files. Agreement:
the share of identical predictions, int8 against fp32, for trained models given with `--agree`.

    HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1 .venv/bin/python bench/predict_cpu.py [--n 96] [--rounds 2] \
        [--agree RUN/model ...] [--n-agree 600] [--data ../shared/data/cxr256]

Speed is measured on a randomly initialised resnet200d (no trained one can be made on this machine); its identical-
prediction share is printed but means little: an untrained 200-layer network's class scores are nearly equal and its
activations unlike a trained one's. Agreement is what `--agree` measures, on trained models. The plain forward and
int8 runs alternate (`--rounds`) and the median is reported, because a shared machine's speed drifts.
"""
import argparse, os, time, tempfile, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
import numpy as np, torch
from covidxray.core import pick_precision
from covidxray.synthetic import make_synthetic
from covidxray.data import read_source, open_xray
from covidxray.inputs import valid_aug
from covidxray.model import build_model, save_model, load_model
from covidxray.predict import predict, sample_inputs
from covidxray.deploy import quantize_int8, int8_engine, predict_int8

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

def timed(f):
    t = time.perf_counter(); r = f(); return r, time.perf_counter() - t

def same(p, q): return (p.argmax(1) == q.argmax(1)).mean()

def speed(paths, bs, rounds):
    torch.manual_seed(0)
    m = build_model('resnet200d', pretrained=False).eval(); cfg = m.config
    folder = save_model(m, Path(tempfile.mkdtemp())/'model')
    print(f"{len(paths)} images, resnet200d at {cfg['size']} px, {torch.get_num_threads()} threads, precision `auto` "
          f"picks on this CPU: {pick_precision('cpu')}, int8 engine: {int8_engine()}, channels-last: {cfg['channels_last']}")
    m_plain = load_model(folder).eval().to(memory_format=torch.contiguous_format)   # as a user would: contiguous
    m_plain.channels_last = False
    args = cfg['size'], cfg['mean'], cfg['std']
    plain(m_plain, paths[:8], *args)                                                # warm-up
    p1, t1 = timed(lambda: predict(folder, paths, bs=bs, precision='fp32'))
    p2, t2 = timed(lambda: predict_int8(folder, paths, bs=bs))         # end to end, quantization included
    q, tq = timed(lambda: quantize_int8(load_model(folder), sample_inputs(load_model(folder), paths, 16)))
    t0s, t3s = [], []
    for _ in range(rounds):                                                          # alternate: the machine drifts
        p0, t0 = timed(lambda: plain(m_plain, paths, *args)); t0s.append(t0)
        p3, t3 = timed(lambda: predict(q, paths, bs=bs)); t3s.append(t3)
    n, t0, t3 = len(paths), float(np.median(t0s)), float(np.median(t3s))
    print(f"plain runs {[round(n / t, 2) for t in t0s]} img/s; int8 runs {[round(n / t, 2) for t in t3s]} img/s")
    print('\n| path | images/s | vs plain | identical predictions (untrained model) |\n|---|---:|---:|---:|')
    print(f'| plain fp32 eager timm forward, bs 8 | {n / t0:.2f} | 1.00x | - |')
    b32, b8 = bs or 8, bs or 32
    for name, p, t in [(f'covidxray `predict`, fp32, bs {b32}', p1, t1),
                       (f'covidxray `predict`, int8, bs {b8}, quantized once (`quantize_int8` then `predict`)', p3, t3),
                       (f'covidxray `predict --precision int8`, bs {b8}, end to end on {n} images '
                        f'(incl. {tq:.0f} s quantization)', p2, t2)]:
        print(f'| {name} | {n / t:.2f} | {t0 / t:.2f}x | {same(p, p0):.1%} |')
    print(f"\nint8 with its one-off quantization ({tq:.0f} s): break-even vs plain at {tq / (t0 / n - t3 / n):.0f} "
          f"images; {t0 / (t3 + tq * n / 1000):.2f}x at 1,000 images, {t0 / (t3 + tq * n / 10000):.2f}x at 10,000")

def agreement(models, fallback, n, bs):
    "int8 vs fp32 on each trained model's own validation fold (RUN/valid_preds.csv), else on `fallback` rows."
    from sklearn.metrics import f1_score
    import pandas as pd
    print('\n| trained model | images | fp32 macro-F1 | identical predictions int8 vs fp32 | '
          'where fp32 top-2 margin >= 0.1 | max abs p difference |\n|---|---:|---:|---:|---:|---:|')
    for mf in models:
        m = load_model(mf); cfg = m.config
        vp = Path(mf).parent/'valid_preds.csv'
        t = (pd.read_csv(vp) if vp.is_file() else fallback).head(n)
        p32 = predict(m, t.path.tolist(), bs=bs, precision='fp32')
        p8 = predict_int8(m, t.path.tolist(), bs=bs, calib=16)
        top2 = np.sort(p32, 1)[:, -2:]; sure = (top2[:, 1] - top2[:, 0]) >= 0.1
        f1 = f1_score(t.label, np.array(cfg['classes'])[p32.argmax(1)], average='macro')
        print(f"| {cfg['arch']} at {cfg['size']} px, {'validation fold' if vp.is_file() else 'dev set'} ({mf}) | {len(t)} "
              f"| {f1:.3f} | {same(p32, p8):.1%} | {same(p32[sure], p8[sure]):.1%} of {sure.sum()} "
              f"| {np.abs(p32 - p8).max():.3f} |")

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default=str(Path(__file__).resolve().parents[2]/'shared'/'data'/'cxr256'))
    ap.add_argument('--n', type=int, default=96, help='images timed')
    ap.add_argument('--rounds', type=int, default=2, help='alternating plain/int8 timings; the median is reported')
    ap.add_argument('--bs', type=int, default=None, help="covidxray's batch size [`predict`'s choice: 8 fp32, 32 int8]")
    ap.add_argument('--agree', nargs='*', default=[], help='trained model folders: int8 vs fp32 agreement')
    ap.add_argument('--n-agree', type=int, default=600, help='images for the agreement check')
    ap.add_argument('--skip-speed', action='store_true')
    a = ap.parse_args()
    src = Path(a.data) if Path(a.data).exists() else make_synthetic(tempfile.mkdtemp(), n_per_class=70)
    t = read_source(src).query("reason == ''").sample(frac=1, random_state=0)
    if not a.skip_speed: speed(t.path.tolist()[:a.n], a.bs, a.rounds)
    if a.agree: agreement(a.agree, t, a.n_agree, 64)
