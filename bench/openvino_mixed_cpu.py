"""Experiment: OpenVINO with bf16 on some stages of the network and fp32 on the others, to find where bf16 flips predictions.

OpenVINO's CPU plugin takes one `INFERENCE_PRECISION_HINT` for a whole compiled model, and (measured, OpenVINO 2026.4.1)
ignores a per-node "keep this precise" mark set from Python. So the network is cut into stages (the stem, each of timm's
`blocks`, the last convolution with the head), every run of consecutive stages with the same precision is converted and
compiled on its own, and the compiled pieces are chained. Per assignment: predictions identical to PyTorch fp32 (argmax)
on fold FOLD's films, the largest probability change, and forward films/s (batch 8, median of alternating rounds).

    HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1 .venv/bin/python bench/openvino_mixed_cpu.py RUN/model ITEMS.csv [--fold 0]
"""
import argparse, json, os, warnings
warnings.filterwarnings('ignore')
os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
import numpy as np, pandas as pd, torch, openvino as ov
from covidxray.core import device_info
from covidxray.model import load_model
from covidxray.calibration import softmax
from onnx_cpu import inputs, forward

class Tail(torch.nn.Module):
    "The body's last convolution and the classification head."
    def __init__(self, m): super().__init__(); self.b, self.head = m.body, m.head
    def forward(self, x): return self.head(self.b.bn2(self.b.conv_head(x)))

def stages(m)->list:
    "(name, module) of the network in order: stem, blocks.0 ... blocks.N, tail."
    b = m.body
    return ([('stem', torch.nn.Sequential(b.conv_stem, b.bn1))] + [(f'blocks.{i}', s) for i, s in enumerate(b.blocks)]
            + [('tail', Tail(m))])

class Chained:
    "The stages compiled in runs of equal precision, each run one OpenVINO model; called on a batch, the logits."
    def __init__(self, m, precisions, x0, threads):
        st, self.parts, i = stages(m), [], 0
        core = ov.Core()
        while i < len(st):
            j = i
            while j + 1 < len(st) and precisions[j + 1] == precisions[i]: j += 1
            seq = torch.nn.Sequential(*[s for _, s in st[i:j + 1]]).eval()
            with torch.no_grad(): ovm = ov.convert_model(seq, example_input=x0, input=[tuple(x0.shape)])
            ovm.reshape({0: ov.PartialShape([-1, *x0.shape[1:]])})
            self.parts.append(core.compile_model(ovm, 'CPU', {'INFERENCE_PRECISION_HINT': precisions[i], 'PERFORMANCE_HINT': 'LATENCY',
                                                             'INFERENCE_NUM_THREADS': threads}))
            with torch.no_grad(): x0 = seq(x0)
            i = j + 1
    def __call__(self, x):
        x = x.numpy()
        for p in self.parts: x = p(x)[0]
        return torch.from_numpy(np.asarray(x))

def assignments(names)->dict:
    "Precision per stage, by name: all of one kind, bf16 with the stem and/or the tail in fp32, one stage in fp32, one stage in bf16."
    F, B, n = 'f32', 'bf16', len(names)
    c = {'all fp32': [F] * n, 'all bf16': [B] * n, 'bf16, stem fp32': [F] + [B] * (n - 1),
         'bf16, tail fp32': [B] * (n - 1) + [F], 'bf16, stem and tail fp32': [F] + [B] * (n - 2) + [F]}
    for i, nm in enumerate(names[1:-1], 1): c[f'bf16, {nm} fp32'] = [B] * i + [F] + [B] * (n - i - 1)
    for i, nm in enumerate(names): c[f'fp32, {nm} bf16'] = [F] * i + [B] + [F] * (n - i - 1)
    for i, nm in enumerate(names[1:4], 1): c[f'fp32 from the stem through {nm}, then bf16'] = [F] * (i + 1) + [B] * (n - i - 1)
    return c

