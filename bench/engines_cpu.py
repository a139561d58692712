"""Benchmark: every prediction engine (`engines.ENGINES`) on the same held-out films of a fold, against PyTorch fp32 eager.

Per engine: forward-only films/s on the films already decoded (the same tensors for every engine: `inputs.XrayFiles`, as
`predict` reads them), the share of predictions identical to PyTorch fp32 (argmax), the largest probability change,
macro-F1; and end to end, files to CSV (`engines.predict_files`: loading the engine, decoding, preprocessing and writing
included) films/s, with decoding in the loop, ahead in a thread (`predict.decode_ahead`; the network then a batch ahead in
another) or in loader processes.
Speed: the engines alternate for `--rounds` rounds on the first `--n-speed` films and the median is reported. The int8
engines are calibrated on training-fold films, never on the measured ones. The CPU's name and flags are recorded.

    HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1 .venv/bin/python bench/engines_cpu.py RUN/model ITEMS.csv [--fold 0] \
        [--threads 2] [--bs 8] [--rounds 3] [--n-speed 96] [--e2e 192] [--modes w0a0,w0a2,w2a0] [--n-calib 64] [--int8-set JSON] [--json OUT.json]
"""
import argparse, json, os, resource, tempfile, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
import numpy as np, pandas as pd, torch
from sklearn.metrics import f1_score
from covidxray.core import device_info, cpu_has_fast_bf16
from covidxray.model import load_model
from covidxray.calibration import softmax
from covidxray.export import export_onnx
from covidxray.engines import ENGINES, load_engine, predict_files
from covidxray.openvino_engine import quantize_openvino, Int8Refused
from onnx_cpu import inputs, forward   # the same decoded tensors and timed loop as the ONNX benchmark (bench/ is on the path)

class Bf16(torch.nn.Module):
    "PyTorch under bf16 autocast (the `torch` engine with --precision bf16)."
    def __init__(self, m): super().__init__(); self.m, self.config = m, m.config
    def forward(self, x):
        with torch.autocast('cpu', dtype=torch.bfloat16): return self.m(x)

def openvino_int8(a, calib, train)->dict:
    "OpenVINO int8 with accuracy control: calibrated on `calib`, checked on other training-fold films; the report or the refusal."
    control, t = [p for p in train.sample(frac=1, random_state=1).path.tolist() if p not in set(calib)][:a.n_control], time.perf_counter()
    try: r = quantize_openvino(a.model, calib, control, a.min_agreement, n_calib=a.n_calib, n_valid=a.n_control, **json.loads(a.int8_set))
    except Int8Refused as e: r = dict(refused=str(e))
    print('OpenVINO int8:', r, flush=True)
    return dict(openvino_int8=r, openvino_int8_s=round(time.perf_counter() - t, 1))

