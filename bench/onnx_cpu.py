"""Benchmark: a trained model exported to ONNX and run by ONNX Runtime on the CPU, against PyTorch. On the held-out
films of a fold: the share of predictions identical to PyTorch fp32 (argmax), the largest probability difference, the
macro-F1 of each arm, and images/s of the forward pass for PyTorch fp32, PyTorch bf16 (autocast), ONNX Runtime fp32
and ONNX Runtime int8 (static QDQ quantization, calibrated on training-fold films), same batch size, same threads.

    HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1 .venv/bin/python bench/onnx_cpu.py RUN/model ITEMS.csv [--fold 0] \
        [--threads 2] [--bs 8] [--rounds 3] [--n-speed 96] [--n-bf16 48] [--n-calib 64] [--export DIR [--reuse]] [--speed-only]

Every arm reads the same input tensors (the films decoded and preprocessed once, as `predict` reads them, lung crops
included), so the figures are of the engines, not of decoding; the decode rate is printed beside them. Speed: the arms
alternate for `--rounds` rounds on the first `--n-speed` films and the median is reported (the machine is shared).
bf16 is timed and compared on `--n-bf16` films only where the CPU lacks native bf16 (it is emulated there, and slow).
"""
import argparse, json, os, time, tempfile, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
import numpy as np, pandas as pd, torch
from sklearn.metrics import f1_score
from covidxray.core import device_info, cpu_has_fast_bf16
from covidxray.inputs import XrayFiles
from covidxray.model import load_model, input_boxes
from covidxray.calibration import softmax
from covidxray.export import export_onnx, load_onnx

def inputs(model, paths):
    "The films as the model reads them: one float tensor, and which could be read."
    ds = XrayFiles(paths, model, skip_bad=True, boxes=input_boxes(model, paths))
    xs, ok = zip(*(ds[i] for i in range(len(ds))), strict=True)
    return torch.stack(xs), np.array(ok)

def forward(f, x, bs):
    "Logits of `x` by `f`, batch by batch, and the seconds it took."
    out, t = [], time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(x), bs): out.append(f(x[i:i + bs]).float())
    return torch.cat(out).numpy(), time.perf_counter() - t

