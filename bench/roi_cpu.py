"""Benchmark: does cropping to the lungs make the classifier read them? Full films against the lung crop, side by side,
on one patient-grouped fold of the dev set, with the CPU transfer recipe (`train.RECIPES['transfer']`).

    HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1 .venv/bin/python bench/lungs_cpu.py --out /tmp/lungs   # the segmenter, masks
    HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1 .venv/bin/python bench/roi_cpu.py --lungs /tmp/lungs --out /tmp/roi

Per arm (`full`: whole films; `lungs`: `train_fold(roi='lungs')`, each film cropped to its segmented lung box):
* fold-0 macro-F1 of the recipe;
* the lungs-removed control: the same recipe (same roi) trained and validated on copies with the *segmented* lungs
  blacked out (`audit.remove_lungs`, masks widened by 2% of the film; flagged films: the central box) — what it still
  gets right it gets from outside the lungs (lower is better; chance 0.33);
* the source probe on the model's features of the fold-0 films (balanced accuracy, patient-grouped 5-fold CV), of
  the films and of the lungs alone (everything else black); the largest source's share is the floor to compare with;
* Grad-CAM (the model's `cam_layer`) in the lungs: the share of each map of the predicted class inside the lung
  fields, on 200 fold-0 films with a lung mask.
`--arms` and `--skip-controls` make shorter runs; results go to OUT/results.json and a markdown table.
"""
import argparse, os, sys, time, warnings, json
from pathlib import Path
warnings.filterwarnings('ignore')
os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
sys.path.insert(0, str(Path(__file__).parent))

import numpy as np
from transfer_cpu import cpu_facts
from covidxray.core import load_csv, write_json
from covidxray.data import load_items
from covidxray.inputs import ROI_COLS
from covidxray.model import load_model
from covidxray.predict import embed
from covidxray.train import train_fold, recipe
from covidxray.audit import remove_lungs, source_probe, cam_in_lungs

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default='../shared/data/cxr256')
    ap.add_argument('--lungs', default='/tmp/lungs', help="bench/lungs_cpu.py's OUT: seg/ and lungs.csv (with masks)")
    ap.add_argument('--out', default='/tmp/roi')
    ap.add_argument('--arms', default='full,lungs')
    ap.add_argument('--fold', type=int, default=0)
    ap.add_argument('--skip-controls', action='store_true')
    ap.add_argument('--cam-images', type=int, default=200)
    a = ap.parse_args()
    out, lungs = Path(a.out), Path(a.lungs); out.mkdir(parents=True, exist_ok=True)
    print(cpu_facts(), flush=True)
    res = json.loads((out/'results.json').read_text()) if (out/'results.json').is_file() else {}
    items = load_items(a.data, n_folds=5, seed=0)
    lt = load_csv(lungs/'lungs.csv', keep_default_na=False)
    lt = lt.assign(key=[str(Path(p).resolve()) for p in lt.path]).drop_duplicates('key', keep='last').set_index('key')
    lt = lt.loc[[str(Path(p).resolve()) for p in items.path]]
    items = items.assign(**{c: lt[c].astype(float).values for c in ROI_COLS},
                         lung_ok=lt.lung_ok.astype(str).isin(['True', 'true', '1']).values, lung_check=lt.lung_check.values,
                         lung_mask=np.where(lt.lung_ok.astype(str).isin(['True', 'true', '1']), lt.lung_mask, ''))
    print(f"{len(items)} films, {(~items.lung_ok).sum()} flagged by the segmenter (read whole by the lung crop)", flush=True)
    valid = items[items.fold == a.fold].reset_index(drop=True)
    largest = valid.source.value_counts(normalize=True).iloc[0]
    r = dict(recipe('transfer', 'cpu'), aug='light', balance=None)   # the recipe these figures were measured with (before it trained across sources)
    removed = None
    for arm in a.arms.split(','):
        kw = dict(r, fold=a.fold, seed=0, **({'roi': 'lungs', 'segmenter': lungs/'seg'} if arm == 'lungs' else {}))
        rr = res.setdefault(arm, {})
        if 'f1_macro' not in rr:
            t0 = time.time(); m = train_fold(items, out/arm, resume=True, **kw)
            rr.update(f1_macro=m['f1_macro'], accuracy=m['accuracy'], minutes=(time.time() - t0) / 60)
            write_json(res, out/'results.json')
        print(arm, 'fold macro-F1', rr['f1_macro'], flush=True)
        model = load_model(out/arm/'model')
        if 'probe_acc' not in rr:
            g = valid.patient_id
            f_full = embed(model, valid, precision='fp32')
            only = remove_lungs(valid, out/'copies'/'lungs_only', masks=valid.lung_mask, keep=True)
            f_only = embed(model, only, precision='fp32')
            for k, f in (('probe', f_full), ('probe_lungs_only', f_only)):
                sp = source_probe(f, valid.source, g); cm = np.asarray(sp['confusion'])
                rr[k], rr[k.replace('probe', 'probe_acc')] = sp['balanced_accuracy'], float(np.trace(cm) / cm.sum())
            rr['largest_source_share'] = float(largest)
            write_json(res, out/'results.json')
        print(arm, 'source probe (balanced accuracy, accuracy)', rr['probe'], rr['probe_acc'], 'lungs only', rr['probe_lungs_only'],
              rr['probe_acc_lungs_only'], flush=True)
        if 'cam' not in rr:
            c = cam_in_lungs(model, valid, valid.lung_mask, n=a.cam_images)
            rr['cam'] = {k: c[k] for k in ('n', 'share', 'area', 'ratio', 'hit_rate', 'layer')}
            write_json(res, out/'results.json')
        print(arm, 'cam in lungs', rr['cam'], flush=True)
        if not a.skip_controls and 'f1_lungs_removed' not in rr:
            if removed is None: removed = remove_lungs(items, out/'copies'/'removed', masks=items.lung_mask)
            t0 = time.time(); m = train_fold(removed, out/f'{arm}_removed', resume=True, **kw)
            rr.update(f1_lungs_removed=m['f1_macro'], control_minutes=(time.time() - t0) / 60)
            write_json(res, out/'results.json')
        print(arm, 'lungs-removed control', rr.get('f1_lungs_removed'), flush=True)
    print('\n| arm | fold-0 macro-F1 | lungs-removed control macro-F1 | source probe accuracy, model features: films / lungs only '
          '(balanced accuracy) | largest source | Grad-CAM mass in lungs (their area) | minutes (model + control) |\n'
          '|---|---:|---:|---:|---:|---:|---:|')
    for arm, rr in res.items():
        print(f"| {arm} | {rr['f1_macro']:.3f} | {rr.get('f1_lungs_removed', float('nan')):.3f} | {rr['probe_acc']:.3f} / "
              f"{rr['probe_acc_lungs_only']:.3f} ({rr['probe']:.3f} / {rr['probe_lungs_only']:.3f}) | {rr['largest_source_share']:.3f} | "
              f"{rr['cam']['share']:.2f} ({rr['cam']['area']:.2f}) | {rr.get('minutes', 0):.0f} + {rr.get('control_minutes', 0):.0f} |")

if __name__ == '__main__': main()
