"""Benchmark: does training across sources (dev set + SIIM) teach the frozen-feature arm to read the film, not the hospital?

The study's frozen arm (ImageNet EfficientNet-Lite1 features at 240 px, `study.fit_head` logistic-regression head) on the
dev set alone and on dev + SIIM (`covidxray index cxr256 cxr256_siim --folds 5`), with and without source x class
balanced weights (`inputs.balance_weights`, the weights `--balance` samples by) and per-film intensity standardisation
(`InputSpec.intensity`). Figures, each under the label definitions of `00_core` ("Labels"):
- CV: patient-grouped 5-fold, macro-F1 over the dev-source rows only (comparable with and without SIIM);
- within-SIIM: the SIIM rows of each fold, predicted by the head trained on the other folds (dev + other SIIM studies):
  Normal-vs-Covid ROC-AUC (p_Covid - p_Normal) and accuracy (the larger of the two); radiographic labels;
- LOSO: every source predicted by the head trained on all the others; pooled macro-F1 over all sources, and over the six dev sources;
- NIH left out: Normal and Pneumonia recall of the darkcovidnet (NIH ChestX-ray8) rows when no NIH film was trained on;
- the source probe on the features (balanced accuracy over the sources, `audit.source_probe`).

    .venv/bin/python bench/multisource_cpu.py --items /tmp/ms/items.csv --cache /tmp/ms_cache

The features are cached as `lite1_<variant>.npy` in --cache (rows in --items order); missing ones are embedded.
Variants (--intensities): plain, equalize, clahe (`InputSpec.intensity`), and the lung regions of `--segmenter`
(bench/lungs_cpu.py's OUT/seg): lungbox (`roi='lungs'`, each film cropped to its lung box) and lungmask
(`roi='lung_mask'`, the box blanked outside the segmented lungs); flagged films are read whole, as in training.
"""
import argparse, json, time
from pathlib import Path
import numpy as np, pandas as pd, torch
from sklearn.metrics import f1_score, roc_auc_score
from covidxray.core import CLASSES, device_info
from covidxray.inputs import balance_weights
from covidxray.study import held_out, fit_head
from covidxray.audit import source_probe
from covidxray.model import build_model, attach_segmenter
from covidxray.predict import embed
from covidxray.inputs import ROI_COLS
from covidxray.lungs import load_segmenter, lung_table

p = argparse.ArgumentParser()
p.add_argument('--items', default='/tmp/ms/items.csv'); p.add_argument('--cache', default='/tmp/ms_cache')
p.add_argument('--intensities', default='plain,equalize'); p.add_argument('--data', default='dev,dev+siim'); p.add_argument('--out', default=None)
p.add_argument('--segmenter', default='/tmp/lungs/seg', help='the lung segmenter for the lungbox/lungmask variants')
a = p.parse_args()
print(json.dumps(device_info(torch.device('cpu'))))
items = pd.read_csv(a.items); cache = Path(a.cache); cache.mkdir(parents=True, exist_ok=True)

ROI_KINDS = {'lungbox': 'lungs', 'lungmask': 'lung_mask'}

def lung_rows(seg):
    "items with each film's lung box and mask (segmented once, cached in --cache)."
    t = lung_table(seg, items.path, cache=cache/'lungs.csv', masks_dir=cache/'masks')
    print(f"lungs: {(~t.lung_ok).sum()} of {len(t)} films flagged (read whole)", flush=True)
    return items.assign(**{c: t[c].values for c in ROI_COLS}, lung_mask=t.lung_mask.where(t.lung_ok, '').values)

def features(kind):
    f = cache/f'lite1_{kind}.npy'
    if not f.is_file():
        t = time.time(); torch.manual_seed(0); m = build_model('tf_efficientnet_lite1', pretrained=True); rows = items.path
        if kind in ROI_KINDS:
            seg = load_segmenter(a.segmenter); attach_segmenter(m, seg, kind=ROI_KINDS[kind]); rows = lung_rows(seg)
        elif kind != 'plain': m.config['intensity'] = kind
        np.save(f, embed(m, rows)); print(f"features {kind}: {(time.time() - t) / 60:.1f} min", flush=True)
    return np.load(f)

def f1(d, lp): return f1_score(d.label, np.array(CLASSES)[lp.argmax(1)], average='macro', labels=list(CLASSES), zero_division=0)

def arm(X, d, weighted):
    w = (lambda tr: balance_weights(tr, 'source_class', 0.5)) if weighted else None
    cv = held_out(X, d, d.fold.values, weights=w)
    lo = held_out(X, d, d.source.values, weights=w)
    dev = (d.source != 'siim').values
    r = dict(cv_f1_dev=f1(d[dev], cv[dev]), loso_f1_pooled=f1(d, lo), loso_f1_dev_sources=f1(d[dev], lo[dev]))
    nih = (d.source == 'darkcovidnet').values
    pred = np.array(CLASSES)[lo.argmax(1)]
    for c in ('Normal', 'Pneumonia'): r[f'nih_left_out_recall_{c}'] = float((pred[nih & (d.label == c).values] == c).mean())
    return r, cv, lo

def within_siim(d, lp):
    s, lp = (d.source == 'siim').values, np.maximum(lp, -700.0)     # a head sure to the last bit gives log(0): kept finite
    score = lp[s, CLASSES.index('Covid')] - lp[s, CLASSES.index('Normal')]
    y = (d.label[s] == 'Covid').values
    return dict(siim_auc=float(roc_auc_score(y, score)), siim_accuracy=float(((score > 0) == y).mean()), siim_n=int(s.sum()))

rows, dev = [], (items.source != 'siim').values
for kind in a.intensities.split(','):
    X = features(kind)
    probe = source_probe(X, items.source, items.patient_id)['balanced_accuracy']   # over all seven sources
    for data in a.data.split(','):
        m = dev if data == 'dev' else np.ones(len(items), bool)
        for weighted in (False, True):
            t = time.time()
            d = items[m].reset_index(drop=True)
            r, cv, lo = arm(X[m], d, weighted)
            if data == 'dev':      # SIIM never trained on: the dev-trained heads (all folds) applied to SIIM
                sw = balance_weights(d, 'source_class', 0.5) if weighted else None
                clf = fit_head(X[m], d.label, sample_weight=sw)
                lp = clf.predict_log_proba(X[~m])[:, clf.order]
                r.update(within_siim(items[~m].reset_index(drop=True), lp))
            else: r.update(within_siim(d, cv))
            r.update(intensity=kind, data=data, balance='source_class^0.5' if weighted else 'none', source_probe=probe, minutes=(time.time() - t) / 60)
            rows.append(r); print(json.dumps(r), flush=True)
df = pd.DataFrame(rows)
cols = ['intensity', 'data', 'balance', 'cv_f1_dev', 'siim_auc', 'siim_accuracy', 'loso_f1_pooled', 'loso_f1_dev_sources',
        'nih_left_out_recall_Normal', 'nih_left_out_recall_Pneumonia', 'source_probe', 'minutes']
if a.out: df[cols].to_csv(a.out, index=False)
print('| ' + ' | '.join(cols) + ' |\n|' + '---|' * len(cols))
for _, r in df[cols].iterrows(): print('| ' + ' | '.join(f'{v:.3f}' if isinstance(v, float) else str(v) for v in r) + ' |')