def agreement(m, prec, x, pref, a)->dict:
    "How the chained engine with precisions `prec` agrees with PyTorch fp32's probabilities `pref` on films `x`."
    out, _ = forward(Chained(m, prec, x[:a.bs], a.threads), x, a.bs); p = softmax(out)
    r = dict(precisions=prec, identical=float((p.argmax(1) == pref.argmax(1)).mean()), flipped=int((p.argmax(1) != pref.argmax(1)).sum()),
             max_abs_p_diff=float(np.abs(p - pref).max()), n=len(x))
    print(json.dumps(r), flush=True)
    return r

def speeds(m, rows, x, a)->dict:
    "Forward films/s of each row's engine and of PyTorch fp32 eager ('torch'), alternating for `a.rounds` rounds on `a.n_speed` films."
    fs = {r['config']: Chained(m, r['precisions'], x[:a.bs], a.threads) for r in rows} | {'torch': m}
    xs, times = x[:a.n_speed], {k: [] for k in fs}
    for f in fs.values(): forward(f, xs[:a.bs], a.bs)   # warm-up
    for _ in range(a.rounds):
        for k, f in fs.items(): times[k].append(round(len(xs) / forward(f, xs, a.bs)[1], 2))
    return times

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('model'); ap.add_argument('items'); ap.add_argument('--fold', type=int, default=0)
    ap.add_argument('--threads', type=int, default=2); ap.add_argument('--bs', type=int, default=8)
    ap.add_argument('--rounds', type=int, default=3); ap.add_argument('--n-speed', type=int, default=96)
    ap.add_argument('--json', default=None); ap.add_argument('--skip-speed', action='store_true', help='agreement only (a busy CPU)')
    ap.add_argument('--only', default=None, help="the assignments to run, their names separated by ';' (default: all)")
    a = ap.parse_args(); torch.set_num_threads(a.threads)
    info = device_info(torch.device('cpu')); print(json.dumps(info), 'OpenVINO', ov.__version__, flush=True)
    m = load_model(a.model).eval()
    items = pd.read_csv(a.items); v = items[items.fold == a.fold]
    x, ok = inputs(m, v.path.tolist()); x = x[ok]
    ref, _ = forward(m, x, a.bs); pref = softmax(ref)
    cs = assignments([n for n, _ in stages(m)])
    if a.only: cs = {k: v for k, v in cs.items() if k in a.only.split(';')}
    rows = [agreement(m, prec, x, pref, a) | dict(config=k) for k, prec in cs.items()]
    if a.skip_speed: a.rounds = 1; a.n_speed = a.bs   # one batch: the table's films/s mean nothing
    times = speeds(m, [r for r in rows if r['identical'] >= 0.99 or r['config'] in ('all fp32', 'all bf16')], x, a)  # timed: the exact and the fast end, and every config at >= 99%
    for r in rows:
        if r['config'] in times: r['films_per_s'] = float(np.median(times[r['config']])); r['runs'] = times[r['config']]
    base = float(np.median(times['torch']))
    print(f"\nPyTorch fp32 eager: {base:.2f} films/s ({times['torch']}); {len(x)} films of fold {a.fold}\n")
    print('| stages in fp32 / bf16 | identical to PyTorch fp32 | flipped | max abs p change | forward films/s (runs) | vs PyTorch fp32 |')
    print('|---|---:|---:|---:|---:|---:|')
    for r in rows:
        s = f"{r['films_per_s']:.1f} ({', '.join(map(str, r['runs']))}) | {r['films_per_s'] / base:.2f}x" if 'films_per_s' in r else '- | -'
        print(f"| {r['config']} | {r['identical']:.1%} | {r['flipped']} | {r['max_abs_p_diff']:.2g} | {s} |")
    if a.json: open(a.json, 'w').write(json.dumps(dict(device=info, openvino=ov.__version__, torch_films_per_s=base, torch_runs=times['torch'], rows=rows), indent=1))

if __name__ == '__main__': main()
