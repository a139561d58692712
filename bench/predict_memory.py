"""Benchmark: peak memory of `covidxray predict` over 200 and over 2,000 synthetic images (the streaming writer holds
one batch, so the peak should not grow with the number of images), with an untrained resnet10t at 64 px.

    HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1 OMP_NUM_THREADS=1 .venv/bin/python bench/predict_memory.py [--sizes 200 2000] [--bs 8]

Runs each as its own process under `/usr/bin/time -v` and reads "Maximum resident set size"; prints a markdown
table. Results and the command are kept in bench/predict_memory.md.
"""
import argparse, os, re, shutil, subprocess, sys, tempfile, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')

from covidxray.synthetic import make_synthetic
from covidxray.model import build_model, save_model

def cpu_line()->str:
    "The CPU's model name and the flags that matter for speed, from /proc/cpuinfo."
    from covidxray.core import device_info
    i = device_info('cpu'); return f"{i['name']}, {os.cpu_count()} cores, flags {' '.join(i['flags'])}"

def peak_rss(cmd:list)->tuple[float, float, int]:
    "(peak resident MiB, wall seconds, exit status) of `cmd` under /usr/bin/time -v."
    t = time.time()
    r = subprocess.run(['/usr/bin/time', '-v', *cmd], capture_output=True, text=True)
    if r.returncode: print(r.stderr[-3000:], file=sys.stderr)
    kb = int(re.search(r'Maximum resident set size \(kbytes\): (\d+)', r.stderr).group(1))
    return kb / 1024, time.time() - t, r.returncode

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--sizes', type=int, nargs='+', default=[200, 2000])
    ap.add_argument('--bs', type=int, default=8)
    a = ap.parse_args()
    d = Path(tempfile.mkdtemp())
    m = build_model('resnet10t', pretrained=False); m.config['size'] = 64
    run = save_model(m, d/'run'/'model').parent
    src = make_synthetic(d/'src', n_per_class=-(-max(a.sizes) // 3), size=96, seed=0)
    files = sorted(p for p in src.rglob('*.png') if not any(q.startswith('.') for q in p.relative_to(src).parts))   # films, not .lungs/.lesions masks
    rows = []
    for n in a.sizes:
        folder = d/f'n{n}'; folder.mkdir()
        for f in files[:n]: os.link(f, folder/f'{f.parent.name}_{f.name}')
        mib, s, rc = peak_rss([sys.executable, '-m', 'covidxray.cli', 'predict', str(run), str(folder), '--out', str(d/f'p{n}.csv'),
                               '--bs', str(a.bs), '--precision', 'fp32'])
        assert rc == 0, f'predict over {n} images failed'
        rows.append((n, mib, s))
    print(f"CPU: {cpu_line()}; torch threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}\n")
    print('| images | peak RSS (MiB) | vs first | wall s |\n|---:|---:|---:|---:|')
    for n, mib, s in rows: print(f'| {n:,} | {mib:.0f} | {mib / rows[0][1]:.3f}x | {s:.0f} |')
    shutil.rmtree(d, ignore_errors=True)

if __name__ == '__main__': main()
