"""Training throughput on the CPU with the body frozen: covidxray's precision path against fastai's `to_fp16()` on the
CPU and against a plain PyTorch loop doing the same work. Results and the command: bench/train_cpu.md.

Every variant trains the same model (timm backbone + fastai head, random init: no download) on the same synthetic
256 px X-rays from the same DataLoader; after `--warmup` steps each, the variants take turns (`--rounds` rounds of
`--batches` steps) so that other load on the machine hits them alike; images/s = batch / median step time. `--quality` also trains a tiny model fp32 vs bf16 to compare the metrics.
"""
import argparse, os, time, json, tempfile, warnings
from pathlib import Path
os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
warnings.filterwarnings('ignore')
import numpy as np, torch
from fastai.callback.core import Callback, CancelFitException
from fastai.callback.progress import ProgressCallback

from covidxray.synthetic import make_synthetic
from covidxray.data import index_sources
from covidxray.core import pick_precision, cpu_has_fast_bf16
from covidxray.model import build_model
from covidxray.train import xray_learner, train_fold

class Timer(Callback):
    "Seconds per training step (before_batch -> after_batch: forward, loss, backward, optimizer); stop after `n` batches."
    order = 99
    def __init__(self, n): self.n, self.t = n, []
    def before_batch(self): self.t0 = time.perf_counter()
    def after_batch(self):
        if not self.training: return
        self.t.append(time.perf_counter() - self.t0)
        if len(self.t) >= self.n: raise CancelFitException()

def fastai_learner(items, a, train_bn:bool):
    "fastai as its docs say: Learner + freeze() + to_fp16(); on the CPU to_fp16 runs fp32 with a warning."
    learn = xray_learner(items, arch=a.arch, pretrained=False, size=a.size, bs=a.bs, num_workers=0, precision='fp32',
                         train_bn=train_bn, aug='light')
    learn.to_fp16()
    learn.model.channels_last = False; learn.model.to(memory_format=torch.contiguous_format)   # fastai's default layout
    return learn

def covidxray_learner(items, a, channels_last:bool):
    "covidxray's path: precision from `pick_precision`, frozen body in eval mode under no_grad, train_bn=False."
    learn = xray_learner(items, arch=a.arch, pretrained=False, size=a.size, bs=a.bs, num_workers=0, precision='auto', aug='light')
    learn.model.channels_last = channels_last   # resnet200d's ArchConfig says True since this measurement
    learn.model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    return learn

def fastai_steps(learn, n):
    "Time `n` training steps of `learn` with the body frozen."
    learn.remove_cbs([c for c in learn.cbs if isinstance(c, ProgressCallback)])
    learn.freeze()
    tm = Timer(n)
    learn.fit_one_cycle(1, 1e-3, cbs=[tm])
    return tm.t

class Plain:
    "A plain PyTorch loop doing the same work: the same batches, body in eval under no_grad, head trained with Adam."
    def __init__(self, items, a):
        self.learn = xray_learner(items, arch=a.arch, pretrained=False, size=a.size, bs=a.bs, num_workers=0, precision='fp32', aug='light')
        self.learn.model.to(memory_format=torch.contiguous_format)   # the default PyTorch layout
        self.body, self.head = self.learn.model.body.eval(), self.learn.model.head.train()
        for p in self.body.parameters(): p.requires_grad_(False)
        self.opt = torch.optim.Adam(self.head.parameters(), lr=1e-3)
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self.dt = {'bf16': torch.bfloat16, 'fp16': torch.float16}.get(pick_precision('cpu'))
    def steps(self, n):
        t = []
        while len(t) < n:
            for xb, yb in self.learn.dls.train:
                xb, yb = xb.as_subclass(torch.Tensor), yb.as_subclass(torch.Tensor)
                t0 = time.perf_counter()
                with torch.autocast('cpu', dtype=self.dt or torch.float32, enabled=self.dt is not None):
                    with torch.no_grad(): f = self.body.forward_features(xb)
                    loss = self.loss_fn(self.head(f).float(), yb)
                self.opt.zero_grad(); loss.backward(); self.opt.step()
                t.append(time.perf_counter() - t0)
                if len(t) >= n: break
        return t

