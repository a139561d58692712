"""Benchmark: the demo's recipe on its own synthetic data: external macro-F1, Grad-CAM on the lesions, and minutes.

    HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1 .venv/bin/python bench/demo_cpu.py \
        [--size 192] [--n-per-class 400] [--arch tf_efficientnet_lite0] [--freeze 2] [--epochs 3] [--lr 4e-3] \
        [--bn keep|train] [--layers body.blocks.5,body.blocks.4:layercam] [--keep DIR]

Runs the library's demo pipeline (`covidxray.demo.demo`, what `covidxray demo` calls) with the settings given (synthetic films drawn at `--size`, patient-grouped fold 0 for
validation, an external synthetic test set in another layout and seed), then scores Grad-CAM (or another CAM method, `LAYER:METHOD`) at each `--layers` on the
test films the model classifies right (`gradcam.cam_in_lesion`: the share of each map inside its lesion mask against
the lesion's share of the film, and against another film's lesion). The CPU's flags are printed first. Results and
their commands are kept in bench/demo_cpu.md.
"""
import argparse, os, tempfile, warnings
warnings.filterwarnings('ignore')
os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')

import numpy as np
from pathlib import Path
from covidxray.synthetic import synthetic_lesions
from covidxray.folders import MODEL
from covidxray.predict import predict
from covidxray.demo import demo
from covidxray.gradcam import load_inputs, load_mask, cam_maps, cam_in_lesion
from transfer_cpu import cpu_facts

def lesion_scores(model, test, layers):
    "cam_in_lesion of Grad-CAM at each layer, on the lesion films `model` classifies right."
    t = synthetic_lesions(test); t = t[t.label != 'Normal']
    classes = list(model.config['classes'])
    right = t[np.array(classes)[predict(model, t.path.tolist()).argmax(1)] == t.label.values]
    x = load_inputs(right.path.tolist(), model)[0]
    masks = np.stack([load_mask(k, model) for k in right['mask']])
    targets = [classes.index(c) for c in right.label]
    out = {}
    def scaled(c): lo, hi = c.min((1, 2), keepdims=True), c.max((1, 2), keepdims=True); return (c - lo) / np.maximum(hi - lo, 1e-7)
    for spec in layers:
        layer, method = (spec.split(':') + ['gradcam'])[:2]
        # LAYER+LAYER: the mean of the layers' maps (pytorch-grad-cam's own way with several target layers);
        # LAYER*LAYER: their product (a position must be lit in both), each rescaled to [0, 1]
        fuse, names = ('*', layer.split('*')) if '*' in layer else ('+', layer.split('+'))
        maps = [cam_maps(model, x, n, method=method, targets=targets) for n in names]
        cams = maps[0] if len(maps) == 1 else scaled(np.prod(maps, 0) if fuse == '*' else np.mean(maps, 0))
        r = cam_in_lesion(cams, masks); per = r.pop('per_image')
        r['by_class'] = {c: (float(per.share[right.label.values[per['index']] == c].mean()),
                             float(per.hit[right.label.values[per['index']] == c].mean())) for c in ('Covid', 'Pneumonia')}
        out[spec] = r
    return out

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--size', type=int, default=192); ap.add_argument('--n-per-class', type=int, default=400)
    ap.add_argument('--arch', default='tf_efficientnet_lite0'); ap.add_argument('--freeze', type=int, default=2)
    ap.add_argument('--epochs', type=int, default=3); ap.add_argument('--lr', type=float, default=4e-3)
    ap.add_argument('--bn', default='keep', choices=['keep', 'train']); ap.add_argument('--bs', type=int, default=32)
    ap.add_argument('--layers', default='body.blocks.5,body.blocks.6', help='layers to score, each LAYER or LAYER:METHOD (a `gradcam.CAM_METHODS` key; default gradcam); LAYER+LAYER fuses maps by their mean, LAYER*LAYER by their product'); ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--keep', default=None, help='a folder to keep the films and the trained model in (default: a temporary one)')
    ap.add_argument('--score', default=None, help='train nothing: score the CAMs of the model and test films a run with --keep DIR left in DIR')
    a = ap.parse_args()
    print(cpu_facts(), flush=True)
    from covidxray.model import load_model
    if a.score:   # the kept run's model on the kept external test set
        return print_cams(lesion_scores(load_model(Path(a.score)/'run'/MODEL), Path(a.score)/'data'/'test', a.layers.split(',')))
    with tempfile.TemporaryDirectory() as tmp:
        r = demo(a.keep or tmp, n_per_class=a.n_per_class, seed=a.seed, gradcam=False, n_boot=200, arch=a.arch,
                 pretrained=a.arch.startswith('tf_'), size=a.size, bs=a.bs, freeze_epochs=a.freeze, epochs=a.epochs, lr=a.lr,
                 aug='light', keep_bn_stats=a.bn == 'keep')
        cams = lesion_scores(load_model(r['model']), r['test'], a.layers.split(','))
        s, v, rep = r['seconds'], r['valid'], r['report']
        print(f"\n{vars(a)}\ndata {s['data']:.0f} s, training {s['train']:.0f} s; validation macro-F1 {v['f1_macro']:.3f}; "
              f"external macro-F1 {rep['f1_macro']:.3f} {rep['ci95']['f1_macro']}")
        print_cams(cams)

def print_cams(cams):
    "One line per scored layer: share, ratio, shuffled ratio, hit rate, per class."
    for layer, c in cams.items():
        print(f"  Grad-CAM {layer}: n={c['n']}, in-lesion share {c['share']:.3f} / area {c['area']:.3f} = {c['ratio']:.2f}x "
              f"(another film's lesion {c['shuffled_ratio']:.2f}x), peak in lesion {c['hit_rate']:.2f} (chance {c['hit_chance']:.2f}), pixel AUC {c['auc']:.3f}; "
              + ', '.join(f"{k} share {v[0]:.3f} hit {v[1]:.2f}" for k, v in c['by_class'].items()), flush=True)

if __name__ == '__main__': main()