def speed_only(arms, x, a):
    "The alternating timed rounds alone on the first `n_speed` films (after a warm-up), bf16 left out."
    arms, x = {k: f for k, f in arms.items() if 'bf16' not in k}, x[:a.n_speed]
    for f in arms.values(): forward(f, x[:a.bs], a.bs)
    runs = {k: [] for k in arms}
    for _ in range(a.rounds):
        for k, f in arms.items(): runs[k].append(round(len(x) / forward(f, x, a.bs)[1], 2))
    b = np.median(runs['PyTorch fp32'])
    print(f"{len(x)} films, batch {a.bs}, {a.threads} threads, {a.rounds} rounds; load average {os.getloadavg()[0]:.1f}")
    for k, v in runs.items(): print(f"| {k} | {np.median(v):.2f} | {', '.join(map(str, v))} | {np.median(v) / b:.2f}x |")

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('model'); ap.add_argument('items')
    ap.add_argument('--fold', type=int, default=0); ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--bs', type=int, default=8); ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--n-speed', type=int, default=96); ap.add_argument('--n-bf16', type=int, default=48)
    ap.add_argument('--n-calib', type=int, default=64); ap.add_argument('--export', default=None)
    ap.add_argument('--json', default=None, help='write the figures here too')
    ap.add_argument('--reuse', action='store_true', help="use the export already in --export (a rerun of the timings)")
    ap.add_argument('--speed-only', action='store_true', help="only the alternating timed rounds, without bf16 (a quick rerun)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    info = dict(device_info(), threads=a.threads, bs=a.bs, torch=torch.__version__, load_before=os.getloadavg())
    items = pd.read_csv(a.items)
    valid, train = items[items.fold == a.fold].reset_index(drop=True), items[items.fold != a.fold]
    m = load_model(a.model).eval()
    classes, T = m.config['classes'], m.config.get('temperature', 1.0)
    # export, checked and calibrated on training-fold films (never the held-out ones measured below)
    out = Path(a.export or tempfile.mkdtemp())/'onnx'
    t = time.perf_counter()
    if a.reuse and (out/'model.int8.onnx').is_file(): rep = json.loads((out/'config.json').read_text())['onnx']
    else: rep = export_onnx(m, out, images=train.sample(frac=1, random_state=0).path.tolist(), int8=True, n=a.n_calib)
    info['export_s'] = round(time.perf_counter() - t, 1)
    info['export'] = {k: v for k, v in rep.items() if k != 'out'}
    o32, o8 = load_onnx(out, threads=a.threads), load_onnx(out, int8=True, threads=a.threads)
    t = time.perf_counter(); x, ok = inputs(m, valid.path.tolist()); t_dec = time.perf_counter() - t
    y, x = valid.label[ok].map({c: i for i, c in enumerate(classes)}).to_numpy(), x[ok]
    perm = np.random.default_rng(0).permutation(len(x))        # the subsets (speed, bf16) drawn at random, not by class
    x, y = x[perm], y[perm]
    print(f"{device_info()}; {a.threads} threads; {len(x)} held-out films of fold {a.fold} ({(~ok).sum()} unreadable); "
          f"decode + preprocess {len(x) / t_dec:.1f} films/s; export {info['export_s']} s")
    def m_bf16(b):
        with torch.autocast('cpu', dtype=torch.bfloat16): return m(b)
    arms = {'PyTorch fp32': m, 'PyTorch bf16 (autocast)': m_bf16, 'ONNX Runtime fp32': o32, 'ONNX Runtime int8': o8}
    if a.speed_only: return speed_only(arms, x, a)
    nb = len(x) if cpu_has_fast_bf16() else min(a.n_bf16, len(x))
    # agreement and macro-F1: every held-out film (bf16: the first `nb` where it is emulated)
    logits, full_s = {}, {}
    for name, f in arms.items():
        n = nb if 'bf16' in name else len(x)
        logits[name], s = forward(f, x[:n], a.bs); full_s[name] = n / s
        print(f"{name}: {n} films in {s:.1f} s ({n / s:.2f} films/s)", flush=True)
    # speed: the arms alternate on the first n-speed films
    ns = min(a.n_speed, len(x)); runs = {k: [] for k in arms}
    for _ in range(a.rounds):
        for name, f in arms.items():
            n = min(ns, nb) if 'bf16' in name else ns
            runs[name].append(n / forward(f, x[:n], a.bs)[1])
    info['load_after'] = os.getloadavg()
    ref = softmax(logits['PyTorch fp32'], T)
    rows = []
    for name in arms:
        p = softmax(logits[name], T); n = len(p)
        rows.append(dict(arm=name, films=n, identical=float((p.argmax(1) == ref[:n].argmax(1)).mean()),
                         max_abs_p_diff=float(np.abs(p - ref[:n]).max()), f1_macro=float(f1_score(y[:n], p.argmax(1), average='macro')),
                         f1_macro_fp32_same_films=float(f1_score(y[:n], ref[:n].argmax(1), average='macro')),
                         films_per_s=float(np.median(runs[name])), runs=[round(r, 2) for r in runs[name]],
                         full_pass_films_per_s=round(full_s[name], 2)))
    base = rows[0]['films_per_s']
    print(f"\n{len(x)} held-out films, batch {a.bs}, {a.threads} threads; median of {a.rounds} alternating rounds on {ns} films "
          f"(bf16: {min(ns, nb)}); load average {info['load_before'][0]:.1f} before, {info['load_after'][0]:.1f} after\n")
    print("| arm | films | identical to PyTorch fp32 | max abs p difference | macro-F1 (fp32 on the same films) | films/s (runs) | vs PyTorch fp32 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['arm']} | {r['films']} | {r['identical']:.1%} | {r['max_abs_p_diff']:.2g} | {r['f1_macro']:.3f} "
              f"({r['f1_macro_fp32_same_films']:.3f}) | {r['films_per_s']:.2f} ({', '.join(map(str, r['runs']))}) | "
              f"{r['films_per_s'] / base:.2f}x |")
    print(json.dumps(info['export'], indent=1, default=str))
    if a.json: Path(a.json).write_text(json.dumps(dict(info, rows=rows), indent=1, default=str) + '\n')

if __name__ == '__main__': main()
