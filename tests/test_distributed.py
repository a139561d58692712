"""Data-parallel training through fastai + Accelerate, on the CPU: two processes (gloo) on loopback.

`accelerate launch --multi_gpu --num_processes 2` starts them (on a machine without GPUs Accelerate falls back to
MULTI_CPU with gloo; `accelerate launch --cpu --num_processes 2` would start one process, its multi-CPU mode needs MPI).
Slow (two processes each importing torch and fastai on 2 cores): runs with COVIDXRAY_SLOW=1."""
import json, os, socket, subprocess, sys, shutil
from pathlib import Path
import pandas as pd
import pytest

from covidxray.synthetic import make_synthetic
from covidxray.data import index_sources

pytestmark = [pytest.mark.train, pytest.mark.skipif(not os.environ.get('COVIDXRAY_SLOW'), reason='slow: set COVIDXRAY_SLOW=1')]

def free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

ARGS = ('--arch', 'resnet10t', '--no-pretrained', '--epochs', '1', '--size', '64', '--bs', '8', '--workers', '0', '--precision', 'fp32')

def test_two_processes_same_artifacts(tmp_path):
    items = index_sources(make_synthetic(tmp_path/'src', n_per_class=12, size=80), n_folds=3, n_workers=0).items
    items.to_csv(tmp_path/'items.csv', index=False)
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'NO_ALBUMENTATIONS_UPDATE': '1', 'OMP_NUM_THREADS': '1',
           'MASTER_ADDR': '127.0.0.1', 'PYTHONWARNINGS': 'ignore'}
    accelerate = shutil.which('accelerate', path=str(Path(sys.executable).parent)) or 'accelerate'
    r = subprocess.run([accelerate, 'launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1',
                        '--mixed_precision', 'no', '--dynamo_backend', 'no', '--main_process_ip', '127.0.0.1',
                        '--main_process_port', str(free_port()), '-m', 'covidxray.cli', 'train', str(tmp_path/'items.csv'),
                        '--out', str(tmp_path/'ddp'), *ARGS], capture_output=True, text=True, timeout=900, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    assert r.stdout.count('macro-F1') == 1          # only rank 0 reports and writes
    r1 = subprocess.run([sys.executable, '-m', 'covidxray.cli', 'train', str(tmp_path/'items.csv'), '--out', str(tmp_path/'one'), *ARGS],
                        capture_output=True, text=True, timeout=900, env=env)
    assert r1.returncode == 0, r1.stderr[-3000:]
    files = lambda p: sorted(str(f.relative_to(p)) for f in p.rglob('*') if f.is_file())
    assert files(tmp_path/'ddp') == files(tmp_path/'one')
    c2, c1 = (json.loads((tmp_path/n/'model'/'config.json').read_text()) for n in ('ddp', 'one'))
    assert c2.keys() == c1.keys() and c2['arch'] == c1['arch'] and c2['training']['n_valid'] == c1['training']['n_valid']
    m2 = json.loads((tmp_path/'ddp'/'valid_metrics.json').read_text())
    assert m2['n_valid'] == (items.fold == 0).sum()   # every validation image counted once
    h = pd.read_csv(tmp_path/'ddp'/'history.csv')
    assert len(h) == 1 and h.epoch.tolist() == [0]
    assert sorted(pd.read_csv(tmp_path/'ddp'/'valid_preds.csv').path) == sorted(items.path[items.fold == 0])   # each once
