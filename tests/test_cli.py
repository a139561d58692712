"Script tests: the `covidxray` command line, run as a user runs it (a subprocess)."
import os, subprocess, sys
from pathlib import Path
import pandas as pd
import pytest

from covidxray.synthetic import make_synthetic

def cli(*args, check=True, cwd=None):
    r = subprocess.run([sys.executable, '-m', 'covidxray.cli', *map(str, args)], capture_output=True, text=True, timeout=600, cwd=cwd)
    if check: assert r.returncode == 0, r.stderr
    return r

def test_help_lists_subcommands():
    r = cli('--help')
    for sub in ('index', 'train', 'evaluate', 'audit'): assert sub in r.stdout
    assert 'usage: covidxray index' in cli('index', '--help').stdout

def test_console_script_installed():
    import shutil
    from pathlib import Path
    exe = shutil.which('covidxray', path=str(Path(sys.executable).parent)) or shutil.which('covidxray')
    assert exe, 'the covidxray console script is not installed (pip install -e .)'
    assert subprocess.run([exe, '--version'], capture_output=True, text=True).stdout.startswith('covidxray ')

@pytest.mark.parametrize('layout', ['folders', 'radiography', 'table', 'ieee8023', 'kermany'])
def test_index_every_layout(tmp_path, layout):
    src = make_synthetic(tmp_path/'src', n_per_class=10, layout=layout, size=96, seed=7)
    r = cli('index', src, '--out', tmp_path/'items.csv', '--folds', '3', '--workers', '0')
    t = pd.read_csv(tmp_path/'items.csv')
    assert {'path', 'label', 'source', 'patient_id', 'fold', 'phash'} <= set(t.columns)
    assert t.groupby('patient_id').fold.nunique().max() == 1
    dropped = pd.read_csv(tmp_path/'items.dropped.csv')
    n_classes = {'kermany': 2, 'ieee8023': 2}.get(layout, 3)   # Kermany has no Covid; ieee8023 Normal is 'No Finding'
    assert len(t) == 10 * n_classes
    assert (dropped.reason.str.contains('No Finding').all() if layout == 'ieee8023' else len(dropped) == 0)
    assert 'wrote' in r.stdout

def test_index_errors_are_one_line(tmp_path):
    r = cli('index', tmp_path/'nowhere', '--out', tmp_path/'x.csv', check=False)
    assert r.returncode == 2 and 'does not exist' in r.stderr and 'Traceback' not in r.stderr
    (tmp_path/'junk').mkdir(); (tmp_path/'junk'/'a.txt').write_text('x')
    r = cli('index', tmp_path/'junk', '--out', tmp_path/'x.csv', check=False)
    assert r.returncode == 2 and 'no chest X-ray layout found' in r.stderr

def test_index_relative_paths_stay_valid(tmp_path):
    "A table indexed from a relative path is usable from any folder."
    make_synthetic(tmp_path/'src', n_per_class=4, size=96, seed=8)
    cli('index', 'src', '--out', 'out/items.csv', '--folds', '2', '--workers', '0', cwd=tmp_path)
    from covidxray.data import read_table
    t = read_table(tmp_path/'out'/'items.csv')
    assert len(t) == 12 and (t.reason == '').all()

# --- issue 13: non-UTF-8 names, atomic outputs, streaming predict, fast argument checks ---

def _model(tmp_path):
    "An untrained resnet10t at 64 px saved as a model folder: prediction without training."
    from covidxray.model import build_model, save_model
    m = build_model('resnet10t', pretrained=False); m.config['size'] = 64
    return save_model(m, tmp_path/'run'/'model').parent

def _bad_name_folder(tmp_path):
    "Synthetic class folders with one file renamed to a name that is not UTF-8 (as Linux allows)."
    import os
    src = make_synthetic(tmp_path/'src', n_per_class=6, size=80, seed=5)
    f = sorted((src/'Covid').iterdir())[0]
    os.rename(f, os.fsencode(str(src/'Covid')) + b'/bad\xff.png')
    return src, os.fsdecode(os.fsencode(str(src/'Covid')) + b'/bad\xff.png')

