"""The issue's acceptance command on the real development set (../shared/data/cxr256); skipped where it is absent.
`covidxray train ../shared/data/cxr256 --arch resnet10t --no-pretrained --epochs 2 --size 128` indexes the 3437 images
and trains two epochs on the CPU: 10m47s measured on 2 shared cores, so it runs with COVIDXRAY_SLOW=1."""
import json, os, subprocess, sys
import pandas as pd
import pytest

@pytest.mark.train
@pytest.mark.skipif(not os.environ.get('COVIDXRAY_SLOW'), reason='slow: set COVIDXRAY_SLOW=1')
def test_train_dev_set(dev_data, tmp_path):
    run = tmp_path/'run'
    r = subprocess.run([sys.executable, '-m', 'covidxray.cli', 'train', str(dev_data), '--out', str(run), '--arch', 'resnet10t',
                        '--no-pretrained', '--epochs', '2', '--size', '128'], capture_output=True, text=True, timeout=3600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(p.name for p in (run/'model').iterdir()) == ['config.json', 'input_check.safetensors', 'model.safetensors']
    m = json.loads((run/'valid_metrics.json').read_text())
    assert m['n_valid'] > 500 and m['f1_macro'] > 0.5   # measured 0.72; always predicting the majority class gives 0.22
    assert len(pd.read_csv(run/'history.csv')) == 2
