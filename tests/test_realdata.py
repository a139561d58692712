"Real-data tests on the development set (../shared/data/cxr256); skipped where it is absent. Read-only: outputs go to tmp."
import subprocess, sys
import pandas as pd

def test_index_dev_set(dev_data, tmp_path):
    out = tmp_path/'items.csv'
    r = subprocess.run([sys.executable, '-m', 'covidxray.cli', 'index', str(dev_data), '--out', str(out), '--folds', '5'],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    items, dropped = pd.read_csv(out), pd.read_csv(out.with_name('items.dropped.csv'))
    meta = pd.read_csv(dev_data/'metadata.csv')
    # every image is accounted for: kept, or dropped with a stated reason (only near-duplicate merges are acceptable)
    assert len(items) + len(dropped) == len(meta) == 3437
    assert dropped.reason.str.contains('near-duplicate').all(), dropped.reason.unique()
    assert len(items) >= 3437 - 20
    # the metadata's sources and patient ids are kept
    m = meta.assign(path=[str(dev_data/f) for f in meta.file]).set_index('path')
    it = items.set_index('path')
    assert (it.source == m.source[it.index]).all()
    assert (it.patient_id == m.patient_id[it.index]).all()
    assert (it.label == m.label[it.index]).all()
    # patient-disjoint, stratified folds
    assert sorted(items.fold.unique()) == [0, 1, 2, 3, 4]
    assert items.groupby('patient_id').fold.nunique().max() == 1
    whole = items.label.value_counts(normalize=True)
    per_fold = pd.crosstab(items.fold, items.label, normalize='index')
    assert (per_fold - whole).abs().max().max() < 0.03, per_fold

def test_ieee_findings_of_the_dev_set(dev_data):
    "Every ieee8023 finding string of the real metadata (the 2020-06 state: 'COVID-19, ARDS', 'Mycoplasma Bacterial Pneumonia', ...) reads as the dev set's label."
    from covidxray.data import ieee_label
    meta = pd.read_csv(dev_data/'metadata.csv', keep_default_na=False)
    ieee = meta[meta.source == 'ieee8023'].drop_duplicates('orig_label')
    assert {'COVID-19, ARDS', 'Mycoplasma Bacterial Pneumonia'} <= set(ieee.orig_label)
    got = {f: ieee_label(f) for f in ieee.orig_label}
    assert got == {f: (lbl, '') for f, lbl in zip(ieee.orig_label, ieee.label, strict=True)}, got

def test_the_film_check_on_real_laterals_and_ct(dev_data):
    "The film check alone (thumbnails: no model), fitted on real frontal films, stops real lateral films and CT images and lets held-out frontal films through."
    import numpy as np
    import pytest
    from covidxray.data import open_xray
    from covidxray.inputcheck import film_thumbnail, fit_input_check
    nf = dev_data.parent/'cxr256_notfrontal'
    if not (nf/'metadata.csv').is_file(): pytest.skip(f'{nf} not found')
    meta = pd.read_csv(dev_data/'metadata.csv')
    pats = meta.patient_id.drop_duplicates().sample(frac=1, random_state=0)
    fit, held = meta[meta.patient_id.isin(pats[:len(pats) * 3 // 4])], meta[~meta.patient_id.isin(pats[:len(pats) * 3 // 4])]
    th = lambda files, root: np.stack([film_thumbnail(open_xray(root/f, size=64)) for f in files])
    fit = fit.sample(900, random_state=0)
    chk = fit_input_check(th(fit.file[:600], dev_data), th(fit.file[600:], dev_data))
    other = pd.read_csv(nf/'metadata.csv')
    flagged = {k: 1 - chk.verdict(th(other.file[other.kind == k], nf)).in_domain.mean() for k in ('Lateral', 'CT')}
    false_alarms = 1 - chk.verdict(th(held.file.sample(300, random_state=0), dev_data)).in_domain.mean()
    assert flagged['Lateral'] >= 0.85 and flagged['CT'] >= 0.9, flagged           # bench/inputcheck_cpu.md: 93%, 98%
    assert false_alarms <= 0.12, false_alarms                                       # 95% pass on the fitting films