def test_non_utf8_file_name_indexes_and_predicts(tmp_path):
    from covidxray.core import load_csv
    src, bad = _bad_name_folder(tmp_path)
    (tmp_path/'items.csv').write_text('an earlier, good table\n')
    r = cli('index', src, '--out', tmp_path/'items.csv', '--folds', '2', '--workers', '0')
    t = load_csv(tmp_path/'items.csv')
    assert len(t) == 18 and bad in set(t.path) and 'Traceback' not in r.stderr
    run = _model(tmp_path)
    r = cli('predict', run, src, '--out', tmp_path/'preds.csv')
    p = load_csv(tmp_path/'preds.csv', keep_default_na=False)
    assert len(p) == 18 and p.set_index('path').loc[bad, 'pred'] in ('Covid', 'Normal', 'Pneumonia')
    assert 'wrote' in r.stdout
    r = cli('predict', run, tmp_path/'items.csv', '--out', tmp_path/'preds2.csv')       # the table covidxray wrote, read back
    assert load_csv(tmp_path/'preds2.csv').path.tolist() == t.path.tolist()
    (src/'Covid'/'broken.png').write_bytes(b'not a png')                                  # printed with the name escaped
    os_bad = bad.replace('bad', 'worse')
    import os; os.rename(src/'Covid'/'broken.png', os.fsencode(os_bad))
    r = cli('predict', run, src, '--out', tmp_path/'preds3.csv')
    assert 'worse\\xff.png' in r.stdout and '1 unreadable skipped' in r.stdout, r.stdout[-2000:]
    e = load_csv(tmp_path/'preds3.csv', keep_default_na=False).set_index('path').loc[os_bad, 'error']
    assert 'cannot be read as an image' in e

def test_failed_run_leaves_the_old_output(tmp_path, monkeypatch):
    "A run that fails while writing its table leaves an existing --out byte for byte (old code: truncated it)."
    from covidxray.cli import main
    src = make_synthetic(tmp_path/'src', n_per_class=4, size=80, seed=6)
    run = _model(tmp_path)
    assert main(['predict', str(run), str(src), '--out', str(tmp_path/'preds.csv'), '--bs', '4']) == 0
    assert main(['index', str(src), '--out', str(tmp_path/'items.csv'), '--folds', '2', '--workers', '0']) == 0
    old = {f: (tmp_path/f).read_bytes() for f in ('preds.csv', 'items.csv', 'items.dropped.csv')}
    real = pd.DataFrame.to_csv
    def disk_full(self, path_or_buf=None, *a, **k):
        if path_or_buf is not None and len(self) > 1:         # some rows written, then the disk is full
            real(self.head(1), path_or_buf, *a, **k); raise OSError(28, 'No space left on device')
        return real(self, path_or_buf, *a, **k)
    monkeypatch.setattr(pd.DataFrame, 'to_csv', disk_full)
    assert main(['index', str(src), '--out', str(tmp_path/'items.csv'), '--folds', '2', '--workers', '0']) == 1
    monkeypatch.setattr(pd.DataFrame, 'to_csv', lambda self, path_or_buf=None, *a, **k:
                        real(self, path_or_buf, *a, **k) if len(self) < 8 else (_ for _ in ()).throw(OSError(28, 'No space left on device')))
    assert main(['predict', str(run), str(src), '--out', str(tmp_path/'preds.csv'), '--bs', '8']) == 1
    assert {f: (tmp_path/f).read_bytes() for f in old} == old
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith('.')) == []    # no temporary file left

@pytest.mark.parametrize('sig', ['SIGINT', 'SIGTERM'])
def test_predict_ctrl_c_keeps_the_finished_rows(tmp_path, sig):
    "SIGINT or SIGTERM during `covidxray predict` over a few hundred images: the finished rows as a valid CSV beside the previous table (kept), one line, exit 128 + the signal."
    import os, signal, time
    src = make_synthetic(tmp_path/'src', n_per_class=100, size=64, seed=7)
    run = _model(tmp_path)
    out = tmp_path/'preds.csv'
    out.write_text('path,pred\nold.png,Covid\n'); before = out.read_bytes()          # a previous complete table
    default_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)          # as in a terminal, however pytest was started (nohup, &)
    p = subprocess.Popen([sys.executable, '-m', 'covidxray.cli', 'predict', str(run), str(src), '--out', str(out), '--bs', '4'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, 'OMP_NUM_THREADS': '1'},
                         preexec_fn=default_sigint)
    t0 = time.time()
    while time.time() - t0 < 300:                      # until the temporary table holds some rows
        tmp = list(tmp_path.glob('.preds.partial.tmp-*.csv'))
        if tmp and tmp[0].exists() and tmp[0].read_bytes().count(b'\n') >= 9: break
        assert p.poll() is None, p.communicate()
        time.sleep(0.2)
    p.send_signal(getattr(signal, sig))
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == 128 + getattr(signal, sig), stderr[-2000:]
    assert 'Traceback' not in stderr and 'stopped after' in stdout and 'previous complete table' in stdout, (stdout[-1000:], stderr[-2000:])
    assert out.read_bytes() == before                  # part of a table never replaces a whole one
    t = pd.read_csv(tmp_path/'preds.partial.csv', keep_default_na=False)
    assert 8 <= len(t) < 300 and list(t.columns) == ['path', 'pred', 'p_Covid', 'p_Normal', 'p_Pneumonia', 'error']
    assert t.pred.isin(['Covid', 'Normal', 'Pneumonia']).all() and f'stopped after {len(t)} of 300 images' in stdout
    assert not list(tmp_path.glob('.*tmp-*'))           # no temporary file left

