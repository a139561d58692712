"""Benchmark: the input check (`inputcheck`, `predict.fit_model_check`) on real films and on pictures that are not films.

A trained model's check is fitted as training fits it: the film bank and the feature means on its training folds, the
thresholds (95% pass) on half of its validation fold's patients. It is then measured on the other half (false alarms on
films of the training sources), on adult films of other hospitals (SIIM, not trained on: false alarms on an unseen
source), on the real lateral films and CT slices beside the checkout, on corruptions of the held-out half's films
(`synthetic.CORRUPTIONS`, and the mirrored film `PLAUSIBLE` kept apart), and on matplotlib's sample pictures
(`synthetic.not_films`). Per kind: the share flagged at the chosen threshold, and the AUROC against the held-out films
of the training sources for each candidate score: the maximum softmax probability (the model's confidence), the film
check alone, the feature check alone, and the two together (the smaller tail share: what `InputCheck.verdict` uses).
The seconds the check adds per film are timed against the forward pass. The CPU's name and flags are recorded.
With `--engine NAME` (e.g. openvino, whose network gives the pooled features too) every picture is also read by that
engine: the share it flags, and the share of pictures whose verdict is the torch engine's.

    HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1 .venv/bin/python bench/inputcheck_cpu.py RUN/model DEV_ITEMS.csv \
        --siim SIIM_ITEMS.csv [--notfrontal ../shared/data/cxr256_notfrontal] [--n-siim 600] [--n-corrupt 120] [--engine openvino] [--json OUT]
"""
import argparse, json, os, tempfile, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
import numpy as np, pandas as pd, torch
from PIL import Image
from sklearn.metrics import roc_auc_score
from covidxray.core import device_info
from covidxray.model import load_model
from covidxray.predict import predict_batches, fit_model_check
from covidxray.inputcheck import _tail
from covidxray.synthetic import corrupt_film, CORRUPTIONS, PLAUSIBLE, not_films

def read(m, paths):
    "Probabilities, thumbnails and pooled features of `paths`, as `predict` reads them (unreadable films dropped)."
    P, T, F = [], [], []
    for _, p, _, x in predict_batches(m, paths, check=None, features=True):
        ok = np.isfinite(p).all(1); P.append(p[ok]); T.append(x['thumbs'][ok]); F.append(x['features'][ok])
    return np.concatenate(P), np.concatenate(T), np.concatenate(F)

def scores(chk, p, t, f)->dict:
    "Each candidate's out-of-domain score (higher: further from the training films)."
    film, feat = chk.film_score(t), chk.feature_score(f)
    return dict(msp=-p.max(1), film=film, features=feat,
                both=-np.minimum(_tail(chk.ref_film, film), _tail(chk.ref_feat, feat)))

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('model'); ap.add_argument('items')
    ap.add_argument('--siim', required=True, help='an index of cxr256_siim (covidxray index): films of hospitals not trained on')
    ap.add_argument('--notfrontal', default=str(Path(__file__).resolve().parents[2]/'shared'/'data'/'cxr256_notfrontal'))
    ap.add_argument('--fold', type=int, default=0); ap.add_argument('--n-siim', type=int, default=600)
    ap.add_argument('--n-corrupt', type=int, default=120); ap.add_argument('--json', default=None)
    ap.add_argument('--engine', default=None, help='also read every picture with this engine (covidxray.engines)')
    a = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    m, items = load_model(a.model), pd.read_csv(a.items)
    tr, va = items[items.fold != a.fold], items[items.fold == a.fold]
    pats = va.patient_id.drop_duplicates().sample(frac=1, random_state=0)
    va_a, va_b = va[va.patient_id.isin(pats[: len(pats) // 2])], va[~va.patient_id.isin(pats[: len(pats) // 2])]
    t0 = time.perf_counter(); chk = fit_model_check(m, tr, va_a); fit_s = time.perf_counter() - t0
    print(chk, f'fitted in {fit_s:.0f} s', flush=True)
    nf = pd.read_csv(Path(a.notfrontal)/'metadata.csv'); nf['path'] = [str(Path(a.notfrontal)/f) for f in nf.file]
    siim = pd.read_csv(a.siim); siim = siim[siim.source == 'siim'].sample(min(a.n_siim, (siim.source == 'siim').sum()), random_state=0)
    tmp = Path(tempfile.mkdtemp()); rng = np.random.default_rng(0)
    base = va_b.sample(min(a.n_corrupt, len(va_b)), random_state=1).path.tolist()
    sets = {'dev, held-out half of fold': va_b.path.tolist(), 'SIIM (hospitals not trained on)': siim.path.tolist(),
            'lateral films (real)': nf.path[nf.kind == 'Lateral'].tolist(), 'CT slices (real)': nf.path[nf.kind == 'CT'].tolist()}
    for k in [*CORRUPTIONS, *PLAUSIBLE]:
        fs = []
        for i, p in enumerate(base):
            fs.append(str(tmp/f'{k}_{i}.png')); corrupt_film(Image.open(p), k, rng).save(fs[-1])
        sets[f'{k}' + (' (plausible: not counted)' if k in PLAUSIBLE else '')] = fs
    sets['not X-rays (matplotlib samples)'] = [str(p) for p in not_films(tmp/'pics')]
    got = {k: read(m, v) for k, v in sets.items()}
    if a.engine:
        from covidxray.engines import load_engine
        [em] = load_engine(a.model, a.engine)
        got_e = {k: read(em, v) for k, v in sets.items()}
    sc = {k: scores(chk, *v) for k, v in got.items()}
    ref = sc['dev, held-out half of fold']
    rows = []
    for k, v in got.items():
        verdict = chk.verdict(v[1], v[2]); film_only = chk.verdict(v[1])
        r = dict(kind=k, n=len(v[0]), flagged=float((~verdict.in_domain).mean()), flagged_film_only=float((~film_only.in_domain).mean()))
        if a.engine:
            ve = chk.verdict(got_e[k][1], got_e[k][2])
            r.update({f'flagged_{a.engine}': float((~ve.in_domain).mean()), f'check_{a.engine}': ve.check[0],
                      f'same_verdict_{a.engine}': float((ve.in_domain.values == verdict.in_domain.values).mean())})
        if k != 'dev, held-out half of fold':
            for s in ref: r[f'auroc_{s}'] = float(roc_auc_score(np.r_[np.zeros(len(ref[s])), np.ones(len(sc[k][s]))], np.r_[ref[s], sc[k][s]]))
        rows.append(r); print(r, flush=True)
    # what the check costs: the verdict on a batch of 8 against the forward pass of the same batch
    x = torch.randn(8, 3, m.config['size'], m.config['size'])
    with torch.no_grad():
        m(x); t0 = time.perf_counter(); [m(x) for _ in range(5)]; fwd = (time.perf_counter() - t0) / 40
    t, f = got['dev, held-out half of fold'][1][:8], got['dev, held-out half of fold'][2][:8]
    chk.verdict(t, f); t0 = time.perf_counter(); [chk.verdict(t, f) for _ in range(20)]; ver = (time.perf_counter() - t0) / 160
    rec = dict(model=a.model, fold=a.fold, engine=a.engine, check=repr(chk), fit_s=round(fit_s, 1), n_bank=len(chk.bank), rows=rows,
               forward_ms_per_film=round(fwd * 1e3, 2), check_ms_per_film=round(ver * 1e3, 3), cpu=device_info('cpu'))
    print(json.dumps({k: v for k, v in rec.items() if k != 'rows'}, indent=1))
    if a.json: Path(a.json).write_text(json.dumps(rec, indent=1) + '\n')

if __name__ == '__main__': main()
