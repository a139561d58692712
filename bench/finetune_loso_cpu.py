"""Benchmark: leave-one-source-out with the fine-tuned CPU recipe, pooled over the sources measured so far.

Each source is one run of `bench/finetune_multisource_cpu.py --leave-out SOURCE` (about 40 minutes on two cores): a model
trained on every other source (and on no film that shares a patient or an image with SOURCE) predicts all of SOURCE's
films. One run per session is what a CPU allows, so the runs are kept here, not in a temporary folder: `--add DIR...`
files each run's predictions into `bench/finetune_loso_cpu.csv` (source, a patient number within the source, label, the
three probabilities: no path, no image) and its facts (minutes, CPU, films dropped as shared) into
`bench/finetune_loso_cpu.json`; every call then prints the figures over the sources filed so far:
- per source: films, accuracy, recall per class (the LOSO question: is an unseen hospital's Normal film called Normal?);
- pooled over every filed source's films: macro-F1 and accuracy with a patient-bootstrap 95% interval
  (`evaluate.bootstrap_ci`), the figure the issue's target (>= 0.70) is about once all seven sources are filed;
- for SIIM left out: Normal-vs-Covid AUC and accuracy (`evaluate.within_source`; radiographic labels);
- which epoch each run saved: runs filed before 2026-12-07 kept the epoch of best macro-F1 *on the left-out source*
  (`train_fold(keep_epoch='best')`), a choice made with the test labels; `finetune_multisource_cpu.py --leave-out` now
  keeps the last epoch (`keep_epoch='last'`), and the print says when the pool mixes the two.
Labels follow `00_core` ("Labels"): radiographic for SIIM and NIH, patient status for the COVID collections.
A pool holds one recipe: a run whose settings (other than `keep_epoch`) differ from the pool's is refused. `--pool NAME`
keeps another recipe's runs apart, in `bench/finetune_loso_cpu_NAME.csv` and `.json` (e.g. `--pool lungs6` for the
lungs-only recipe with six unfrozen epochs).

    .venv/bin/python bench/finetune_loso_cpu.py --add /tmp/ft/lo_kermany /tmp/ft/lo_abzargar
    .venv/bin/python bench/finetune_loso_cpu.py          # the figures over what is filed
    .venv/bin/python bench/finetune_loso_cpu.py --pool lungs6 --add /tmp/ft/lo_siim_lungs6
"""
import argparse, json
from pathlib import Path
import numpy as np, pandas as pd
from covidxray.core import CLASSES, load_csv, write_json
from covidxray.evaluate import bootstrap_ci, headline_figures, within_source

HERE = Path(__file__).parent
P = [f'p_{c}' for c in CLASSES]

def pool_files(pool:str|None=None)->tuple:
    "The csv and json of a pool: the whole-film recipe's when `pool` is None."
    stem = 'finetune_loso_cpu' + (f'_{pool}' if pool else '')
    return HERE/f'{stem}.csv', HERE/f'{stem}.json'

def _recipe(settings:dict)->dict: return {k: v for k, v in settings.items() if k != 'keep_epoch'}

def add_run(run:Path, rows:pd.DataFrame, facts:dict):
    "`rows` and `facts` with the left-out run in `run` filed (replacing an earlier run of the same source)."
    s = json.loads((run/'bench_summary.json').read_text())
    src = s.get('leave_out')
    if not src: raise SystemExit(f"{run}: not a --leave-out run (its bench_summary.json has no leave_out)")
    v = load_csv(run/'valid_preds.csv', keep_default_na=False)
    if set(v.source) != {src}: raise SystemExit(f"{run}: scored {sorted(set(v.source))}, not only {src!r}")
    new = pd.DataFrame(dict(source=src, patient=pd.factorize(v.patient_id)[0], label=v.label,
                            **{p: v[p].astype(float).round(5) for p in P}))
    others = {k: f['settings'] for k, f in facts.items() if k != src and _recipe(f['settings']) != _recipe(s['settings'])}
    if others:
        k, o = next(iter(others.items()))
        diff = {x: (o.get(x), s['settings'].get(x)) for x in set(o) | set(s['settings']) if x != 'keep_epoch' and o.get(x) != s['settings'].get(x)}
        raise SystemExit(f"{run}: trained with other settings than this pool's {k} run ({diff}, pool's first): "
                         "file it in a pool of its own with --pool NAME")
    dev = s.get('device', {})
    m = json.loads((run/'valid_metrics.json').read_text()) if (run/'valid_metrics.json').is_file() else {}
    facts[src] = dict(minutes=round(s['train_minutes'], 1), n=len(v), n_dropped_shared=s.get('n_dropped_shared'),
                      cpu=dev.get('cpu') or dev.get('name'), flags=dev.get('flags'), settings=s['settings'],
                      # which epoch was saved: 'best' was chosen by the left-out source's own labels (before 2026-12-07, always)
                      keep_epoch=m.get('keep_epoch', 'best'), kept_epoch=m.get('kept_epoch', m.get('best_epoch')),
                      epochs_trained=m.get('epochs_trained'))
    return pd.concat([rows[rows.source != src], new], ignore_index=True), facts

