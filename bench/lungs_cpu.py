"""Benchmark: the lung segmenter on the dev set's real masks, and segmenting the whole dev set, on this CPU.

    HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1 .venv/bin/python bench/lungs_cpu.py [--data ../shared/data] [--out /tmp/lungs]

1. `train_segmenter` on the 328 real lung masks of `cxr256_lungs/` (ieee8023 adult COVID films), 20% of the patients
   held out: mean, 5th percentile and minimum Dice of the cleaned mask on the held-out films at 256 px, against the
   all-lung and central-box baselines; minutes of training.
2. `lung_table` over all 3,437 dev films (masks written, cached): minutes, and the share flagged per source.
3. An overlay grid, six films per source (bench/lungs_overlays.png), for the sources that have no masks to score.
The segmenter folder is left in OUT/seg (the ROI benchmark, bench/roi_cpu.py, reads it and OUT/lungs.csv).
"""
import argparse, os, sys, time, warnings, json
from pathlib import Path
warnings.filterwarnings('ignore')
os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
sys.path.insert(0, str(Path(__file__).parent))

import numpy as np, pandas as pd
from transfer_cpu import cpu_facts
from covidxray.lungs import mask_pairs, train_segmenter, load_segmenter, lung_table, plot_lungs

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default='../shared/data')
    ap.add_argument('--out', default='/tmp/lungs')
    ap.add_argument('--size', type=int, default=128)
    ap.add_argument('--epochs', type=int, default=25)
    ap.add_argument('--lr', type=float, default=2e-3)
    ap.add_argument('--encoder', default='tf_efficientnet_lite0')
    ap.add_argument('--skip-train', action='store_true', help='reuse OUT/seg')
    a = ap.parse_args()
    data, out = Path(a.data), Path(a.out); out.mkdir(parents=True, exist_ok=True)
    print(cpu_facts(), flush=True)
    meta = pd.read_csv(data/'cxr256'/'metadata.csv').set_index('file')
    if not a.skip_train:
        pairs = mask_pairs(data/'cxr256_lungs'/'masks.csv', images=data/'cxr256', masks=data/'cxr256_lungs')
        pairs['group'] = meta.loc[pd.read_csv(data/'cxr256_lungs'/'masks.csv').image, 'patient_id'].values   # same order
        t0 = time.time()
        m = train_segmenter(pairs, out/'seg', encoder=a.encoder, size=a.size, epochs=a.epochs, lr=a.lr, progress=False)
        m['minutes'] = (time.time() - t0) / 60
        print(json.dumps(m, indent=1), flush=True)
        print(f"| segmenter {a.encoder} U-Net, {a.size} px, {a.epochs} epochs, lr {a.lr} | {m['n_train']} / {m['n_valid']} | "
              f"{m['minutes']:.1f} | **{m['dice_mean']:.3f}** | **{m['dice_p5']:.3f}** | {m['dice_min']:.3f} | "
              f"{m['dice_all_lung']:.3f} | {m['dice_central_box']:.3f} | {m['flagged']} |", flush=True)
    seg = load_segmenter(out/'seg')
    films = meta.reset_index()
    paths = [str(data/'cxr256'/f) for f in films.file]
    (out/'lungs.csv').unlink(missing_ok=True)
    t0 = time.time()
    t = lung_table(seg, paths, cache=out/'lungs.csv', masks_dir=out/'masks')
    mins = (time.time() - t0) / 60
    t['source'] = films.source.values
    flag = t.groupby('source').lung_ok.agg(lambda s: 1 - s.mean())
    print(f"segmented {len(t)} films in {mins:.2f} min ({mins * 60 / len(t) * 1000:.0f} ms a film); flagged {(~t.lung_ok).mean():.1%}")
    print('| source | films | flagged | reasons |\n|---|---:|---:|---|')
    for s, g in t.groupby('source'):
        print(f"| {s} | {len(g)} | {flag[s]:.1%} | {g.lung_check[g.lung_check != ''].value_counts().to_dict()} |")
    fig = plot_lungs(t, by='source', n=6, seed=1)
    fig.savefig(Path(__file__).parent/'lungs_overlays.png', dpi=80)
    bad = t[~t.lung_ok]
    if len(bad):                                   # every flagged film, to see what the check caught
        fig = plot_lungs(bad.assign(row=np.arange(len(bad)) // 6), by='row', n=6)
        fig.savefig(Path(__file__).parent/'lungs_flagged.png', dpi=80)
    print('wrote', out/'lungs.csv', 'bench/lungs_overlays.png and bench/lungs_flagged.png')

if __name__ == '__main__': main()
