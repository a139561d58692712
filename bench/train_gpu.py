"""Training throughput on CUDA with the body frozen (resnet200d, 256 px): covidxray's path (fastai `to_fp16()` + frozen
body in eval mode under no_grad, train_bn=False) against fastai's `to_fp16()` with its default `freeze()`
(train_bn=True), fp32, and a plain PyTorch AMP loop doing the same work. Run on the GPU machine:

    python bench/train_gpu.py --bs 32 --warmup 5 --batches 20

and paste the table into bench/train_gpu.md. Synthetic data, random init (no download); images/s over the timed
batches only, with torch.cuda.synchronize() at each time stamp. `--quality` trains a tiny model fp32 vs fp16.
"""
import argparse, os, time, json, tempfile, warnings
from pathlib import Path
os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
warnings.filterwarnings('ignore')
import torch
from fastai.callback.core import Callback, CancelFitException
from fastai.callback.progress import ProgressCallback

from covidxray.synthetic import make_synthetic
from covidxray.data import index_sources
from covidxray.train import xray_learner, train_fold

class Timer(Callback):
    order = 99
    def __init__(self, n): self.n, self.t = n, []
    def after_batch(self):
        if not self.training: return
        torch.cuda.synchronize(); self.t.append(time.perf_counter())
        if len(self.t) >= self.n: raise CancelFitException()

def ips(t, warmup, bs): return bs * (len(t) - warmup) / (t[-1] - t[warmup - 1])

def learner(items, a, precision, train_bn=False):
    learn = xray_learner(items, arch=a.arch, pretrained=False, size=a.size, bs=a.bs, num_workers=a.workers, precision=precision,
                         train_bn=train_bn, aug='light', device='cuda')
    learn.remove_cb(ProgressCallback)
    return learn

def run(learn, a):
    learn.freeze()
    tm = Timer(a.warmup + a.batches)
    learn.fit_one_cycle(1, 1e-3, cbs=[tm])
    return ips(tm.t, a.warmup, a.bs)

def run_plain(items, a):
    learn = learner(items, a, 'fp32')
    model = learn.model.cuda()
    body, head = model.body.eval(), model.head.train()
    for p in body.parameters(): p.requires_grad_(False)
    opt = torch.optim.Adam(head.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler('cuda')
    loss_fn = torch.nn.CrossEntropyLoss()
    t = []
    while len(t) < a.warmup + a.batches:
        for xb, yb in learn.dls.train:
            with torch.autocast('cuda', dtype=torch.float16):
                with torch.no_grad(): f = body.forward_features(xb)
                loss = loss_fn(head(f).float(), yb)
            opt.zero_grad(); scaler.scale(loss).backward(); scaler.step(opt); scaler.update()
            torch.cuda.synchronize(); t.append(time.perf_counter())
            if len(t) >= a.warmup + a.batches: break
    return ips(t, a.warmup, a.bs)

def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--arch', default='resnet200d'); ap.add_argument('--size', type=int, default=256)
    ap.add_argument('--bs', type=int, default=32); ap.add_argument('--warmup', type=int, default=5)
    ap.add_argument('--batches', type=int, default=20); ap.add_argument('--workers', type=int, default=None)
    ap.add_argument('--quality', action='store_true')
    a = ap.parse_args()
    assert torch.cuda.is_available(), 'this benchmark needs a CUDA GPU (bench/train_cpu.py is the CPU one)'
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}", flush=True)
    d = Path(tempfile.mkdtemp())
    n = max(30, (a.warmup + a.batches + 2) * a.bs * 5 // 12)   # enough training images for one epoch of timed batches
    items = index_sources(make_synthetic(d/'s', n_per_class=n, size=a.size, seed=1), n_folds=5).items
    res = {}
    res['fastai_fp32_default_freeze'] = run(learner(items, a, 'fp32', train_bn=True), a)
    l = learner(items, a, 'fp32', train_bn=True); l.to_fp16(); res['fastai_to_fp16_default_freeze'] = run(l, a)
    res['covidxray_auto'] = run(learner(items, a, 'auto'), a)   # fp16 via to_fp16(), body frozen under no_grad
    res['plain_amp_loop'] = run_plain(items, a)
    print('\n| variant | images/s | vs fastai to_fp16() | vs plain loop |\n|---|---|---|---|')
    for k, v in res.items():
        print(f"| {k} | {v:.1f} | {v / res['fastai_to_fp16_default_freeze']:.2f}x | {v / res['plain_amp_loop']:.2f}x |")
    if a.quality:
        q = index_sources(make_synthetic(d/'q', n_per_class=150, size=64, seed=3), n_folds=5).items
        out = {}
        for p in ('fp32', 'fp16'):
            m = train_fold(q, d/f'q_{p}', arch='resnet10t', pretrained=False, epochs=8, size=64, bs=16, lr=5e-3, precision=p,
                           aug='none', device='cuda')
            out[p] = dict(accuracy=round(m['accuracy'], 3), f1_macro=round(m['f1_macro'], 3))
        print('\nquality (resnet10t, synthetic, fp32 vs fp16):', json.dumps(out))

if __name__ == '__main__': main()