def figures(rows:pd.DataFrame)->dict:
    "Per-source and pooled figures of the filed rows."
    prob = rows[P].values
    pred = np.array(CLASSES)[prob.argmax(1)]
    per = {}
    for src, g in rows.assign(pred=pred).groupby('source'):
        per[src] = dict(n=len(g), accuracy=float((g.pred == g.label).mean()),
                        recall={c: float((g.pred[g.label == c] == c).mean()) for c in CLASSES if (g.label == c).any()},
                        called={c: {q: int(((g.label == c) & (g.pred == q)).sum()) for q in CLASSES} for c in CLASSES if (g.label == c).any()})
    y = np.array([CLASSES.index(l) for l in rows.label])
    hard = np.eye(len(CLASSES))[prob.argmax(1)]          # macro-F1 and accuracy depend on the predicted class only
    pooled = {k: float(headline_figures(y, hard)[k]) for k in ('f1_macro', 'accuracy')}
    ci = bootstrap_ci(rows.label.values, hard, (rows.source + ':' + rows.patient.astype(str)).values)
    pooled['ci95'] = {k: [float(ci[k]['lower']), float(ci[k]['upper'])] for k in ('f1_macro', 'accuracy')}
    r = dict(sources=sorted(per), n=len(rows), pooled=pooled, per_source=per)
    if 'siim' in per:
        w = within_source(rows.assign(patient_id=rows.patient), prob, 'siim')
        r['siim_left_out'] = dict(auc=w['auc'], accuracy=w['accuracy'], ci95=w['ci95'])
    return r

if __name__ == '__main__':
    a = argparse.ArgumentParser(); a.add_argument('--add', nargs='*', default=[], help='--leave-out run folders to file')
    a.add_argument('--pool', default=None, help="another recipe's pool (default: the whole-film recipe's)")
    a = a.parse_args()
    CSV, JSON = pool_files(a.pool)
    rows = pd.read_csv(CSV) if CSV.exists() else pd.DataFrame(columns=['source', 'patient', 'label', *P])
    facts = json.loads(JSON.read_text())['runs'] if JSON.exists() else {}
    for run in a.add: rows, facts = add_run(Path(run), rows, facts)
    rows = rows.sort_values(['source', 'patient'], kind='stable').reset_index(drop=True)   # filed or re-read: the same order, the same bootstrap
    if a.add: rows.to_csv(CSV, index=False)
    if not len(rows): raise SystemExit("nothing filed yet: --add a --leave-out run folder")
    r = figures(rows)
    write_json(dict(runs=facts, figures=r), JSON)
    print(json.dumps({k: r[k] for k in r if k != 'per_source'}, indent=1))
    for src, f in r['per_source'].items():
        k = facts.get(src, {})
        print(f"{src:13s} n={f['n']:5d} accuracy {f['accuracy']:.3f}  recall " + ', '.join(f"{c} {x:.2f}" for c, x in f['recall'].items())
              + f"  (epoch kept: {k.get('keep_epoch', 'best')}, {k.get('kept_epoch')} of {k.get('epochs_trained')})")
    rules = {facts.get(src, {}).get('keep_epoch', 'best') for src in r['per_source']}
    if 'best' in rules: print("note: a run with 'best' kept the epoch its left-out source's labels scored best (a little optimistic); "
                              "--leave-out runs keep the last epoch since 2026-12-07" + (" (the pool mixes both)" if len(rules) > 1 else ""))
