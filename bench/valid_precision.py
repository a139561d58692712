"""Benchmark: the validation report in fp32 against bf16 on a trained run (time, identical predictions), as `train._finish`
now computes it (fp32 figures, plus a bf16 pass for `bf16_agreement` on CPUs with native bfloat16).

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=2 .venv/bin/python bench/valid_precision.py RUN [BS]

Results and the command are kept in bench/train_cpu.md (section: validation report in fp32).
"""
import time, json, sys, warnings
warnings.filterwarnings('ignore')
import numpy as np, pandas as pd
from covidxray.model import load_model
from covidxray.predict import predict
run = sys.argv[1]
m = load_model(f'{run}/model'); vp = pd.read_csv(f'{run}/valid_preds.csv')
paths = vp.path.tolist(); bs = int(sys.argv[2]) if len(sys.argv) > 2 else 64
res = {}
for _rep in range(2):
    for prec in ('bf16', 'fp32'):
        t = time.time(); p = predict(m, paths, bs=bs, size=m.config['size'], precision=prec, temperature=1.0); res.setdefault(prec, []).append(time.time() - t)
        res[prec + '_p'] = p
agree = (res['bf16_p'].argmax(1) == res['fp32_p'].argmax(1)).mean()
print(json.dumps(dict(n=len(paths), bs=bs, bf16_s=res['bf16'], fp32_s=res['fp32'], agreement=float(agree),
                      max_abs_dp=float(np.abs(res['bf16_p'] - res['fp32_p']).max()),
                      stored=m.config.get('bf16_agreement'), valid_metrics=json.load(open(f'{run}/valid_metrics.json'))['f1_macro'])))
