"Script tests: `covidxray evaluate` and `covidxray audit` as a user runs them, on synthetic data and on the dev set."
import json, os, subprocess, sys
import pandas as pd
import pytest

from covidxray.synthetic import make_synthetic

pytestmark = pytest.mark.train

def cli(*args):
    r = subprocess.run([sys.executable, '-m', 'covidxray.cli', *map(str, args)], capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    return r

EVAL_FILES = ['metrics.json', 'predictions.csv', 'confusion.png', 'confusion_normalized.png', 'roc.png', 'reliability.png', 'coverage_risk.png']
KEYS = {'n', 'accuracy', 'f1_macro', 'precision_macro', 'recall_macro', 'roc_auc_macro', 'ece', 'per_class', 'ci95', 'coverage_risk'}

def test_evaluate_and_audit_synthetic(tmp_path):
    src = make_synthetic(tmp_path/'train', n_per_class=8, size=96, seed=3)
    cli('train', src, '--out', tmp_path/'run', '--arch', 'resnet10t', '--no-pretrained', '--epochs', '1', '--size', '64',
        '--bs', '8', '--folds', '3', '--workers', '0')
    test = make_synthetic(tmp_path/'test', n_per_class=5, layout='kermany', size=96, seed=4)
    r = cli('evaluate', tmp_path/'run', test, '--out', tmp_path/'eval', '--n-boot', '50', '--workers', '0')
    for f in EVAL_FILES: assert (tmp_path/'eval'/f).is_file(), f
    m = json.loads((tmp_path/'eval'/'metrics.json').read_text())
    assert KEYS <= set(m) and m['n'] == 10
    assert 'f1_macro' in r.stdout and 'classes absent from the test set' in r.stdout   # Kermany has no Covid: said so
    # predict: a corrupt file is reported and skipped, the rest predicted exactly as the Python API does
    (test/'chest_xray'/'test'/'NORMAL'/'broken.jpeg').write_bytes(b'not a jpeg')
    r = cli('predict', tmp_path/'run', test, '--out', tmp_path/'preds.csv')
    assert 'broken.jpeg' in r.stdout and '1 unreadable skipped' in r.stdout
    t = pd.read_csv(tmp_path/'preds.csv', keep_default_na=False)
    assert list(t.columns) == ['path', 'pred', 'p_Covid', 'p_Normal', 'p_Pneumonia', 'in_domain', 'in_domain_score',
                               'check', 'in_domain_why', 'error'] and len(t) == 11   # a trained model carries its input check
    assert set(t.in_domain[t.pred != '']) <= {'yes', 'no'} and (t.in_domain[t.pred == ''] == '').all()
    assert 'broken.jpeg: cannot be read' in t.error[t.pred == ''].item()
    from covidxray.predict import predict
    from covidxray.deploy import predict_int8
    ok = t[t.pred != '']
    assert not ok.path.str.contains('broken').any() and len(ok) == 10
    api = predict(tmp_path/'run'/'model', ok.path.tolist(), precision='fp32')   # the default engine (auto): the model's fp32 predictions
    assert abs(ok[['p_Covid', 'p_Normal', 'p_Pneumonia']].values.astype(float) - api).max() < 1e-5
    assert 'engine openvino:' in r.stdout                                            # which engine ran, and why, is said
    # int8: the CLI and the API quantize alike (same calibration images) and predict the same
    cli('predict', tmp_path/'run', test, '--out', tmp_path/'preds8.csv', '--engine', 'torch-int8')
    t8 = pd.read_csv(tmp_path/'preds8.csv', keep_default_na=False).query("pred != ''")
    assert list(t8.path) == list(ok.path)
    api8 = predict_int8(tmp_path/'run'/'model', ok.path.tolist())
    assert abs(t8[['p_Covid', 'p_Normal', 'p_Pneumonia']].values.astype(float) - api8).max() < 1e-5
    assert abs(api8 - api).max() < 0.1
    r = cli('gradcam', tmp_path/'run', test, '--out', tmp_path/'cam', '--n-per-class', '2')   # the broken file: named, skipped
    assert 'skipped (unreadable)' in r.stdout and 'broken.jpeg' in r.stdout
    assert (tmp_path/'cam'/'grid.png').is_file() and len(list((tmp_path/'cam').glob('0*.png'))) == 10
    (test/'chest_xray'/'test'/'NORMAL'/'broken.jpeg').unlink()
    r = cli('audit', tmp_path/'run', src, '--out', tmp_path/'audit', '--control-epochs', '1', '--control-size', '64',
            '--bs', '8', '--workers', '0')
    a = json.loads((tmp_path/'audit'/'audit.json').read_text())
    assert {'source_probe', 'lungs_removed', 'leakage'} <= set(a) and 'lungs_removed' in r.stdout

def test_evaluate_dev_set(dev_data, tmp_path):
    "A model trained with `covidxray train` on the dev set, evaluated on a folder-per-class test set."
    cli('index', dev_data, '--out', tmp_path/'items.csv')
    items = pd.read_csv(tmp_path/'items.csv')
    test = items[items.fold == 0].groupby('label').head(25)
    for r in test.itertuples():                           # a folder-per-class test set (links, the data stays read-only)
        d = tmp_path/'test'/r.label; d.mkdir(parents=True, exist_ok=True)
        os.symlink(r.path, d/os.path.basename(r.path))
    cli('train', tmp_path/'items.csv', '--out', tmp_path/'run', '--arch', 'resnet10t', '--no-pretrained',
        '--epochs', '1', '--size', '64', '--bs', '32')
    cli('evaluate', tmp_path/'run', tmp_path/'test', '--out', tmp_path/'eval', '--n-boot', '200')
    for f in EVAL_FILES: assert (tmp_path/'eval'/f).is_file(), f
    m = json.loads((tmp_path/'eval'/'metrics.json').read_text())
    assert KEYS <= set(m) and m['n'] == 75
    assert json.loads((tmp_path/'run'/'model'/'config.json').read_text())['temperature'] > 0
    # learning beats chance: one epoch of resnet10t at 64 px from scratch gave macro-F1 0.627 (majority class: 0.22)
    assert json.loads((tmp_path/'run'/'valid_metrics.json').read_text())['f1_macro'] > 0.45
    # int8 prediction of a trained model: nearly always the same class as fp32 (the same recipe's model: 99.2% of 600
    # validation images, bench/predict_cpu.md; 92.5% with PyTorch's 8-bit default, which saturates without VNNI)
    from covidxray.predict import predict
    from covidxray.deploy import predict_int8
    files = sorted(str(f) for f in (tmp_path/'test').rglob('*.*'))
    p32, p8 = predict(tmp_path/'run'/'model', files, precision='fp32'), predict_int8(tmp_path/'run'/'model', files)
    assert (p32.argmax(1) == p8.argmax(1)).mean() >= 0.94

def test_demo_relative_out(tmp_path):
    "`covidxray demo --out demo` (a relative folder, as `make demo` runs it) leaves model, metrics, plots and the grid."
    r = subprocess.run([sys.executable, '-m', 'covidxray.cli', 'demo', '--out', 'demo', '--n-per-class', '30', '--epochs', '1'],
                       capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    d = tmp_path/'demo'
    for f in ['run/model/config.json', 'run/model/model.safetensors', 'eval/metrics.json', 'eval/confusion.png',
              'eval/roc.png', 'gradcam/grid.png']:
        assert (d/f).is_file(), f
    assert str(d.resolve()/'gradcam'/'grid.png') in r.stdout           # it says where each artifact is