def print_table(rows, ws):
    "The markdown table of `rows`, one column per end-to-end mode in `ws`."
    print("| engine | identical to PyTorch fp32 | flipped | max abs p change | macro-F1 | forward films/s (runs) | vs PyTorch fp32 | "
          + ' | '.join(f'files->CSV films/s, {w}' for w in ws) + ' |')
    print('|---|---:|---:|---:|---:|---:|---:|' + '---:|' * len(ws))
    for r in rows:
        print(f"| {r['engine']} | {r['identical']:.1%} | {r['flipped']} | {r['max_abs_p_diff']:.2g} | {r['f1_macro']:.3f} | "
              f"{r['films_per_s']:.2f} ({', '.join(map(str, r['runs']))}) | {r['speedup']:.2f}x | "
              + ' | '.join(str(r['e2e'][w]) if r['e2e'][w] else '-' for w in ws) + ' |')

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('model'); ap.add_argument('items')
    ap.add_argument('--fold', type=int, default=0); ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--bs', type=int, default=8); ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--n-speed', type=int, default=96); ap.add_argument('--n-calib', type=int, default=64)
    ap.add_argument('--e2e', type=int, default=192, help='films for the end-to-end (files -> CSV) runs')
    ap.add_argument('--modes', default='w0a0,w0a2,w2a0', help="end-to-end decoding: wNaM = N loader processes, M batches decoded ahead in a thread (M > 0: the network also runs a batch ahead in its own)")
    ap.add_argument('--min-agreement', type=float, default=0.99, help='OpenVINO int8: the agreement accuracy control must keep')
    ap.add_argument('--n-control', type=int, default=300, help='OpenVINO int8: training-fold films (not calibration ones) accuracy control checks on')
    ap.add_argument('--int8-set', default='{}', help='OpenVINO int8: more quantize_openvino settings, as JSON (e.g. {"preset": "performance"})')
    ap.add_argument('--skip-ov-int8', action='store_true', help='do not quantize with OpenVINO (a rerun of the timings)')
    ap.add_argument('--json', default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    info = dict(device_info(), threads=a.threads, bs=a.bs, torch=torch.__version__, load_before=os.getloadavg())
    items = pd.read_csv(a.items)
    valid, train = items[items.fold == a.fold].reset_index(drop=True), items[items.fold != a.fold]
    work = Path(tempfile.mkdtemp())
    m = load_model(a.model).eval(); classes, T = m.config['classes'], m.config.get('temperature', 1.0)
    calib = [p for p in train.sample(frac=1, random_state=0).path.tolist()[:max(a.n_calib, 16)]]
    t = time.perf_counter(); export_onnx(a.model, work/'onnx', images=calib, int8=True, n=a.n_calib); info['onnx_export_s'] = round(time.perf_counter() - t, 1)
    info.update(openvino_int8(a, calib, train) if not a.skip_ov_int8 else dict(openvino_int8=dict(refused='not tried (--skip-ov-int8)')))
    where = lambda e: work/'onnx' if e.startswith('onnx') else a.model
    opts = lambda e: dict(threads=a.threads) if e.startswith(('onnx', 'openvino')) else {}
    names = [e for e in ENGINES if (e != 'openvino-bf16' or cpu_has_fast_bf16()) and (e != 'openvino-int8' or 'refused' not in info['openvino_int8'])]
    arms, load_s, info['unavailable'] = {}, {}, {}
    for e in names:
        t = time.perf_counter()
        try: [arms[e]] = load_engine(where(e), e, calib if e == 'torch-int8' else None, **opts(e))
        except Exception as x: info['unavailable'][e] = f"{type(x).__name__}: {x}"; print(f"{e}: not measured ({x})", flush=True); continue
        load_s[e] = round(time.perf_counter() - t, 1)
    names = [e for e in names if e in arms]
    arms['torch-bf16'] = Bf16(m) if cpu_has_fast_bf16() else None
    arms = {k: v for k, v in arms.items() if v is not None}
    t = time.perf_counter(); x, ok = inputs(m, valid.path.tolist()); t_dec = time.perf_counter() - t
    y = valid.label[ok].map({c: i for i, c in enumerate(classes)}).to_numpy(); x = x[ok]
    print(f"{json.dumps(device_info())}; {a.threads} threads; {len(x)} films of fold {a.fold}; decode + preprocess "
          f"{len(x) / t_dec:.1f} films/s (one process); loads (s): {load_s}", flush=True)
    logits = {k: forward(f, x, a.bs)[0] for k, f in arms.items()}
    ns = min(a.n_speed, len(x)); runs = {k: [] for k in arms}
    for f in arms.values(): forward(f, x[:a.bs], a.bs)                       # warm-up
    for _ in range(a.rounds):
        for k, f in arms.items(): runs[k].append(round(ns / forward(f, x[:ns], a.bs)[1], 2))
    e2e = {}
    paths = valid.path.tolist()[:a.e2e]
    ws = a.modes.split(',')
    for w in ws:
        nw, ahead = (int(v) for v in w[1:].split('a'))
        for e in names:
            t = time.perf_counter()
            predict_files(where(e), paths, work/f'{e}_{w}.csv', engine=e, options=dict(opts(e), **({'calib': 16} if e == 'torch-int8' else {})),
                          num_workers=nw, ahead=ahead, precision='fp32' if e == 'torch' else 'auto', bs=a.bs)
            e2e[(e, w)] = round(len(paths) / (time.perf_counter() - t), 2)
    info['load_after'] = os.getloadavg(); info['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ref = softmax(logits['torch'], T); base = np.median(runs['torch'])
    rows = []
    for k in arms:
        p = softmax(logits[k], T)
        rows.append(dict(engine=k, identical=float((p.argmax(1) == ref.argmax(1)).mean()), flipped=int((p.argmax(1) != ref.argmax(1)).sum()),
                         max_abs_p_diff=float(np.abs(p - ref).max()), f1_macro=float(f1_score(y, p.argmax(1), average='macro')),
                         films_per_s=float(np.median(runs[k])), runs=runs[k], speedup=float(np.median(runs[k]) / base),
                         e2e={w: e2e.get((k, w)) for w in ws}))
    print(f"\n{len(x)} held-out films, batch {a.bs}, {a.threads} threads; forward: median of {a.rounds} alternating rounds on {ns} "
          f"films; end to end: {len(paths)} files -> CSV; load average {info['load_before'][0]:.1f} before, {info['load_after'][0]:.1f} after\n")
    print_table(rows, ws)
    if a.json: Path(a.json).write_text(json.dumps(dict(info, rows=rows), indent=1, default=str) + '\n')

if __name__ == '__main__': main()