def test_missing_path_fails_before_torch(tmp_path):
    "`covidxray predict MODEL /no/such/path`: exit 2 and one line, decided before torch is imported."
    (tmp_path/'run'/'model').mkdir(parents=True); (tmp_path/'run'/'model'/'config.json').write_text('{}')
    code = ("import sys, time; t = time.time(); from covidxray.cli import main; rc = main(sys.argv[1:]); "
            "print('torch' in sys.modules, time.time() - t); sys.exit(rc)")
    r = subprocess.run([sys.executable, '-c', code, 'predict', str(tmp_path/'run'), '/no/such/path'], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr == 'covidxray predict: error: /no/such/path does not exist: check the path.\n', r.stderr
    imported, seconds = r.stdout.split()
    assert imported == 'False'                          # torch (seconds to import) was never loaded
    assert float(seconds) < 1.5, seconds                # the bound: well under a second on an idle machine

# --- issue 12: DICOM input, small folders ---

def _mixed_folder(tmp_path):
    "Synthetic class folders of PNGs, plus one film again as two DICOMs (MONOCHROME1 12-bit RLE, 16-bit JPEG 2000), as a JPEG, and a broken DICOM."
    import numpy as np
    from PIL import Image
    from covidxray.synthetic import write_dicom
    src = make_synthetic(tmp_path/'src', n_per_class=2, size=80, seed=9)
    png = sorted((src/'Covid').glob('*.png'))[0]
    film = np.asarray(Image.open(png))
    # the header's window shows 0..255 as the PNG does (without one, a reader stretches the film's own min..max: 0..248 here)
    write_dicom(film, src/'Covid'/'film_mono1.dcm', photometric='MONOCHROME1', bits=12, compress='rle', window=(0, 255), patient_id='P1')
    write_dicom(film, src/'Covid'/'film_j2k.dcm', compress='jpeg2000', window=(0, 255), patient_id='P1')
    Image.fromarray(film).save(src/'Covid'/'film.jpg', quality=95)
    (src/'Normal'/'broken.dcm').write_bytes(b'\0' * 128 + b'DICM' + b'\1' * 64)
    return src, png

def test_predict_mixed_dicom_png_jpeg(tmp_path):
    "`covidxray predict` on a folder of DICOM, PNG and JPEG: a DICOM film is predicted exactly as its PNG; a broken one is named."
    from covidxray.core import load_csv
    src, png = _mixed_folder(tmp_path)
    r = cli('predict', _model(tmp_path), src, '--out', tmp_path/'preds.csv')
    p = load_csv(tmp_path/'preds.csv', keep_default_na=False).set_index('path')
    assert len(p) == 10 and '1 unreadable skipped' in r.stdout, r.stdout[-2000:]
    probs = p[['p_Covid', 'p_Normal', 'p_Pneumonia']].apply(pd.to_numeric, errors='coerce')
    for dcm in ('film_mono1.dcm', 'film_j2k.dcm'):
        assert p.loc[str(src/'Covid'/dcm), 'pred'] in ('Covid', 'Normal', 'Pneumonia')
        assert (probs.loc[str(src/'Covid'/dcm)] - probs.loc[str(png)]).abs().max() < 1e-6     # the same pixels as the PNG
    assert probs.drop(index=str(src/'Normal'/'broken.dcm')).round(6).drop_duplicates().shape[0] > 2   # and the model does look
    assert p.loc[str(src/'Covid'/'film.jpg'), 'pred'] in ('Covid', 'Normal', 'Pneumonia')
    e = p.loc[str(src/'Normal'/'broken.dcm')]
    assert e.pred == '' and 'broken.dcm' in e.error and 'DICOM' in e.error

def test_index_small_folder_and_dicom(tmp_path):
    "4 images per class with the default --folds 5: indexed without folds, said why; DICOM patients from the header; train refuses."
    src, png = _mixed_folder(tmp_path)
    for f in (png, src/'Covid'/'film.jpg', src/'Covid'/'film_j2k.dcm'): f.unlink()   # the film once, as a DICOM
    more = make_synthetic(tmp_path/'more', n_per_class=2, size=80, seed=10)
    for c in ('Covid', 'Normal', 'Pneumonia'):
        for f in (more/c).glob('*.png'): f.rename(src/c/f'more_{f.name}')
    r = cli('index', src, '--out', tmp_path/'items.csv', '--workers', '0')
    t = pd.read_csv(tmp_path/'items.csv')
    assert len(t) == 12 and t.label.value_counts().tolist() == [4, 4, 4] and 'fold' not in t.columns
    assert "folds: none assigned, because class" in r.stdout and "has 4 images, fewer than the 5 folds" in r.stdout, r.stdout
    assert t.set_index('path').loc[str(src/'Covid'/'film_mono1.dcm'), 'patient_id'] == 'src:P1'
    d = pd.read_csv(tmp_path/'items.dropped.csv')
    assert d.path.tolist() == [str(src/'Normal'/'broken.dcm')] and 'DICOM' in d.reason[0]
    r = cli('train', tmp_path/'items.csv', '--out', tmp_path/'run', check=False)
    assert r.returncode == 2 and 'has no folds' in r.stderr and 'Traceback' not in r.stderr, r.stderr[-2000:]
    assert 'fewer than the 5 folds' in r.stdout                          # the reason, printed as the table is re-indexed
    cli('index', src, '--out', tmp_path/'items4.csv', '--folds', '4', '--workers', '0')
    assert sorted(pd.read_csv(tmp_path/'items4.csv').fold.unique()) == [0, 1, 2, 3]

def test_export_onnx_and_predict_with_onnx_runtime(tmp_path):
    "`export --onnx` then `predict --engine onnx`: PyTorch's rows; a corrupt model.onnx is one line, exit status 2."
    import torch
    from covidxray.model import build_model, save_model
    src = make_synthetic(tmp_path/'src', n_per_class=3, size=96, seed=3)
    torch.manual_seed(0)
    m = build_model('resnet10t', pretrained=False).eval(); m.config['size'] = 64
    save_model(m, tmp_path/'run'/'model')
    r = cli('export', tmp_path/'run', '--onnx', '--out', tmp_path/'onnx', '--calib', src, '--no-dynamo')
    assert 'largest probability difference' in r.stdout and (tmp_path/'onnx'/'model'/'model.onnx').is_file()
    cli('predict', tmp_path/'run', src, '--out', tmp_path/'pt.csv', '--precision', 'fp32')
    cli('predict', tmp_path/'onnx', src, '--out', tmp_path/'ox.csv', '--engine', 'onnx')
    pt, ox = pd.read_csv(tmp_path/'pt.csv'), pd.read_csv(tmp_path/'ox.csv')
    assert ox.pred.tolist() == pt.pred.tolist() and len(ox) == 9
    p = [c for c in pt if c.startswith('p_')]
    assert (ox[p] - pt[p]).abs().to_numpy().max() < 1e-5
    (tmp_path/'onnx'/'model'/'model.onnx').write_bytes(b'\x00garbage')
    r = cli('predict', tmp_path/'onnx', src, '--out', tmp_path/'bad.csv', '--engine', 'onnx', check=False)
    assert r.returncode == 2 and 'is not an ONNX model' in r.stderr and 'Traceback' not in r.stderr, r.stderr
    r = cli('predict', tmp_path/'onnx', src, '--out', tmp_path/'bad.csv', '--engine', 'onnx-int8', check=False)
    assert r.returncode == 2 and '--int8 --calib' in r.stderr, r.stderr

def test_predict_a_table_of_paths(tmp_path, capsys):
    "A CSV with a `path` column and no label column is a table of films, not an image."
    from covidxray.cli import main
    src = make_synthetic(tmp_path/'src', n_per_class=1, size=80, seed=3)
    run, imgs = str(_model(tmp_path)), [str(p) for p in sorted(Path(src).rglob('*.png')) if '.lungs' not in p.parts]
    pd.DataFrame({'path': imgs}).to_csv(tmp_path/'paths.csv', index=False)
    assert main(['predict', run, str(tmp_path/'paths.csv'), '--out', str(tmp_path/'p.csv')]) == 0
    p = pd.read_csv(tmp_path/'p.csv', keep_default_na=False)
    assert p.path.tolist() == imgs and (p.error == '').all() and (p.pred != '').all()   # refusals: test_hostile.py

def test_folder_scan_accounts_for_every_entry(tmp_path, capsys):
    "A PACS export's extensionless DICOM is indexed and predicted; a broken link, a FIFO, a folder named x.png are each in items.dropped.csv."
    import numpy as np
    from covidxray.cli import main
    from covidxray.synthetic import write_dicom, synth_xray
    src = make_synthetic(tmp_path/'src', n_per_class=3, size=80, seed=4)
    write_dicom(synth_xray('Covid', np.random.default_rng(9), size=80)[0], src/'Covid'/'IM0001.dcm').rename(src/'Covid'/'IM0001')
    (src/'Normal'/'gone.png').symlink_to(src/'Normal'/'nowhere.png'); os.mkfifo(src/'Normal'/'pipe.png'); (src/'Normal'/'dir.png').mkdir()
    assert main(['index', str(src), '--out', str(tmp_path/'t.csv'), '--folds', '2', '--workers', '0']) == 0
    t, dropped = pd.read_csv(tmp_path/'t.csv'), pd.read_csv(tmp_path/'t.dropped.csv')
    assert str(src/'Covid'/'IM0001') in set(t.path)
    why = dict(zip(dropped.path.map(lambda p: Path(p).name), dropped.reason, strict=True))
    assert {'gone.png', 'pipe.png', 'dir.png'} <= set(why) and 'FIFO' in why['pipe.png'] and 'broken' in why['gone.png'], why
    assert main(['predict', str(_model(tmp_path)), str(src/'Covid'), '--out', str(tmp_path/'p.csv')]) == 0
    p = pd.read_csv(tmp_path/'p.csv', keep_default_na=False)
    assert p.pred[p.path == str(src/'Covid'/'IM0001')].item() != ''

def test_predict_refuses_pixel_bombs(tmp_path):
    "A 900-byte RLE DICOM declaring 30000x30000 and an 8000x8000 PNG: error rows naming the limit, quickly, the other films predicted."
    import numpy as np, pydicom
    from PIL import Image
    from covidxray.synthetic import write_dicom, synth_xray
    d = tmp_path/'films'; d.mkdir()
    film = synth_xray('Covid', np.random.default_rng(1), size=96)[0]
    Image.fromarray(film).save(d/'ok.png')
    ds = pydicom.dcmread(write_dicom(film, d/'bomb.dcm', compress='rle')); ds.Rows = ds.Columns = 30000; ds.save_as(d/'bomb.dcm')
    Image.new('L', (8000, 8000)).save(d/'big.png')
    cli('predict', _model(tmp_path), d, '--out', tmp_path/'p.csv')
    p = pd.read_csv(tmp_path/'p.csv', keep_default_na=False).set_index(pd.read_csv(tmp_path/'p.csv').path.map(lambda s: Path(s).name))
    assert p.loc['ok.png', 'pred'] != '' and p.loc['bomb.dcm', 'pred'] == '' and p.loc['big.png', 'pred'] == ''
    assert 'MAX_PIXELS' in p.loc['bomb.dcm', 'error'] and 'MAX_PIXELS' in p.loc['big.png', 'error'], p.error.tolist()

def test_openvino_converts_then_predicts(tmp_path):
    "`covidxray openvino RUN` caches the conversion beside the model; `predict --engine openvino` runs it and gives PyTorch's fp32 classes; int8 without the table is one line."
    run = _model(tmp_path)
    src = make_synthetic(tmp_path/'src', n_per_class=3, size=64, seed=1)
    r = cli('openvino', run)
    assert 'OpenVINO conversion' in r.stdout and (run/'model'/'openvino'/'model.xml').is_file()
    cli('predict', run, src, '--out', tmp_path/'ov.csv', '--engine', 'openvino')
    cli('predict', run, src, '--out', tmp_path/'pt.csv', '--engine', 'torch', '--precision', 'fp32')
    ov, pt = (pd.read_csv(tmp_path/f, keep_default_na=False) for f in ('ov.csv', 'pt.csv'))
    assert list(ov.pred) == list(pt.pred) and (ov.p_Covid - pt.p_Covid).abs().max() < 1e-5
    r = cli('openvino', run, '--int8', check=False)
    assert r.returncode != 0 and 'training table' in r.stderr and 'Traceback' not in r.stderr
