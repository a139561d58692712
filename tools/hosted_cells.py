"""Every notebook opens ready for Kaggle and Colab: a badge cell under the title, then a hidden install cell.

    python tools/hosted_cells.py          # add or refresh the two cells in every notebook of nbs/
    python tools/hosted_cells.py --check  # exit 1 naming the notebooks whose cells are missing or stale

The badges open the notebook as it is on GitHub (settings.ini: git_url, branch, nbs_path). The install cell runs
`pip install covidxray` only where Kaggle's or Colab's kernel says it runs (the same test as
`covidxray.core.notebook_host`, written out because the cell runs before covidxray is installed), and does nothing
anywhere else, so the notebooks still run as tests (`nbdev_test`) and from a checkout. `tests/test_hosted.py` runs
the check and executes the install cell with and without a host's environment.
"""
import argparse, json, sys
from configparser import ConfigParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BADGE_MARK, INSTALL_MARK = 'colab-badge.svg', '# Kaggle and Colab: install covidxray'

INSTALL = '''#| hide
# Kaggle and Colab: install covidxray (does nothing anywhere else). On Kaggle, turn Internet on in the notebook's
# settings; on a GPU runtime the recipes pick the design's resnet200d in fp16 (`covidxray.train.recipe`).
import os, subprocess, sys
if os.environ.get('KAGGLE_KERNEL_RUN_TYPE') or os.environ.get('COLAB_RELEASE_TAG'):
    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', 'covidxray'], check=True)'''

def settings(root:Path=ROOT)->dict:
    cfg = ConfigParser(delimiters=['=']); cfg.read(root/'settings.ini', encoding='utf-8')
    return dict(cfg['DEFAULT'])

def badge(nb_rel:str, cfg:dict)->str:
    "The markdown of the two badges for the notebook at `nb_rel` (a path relative to the repository root)."
    repo = cfg['git_url'].rstrip('/').removesuffix('.git').split('github.com/')[1]
    src = f"https://github.com/{repo}/blob/{cfg.get('branch', 'main')}/{nb_rel}"
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{repo}/blob/{cfg.get('branch', 'main')}/{nb_rel}) "
            f"[![Open in Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)]"
            f"(https://kaggle.com/kernels/welcome?src={src})")

def _src(cell)->str: return ''.join(cell['source'])

def _cell(kind:str, text:str)->dict:
    c = dict(cell_type=kind, metadata={}, source=text.splitlines(keepends=True))
    if kind == 'code': c.update(execution_count=None, outputs=[])
    return c

def notebooks(root:Path=ROOT)->list[Path]:
    return sorted((root/settings(root).get('nbs_path', 'nbs')).glob('*.ipynb'))

def wanted(nb:Path, root:Path=ROOT)->list[dict]:
    "The two cells notebook `nb` should have right under its title."
    return [_cell('markdown', badge(nb.relative_to(root).as_posix(), settings(root))), _cell('code', INSTALL)]

def refresh(nb:Path, root:Path=ROOT, write:bool=True)->bool:
    "Put the badge and install cells right under the title of `nb`; True if anything changed."
    d = json.loads(nb.read_text(encoding='utf-8'))
    cells = d['cells']
    kept = [c for c in cells[1:] if not (BADGE_MARK in _src(c) or INSTALL_MARK in _src(c))]
    new = [cells[0]] + wanted(nb, root) + kept
    if [(c['cell_type'], _src(c)) for c in new] == [(c['cell_type'], _src(c)) for c in cells]: return False
    if write:
        d['cells'] = new
        nb.write_text(json.dumps(d, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
    return True

def main(argv=None)->int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--check', action='store_true', help='change nothing; exit 1 if a notebook needs refreshing')
    args = p.parse_args(argv)
    stale = [nb for nb in notebooks() if refresh(nb, write=not args.check)]
    for nb in stale: print(('stale: ' if args.check else 'refreshed: ') + str(nb.relative_to(ROOT)))
    if args.check and stale: print("run 'python tools/hosted_cells.py' then 'nbdev_clean'", file=sys.stderr)
    return 1 if args.check and stale else 0

if __name__ == '__main__': sys.exit(main())