def forward_dtype(a):
    "Forward-only seconds per batch, fp32 vs bf16 autocast, for a small model (bf16 is emulated on CPUs without AVX512-BF16/AMX)."
    m = build_model(a.small, pretrained=False).eval()
    x = torch.randn(a.bs, 3, 128, 128)
    out = {}
    for name, dt in (('fp32', None), ('bf16', torch.bfloat16)):
        with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=dt is not None):
            m(x); t0 = time.perf_counter()
            for _ in range(3): m(x)
        out[name] = (time.perf_counter() - t0) / 3
    return out

def quality(a, d):
    "Validation metrics of a tiny model trained fp32 vs bf16 (same seed, same data)."
    items = index_sources(make_synthetic(d/'q', n_per_class=40, size=80, seed=5), n_folds=4, n_workers=0).items
    res = {}
    for p in ('fp32', 'bf16'):
        t0 = time.perf_counter()
        m = train_fold(items, d/f'q_{p}', arch=a.small, pretrained=False, epochs=a.q_epochs, size=64, bs=16, lr=3e-3,
                       num_workers=0, precision=p, aug='light', seed=0)
        res[p] = dict(accuracy=round(m['accuracy'], 3), f1_macro=round(m['f1_macro'], 3), seconds=round(time.perf_counter() - t0))
    return res

def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--arch', default='resnet200d'); ap.add_argument('--size', type=int, default=256)
    ap.add_argument('--bs', type=int, default=8); ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--batches', type=int, default=2); ap.add_argument('--rounds', type=int, default=2); ap.add_argument('--small', default='resnet10t')
    ap.add_argument('--variants', default='fastai_fp16,fastai_fp16_nobn,covidxray,covidxray_cl,plain')
    ap.add_argument('--quality', action='store_true'); ap.add_argument('--q-epochs', type=int, default=3)
    a = ap.parse_args()
    d = Path(tempfile.mkdtemp())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
          f"native bf16: {cpu_has_fast_bf16()}, covidxray CPU precision: {pick_precision('cpu')}, load average {os.getloadavg()}", flush=True)
    items = index_sources(make_synthetic(d/'s', n_per_class=30, size=a.size, seed=1), n_folds=5, n_workers=0).items
    make = {'fastai_fp16': lambda: fastai_learner(items, a, train_bn=True),
            'fastai_fp16_nobn': lambda: fastai_learner(items, a, train_bn=False),
            'covidxray': lambda: covidxray_learner(items, a, channels_last=False),
            'covidxray_cl': lambda: covidxray_learner(items, a, channels_last=True),
            'plain': lambda: Plain(items, a)}
    variants = a.variants.split(',')
    runners = {v: make[v]() for v in variants}
    def steps(v, n): r = runners[v]; return r.steps(n) if isinstance(r, Plain) else fastai_steps(r, n)
    for v in variants: steps(v, a.warmup)                       # warm-up (oneDNN primitives, allocator), not timed
    times = {v: [] for v in variants}
    for r in range(a.rounds):                                   # interleaved rounds: other load on the machine hits all alike
        for v in variants:
            times[v] += steps(v, a.batches)
            print(f"round {r}: {v} {np.median(times[v]):.2f} s/step, load {os.getloadavg()[0]:.1f}", flush=True)
    res = {v: a.bs / float(np.median(t)) for v, t in times.items()}
    print(f"\nmedian over {a.rounds} x {a.batches} steps per variant, batch {a.bs}, {a.arch} at {a.size} px, body frozen")
    print("\n| variant | s/step (median) | images/s | vs fastai to_fp16() | vs plain loop |\n|---|---|---|---|---|")
    for v, r in res.items():
        f = f"{r / res['fastai_fp16']:.2f}x" if 'fastai_fp16' in res else '-'
        p = f"{r / res['plain']:.2f}x" if 'plain' in res else '-'
        print(f"| {v} | {np.median(times[v]):.2f} | {r:.2f} | {f} | {p} |")
    fd = forward_dtype(a)
    print(f"\n{a.small} forward, batch {a.bs} at 128 px: fp32 {fd['fp32']:.3f} s, bf16 autocast {fd['bf16']:.3f} s "
          f"({fd['bf16'] / fd['fp32']:.1f}x the fp32 time)")
    if a.quality: print('\nquality (tiny model, synthetic, fp32 vs bf16):', json.dumps(quality(a, d)))

if __name__ == '__main__': main()
