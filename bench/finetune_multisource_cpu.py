"""Benchmark: the fine-tuned CPU recipe trained across sources (dev set + SIIM), one validation fold or one source left out.

`train.recipe('transfer')` (ImageNet EfficientNet-Lite1, 1 frozen + 3 unfrozen epochs) with the settings given here on the
table of `covidxray index cxr256 cxr256_siim --folds 5`; then, under the label definitions of `00_core` ("Labels"):
- dev: macro-F1 over the validation fold's dev-source rows (patient-grouped, comparable with the study's CV);
- within-SIIM: the validation fold's SIIM rows (study-grouped), Normal-vs-Covid ROC-AUC and accuracy from their two probabilities
  (`evaluate.within_source`, with study-bootstrap 95% CIs); radiographic labels;
- per source: accuracy and recall per class of every source in the validation rows;
- the source probe (`audit.source_probe`, balanced accuracy over the sources, patient-grouped) on the validation films'
  features: the fine-tuned body's against ImageNet Lite1's on the same films (the figure a source adversary must lower).
With --leave-out SOURCE the validation rows are that source's and nothing of it is trained on (LOSO; no probe), nor any film
of another source that shares a patient or an image with it (`study.leave_source_out`: abzargar republished Kermany films),
and the run keeps its last epoch (`keep_epoch='last'`, since 2026-12-07): the left-out source is the test, so no epoch is
chosen by its labels (before, the best epoch by its macro-F1 was kept; `--set '{"keep_epoch": "best"}'` does that again).
`bench/finetune_loso_cpu.py --add OUT` files a left-out run's predictions, so LOSO runs pool across sessions.
With --models DIR... nothing is trained: those runs' models (trained on the same fold) predict the fold's validation rows
together (`predict.predict`, the mean of their probabilities; --tta adds its test-time views), scored as above without the probe.

    .venv/bin/python bench/finetune_multisource_cpu.py --items /tmp/ms/items.csv --out /tmp/ft/base --balance source_class --aug scanner
    .venv/bin/python bench/finetune_multisource_cpu.py --items /tmp/ms/items.csv --out /tmp/ft/ens --models /tmp/ft/base /tmp/ft/lungmask --tta
"""
import argparse, json, time
from pathlib import Path
import pandas as pd, torch
from sklearn.metrics import f1_score
from covidxray.core import CLASSES, device_info, load_csv, write_json
from covidxray.train import recipe, train_fold
from covidxray.audit import source_probe
from covidxray.study import leave_source_out
from covidxray.evaluate import within_source
from covidxray.model import build_model, read_config
from covidxray.predict import embed, predict

p = argparse.ArgumentParser()
p.add_argument('--items', default='/tmp/ms/items.csv'); p.add_argument('--out', required=True)
p.add_argument('--fold', type=int, default=0); p.add_argument('--leave-out', default=None)
p.add_argument('--balance', default=None, help="'none' for unbalanced sampling (the recipe balances by source_class)"); p.add_argument('--aug', default=None); p.add_argument('--intensity', default=None)
p.add_argument('--set', default='{}', help='more train_fold settings, as JSON'); p.add_argument('--resume', action='store_true')
p.add_argument('--models', nargs='+', default=None, help='run folders trained on this fold: score them together, train nothing')
p.add_argument('--tta', action='store_true', help='with --models: test-time views too')
a = p.parse_args()
dev_info = device_info(torch.device('cpu')); print(json.dumps(dev_info))
items = pd.read_csv(a.items)
if a.leave_out:
    n_all = len(items); items = leave_source_out(items, a.leave_out); fold = 0   # nor the films of other sources linked to it
    n_dropped = n_all - len(items)
    print(f"--leave-out {a.leave_out}: {int((items.fold == 0).sum())} films scored; {n_dropped} films of other sources share its patients or images, not trained on")
else: fold = a.fold
settings = dict(recipe('transfer', 'cpu'), **{k: (None if v == 'none' else v) for k, v in dict(balance=a.balance, aug=a.aug, intensity=a.intensity).items() if v},
                **({'keep_epoch': 'last'} if a.leave_out else {}))   # the left-out source is the test: no epoch is chosen on it
settings.update(json.loads(a.set))
t = time.time()
if a.models:
    settings = dict(models=[str(Path(m)/'model') for m in a.models], tta=a.tta); print('ensemble:', json.dumps(settings))
    if any(tuple(read_config(m)['classes']) != CLASSES for m in settings['models']): raise SystemExit(f"--models: classes other than {CLASSES}")
    v = items[items.fold == fold].reset_index(drop=True)
    P = predict(settings['models'], v, tta=a.tta, precision='fp32')
    v = v.assign(pred=[CLASSES[i] for i in P.argmax(1)], **{f'p_{c}': P[:, i] for i, c in enumerate(CLASSES)})
    Path(a.out).mkdir(parents=True, exist_ok=True); v.to_csv(Path(a.out)/'valid_preds.csv', index=False)
else:
    print('settings:', json.dumps(settings))
    train_fold(items, a.out, fold=fold, resume=a.resume, **settings)
    v = load_csv(Path(a.out)/'valid_preds.csv', keep_default_na=False)
minutes = (time.time() - t) / 60
r = dict(settings=settings, fold=fold, leave_out=a.leave_out, train_minutes=minutes, n_valid=len(v), device=dev_info)
if a.leave_out: r['n_dropped_shared'] = n_dropped
dev = v.source != 'siim'
if dev.any(): r['f1_dev'] = float(f1_score(v.label[dev], v.pred[dev], average='macro', labels=list(CLASSES), zero_division=0))
w = within_source(v, v[[f'p_{c}' for c in CLASSES]].astype(float).values, 'siim')
if w: r.update(siim_auc=w['auc'], siim_accuracy=w['accuracy'], siim_n=w['n'], siim_ci95=w['ci95'])
r['per_source'] = {src: dict(n=len(g), accuracy=float((g.pred == g.label).mean()),
                             recall={c: float((g.pred[g.label == c] == c).mean()) for c in CLASSES if (g.label == c).any()})
                   for src, g in v.groupby('source')}
if not a.leave_out and not a.models:
    Xft = embed(Path(a.out)/'model', v.path)
    torch.manual_seed(0); Xin = embed(build_model('tf_efficientnet_lite1', pretrained=True), v.path)
    r['source_probe'] = {k: source_probe(X, v.source, v.patient_id)['balanced_accuracy'] for k, X in (('finetuned', Xft), ('imagenet', Xin))}
    r['source_probe']['chance'] = 1 / v.source.nunique()
write_json(r, Path(a.out)/'bench_summary.json')
print(json.dumps({k: r[k] for k in r if k not in ('device', 'per_source')}, indent=1))
print(json.dumps(r['per_source'], indent=1))
