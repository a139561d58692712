"""The docs site without Quarto, and README.md from `index.ipynb`.

`python tools/build_docs.py [--out _docs]` renders every notebook that nbdev finds in `nbs/` (no list to keep) to one
HTML page: nbdev's own processors prepare it as for Quarto (frontmatter, `show_doc` for every exported name, links
between notebooks), the `show_doc` cells are run against the installed module (not the notebook's cells, so the build
takes seconds and trains nothing), and nbconvert writes the HTML. `index.ipynb` is the landing page. Images that a
notebook's markdown names (`../results/study/gradcam_grid.png`) are copied beside the pages. Links to the published
site (`doc_host`/`doc_baseurl`) become relative, so every link between pages can be checked offline
(`tests/test_docs.py` opens the pages in headless Chromium).

`python tools/build_docs.py --readme [--check]` writes README.md from `index.ipynb` (what `nbdev_readme` does, without
Quarto): markdown cells as they are, code cells as python blocks, image paths relative to the repository root.
`--check` only says whether README.md is what index.ipynb gives. The GitHub workflow (.github/workflows/deploy.yaml)
still builds the real Quarto site with `nbdev_docs`.
"""
import argparse, html, os, re, shutil, sys, warnings
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
os.environ.setdefault('MPLBACKEND', 'Agg')

REPO = Path(__file__).resolve().parents[1]

CSS = """
body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#212529;display:flex}
nav.sidebar{position:sticky;top:0;height:100vh;overflow:auto;min-width:14rem;max-width:14rem;padding:1rem;
  background:#f8f9fa;border-right:1px solid #dee2e6;box-sizing:border-box;font-size:.92rem}
nav.sidebar a{display:block;padding:.15rem 0;color:#0d6efd;text-decoration:none}
nav.sidebar a.active{font-weight:600;color:#212529}
nav.sidebar .site{font-size:1.2rem;font-weight:700;margin-bottom:.6rem}
main{max-width:60rem;padding:1.5rem 2.5rem;min-width:0;flex:1}
h1.title{margin-top:0}p.description{font-size:1.15rem;color:#6c757d}
pre,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.88rem}
div.input_area pre,div.highlight pre{background:#f6f8fa;border:1px solid #e1e4e8;border-radius:4px;padding:.6rem;overflow:auto}
div.output_area pre{background:#fff;padding:.3rem .6rem;overflow:auto}
div.prompt{display:none}
table{border-collapse:collapse;margin:.8rem 0}th,td{border:1px solid #dee2e6;padding:.25rem .5rem;text-align:left}
img{max-width:100%}
blockquote{margin:.5rem 0;padding:.2rem 1rem;border-left:4px solid #dee2e6;color:#495057}
hr{border:0;border-top:1px solid #dee2e6;margin:1.5rem 0}
a.anchor-link{visibility:hidden;margin-left:.3rem;text-decoration:none}h1:hover a.anchor-link,h2:hover a.anchor-link,
h3:hover a.anchor-link,h4:hover a.anchor-link{visibility:visible}
div.output_stderr pre{background:#fdd}
a.source-link{float:right;font-size:smaller}
"""

def _config():
    from nbdev.config import get_config
    return get_config(path=REPO)

def notebooks(nbs):
    "Every notebook nbdev finds in `nbs` (its own rules: recursive, no `_`/`.` files), index first, the rest by name."
    from nbdev.doclinks import nbglob
    nbs = Path(nbs)
    found = sorted(nbglob(nbs, func=Path))
    return sorted(found, key=lambda p: (p.name != 'index.ipynb', p.relative_to(nbs).as_posix()))

def page_name(nb, nbs):
    "The page nbdev's Quarto site gives `nb` (`04a_lungs.ipynb` → `lungs.html`), so that nbdev's links find it."
    from nbdev.doclinks import _nbpath2html
    return _nbpath2html(Path(nb).relative_to(nbs)).as_posix()

# ---- processing: nbdev's processors, with show_doc run against the installed module ----

def _processors(errors):
    from execnb.shell import CaptureShell
    from nbdev.process import Processor
    from nbdev.processors import FilterDefaults, exec_show_docs, _default_exp, _is_showdoc
    lib = _config().lib_name

    class show_docs_from_module(Processor):
        "Run the `show_doc` cells in the namespace of the module the notebook exports (not the notebook's own cells)."
        def begin(self):
            self.k = CaptureShell()
            self.k.run_cell('from nbdev.showdoc import show_doc')
            mod = _default_exp(self.nb)
            if mod:
                self.k.run_cell(f'import {lib}.{mod} as _m\nglobals().update({{k: v for k, v in vars(_m).items() '
                                f'if not k.startswith("__")}})')
                if self.k.exc: errors.append(f'{self.nb.path_}: importing {lib}.{mod} failed: {self.k.exc!r}')

        def __call__(self, cell):
            if cell.cell_type != 'code' or not _is_showdoc(cell): return
            self.k.cell(cell)
            if self.k.exc: errors.append(f'{self.nb.path_}: cell {cell.idx_} `{cell.source.strip()}` failed: {self.k.exc!r}')

    class DocsProcs(FilterDefaults):
        def base_procs(self):
            return [show_docs_from_module if p is exec_show_docs else p for p in super().base_procs()]
    return DocsProcs()

_re_dir = re.compile(r'^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$')

def _split_directives(src):
    "Quarto's `#| key: value` lines at the top of a code cell, and the code below them."
    lines, d = src.splitlines(), {}
    while lines and _re_dir.match(lines[0]):
        k, v = _re_dir.match(lines.pop(0)).groups()
        d[k] = v.strip('"\'')
    return d, '\n'.join(lines)

def _doc_cell(c):
    "A notebook cell as the docs show it (Quarto's directives applied), or None where Quarto leaves it out."
    if c.cell_type == 'raw': return None                                 # the YAML frontmatter Quarto would read
    if c.cell_type == 'markdown' and c.source.strip().startswith('<!-- WARNING'): return None
    c = dict(c)
    if c['cell_type'] == 'code':
        d, c['source'] = _split_directives(c['source'])
        if d.get('include') == 'false': return None
        meta = dict(c.get('metadata', {}))
        tags = list(meta.get('tags', []))
        if d.get('echo') == 'false' or not c['source'].strip(): tags.append('remove_input')
        if d.get('output') == 'false': c['outputs'] = []
        meta['tags'] = tags
        c['metadata'] = meta
        c.setdefault('outputs', []); c.setdefault('execution_count', None)
    c = {k: v for k, v in c.items() if not k.endswith('_') and k != 'idx_'}
    c.setdefault('metadata', {})
    return c

def _flatten_output(o, nb_path, errors):
    "An output as nbconvert reads it: text joined, show_doc's markdown as HTML; an error output is recorded in `errors`."
    for k, v in o.get('data', {}).items():                             # execnb keeps text as a list of lines
        if isinstance(v, list): o['data'][k] = ''.join(v)
    if 'text/markdown' in o.get('data', {}): o['data']['text/markdown'] = _pandoc_to_html(o['data']['text/markdown'])
    if isinstance(o.get('text'), list): o['text'] = ''.join(o['text'])
    if o.get('output_type') == 'error': errors.append(f'{nb_path}: an error output: {o.get("ename")}: {o.get("evalue")}')

def process(nb_path, errors):
    "The notebook as nbdev would hand it to Quarto: a dict notebook plus its frontmatter."
    from execnb.nbio import read_nb
    from nbdev.process import NBProcessor
    nb = read_nb(nb_path)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        NBProcessor(nb=nb, procs=_processors(errors).procs()).process()
    fm = dict(getattr(nb, 'frontmatter_', {}) or {})
    cells = [c for c in map(_doc_cell, nb.cells) if c is not None]
    import nbformat
    out = nbformat.from_dict({'cells': cells, 'metadata': {'language_info': {'name': 'python'}},
                              'nbformat': 4, 'nbformat_minor': 5})
    for c in out.cells:
        c.pop('id', None)
        for o in c.get('outputs', []): _flatten_output(o, nb_path, errors)
    return out, fm

# ---- HTML ----

def _pandoc_to_html(md):
    "show_doc writes for Quarto: `[source](url){target=...}` becomes a plain link; links inside its code blocks, names."
    md = re.sub(r'\[source\]\(([^)]+)\)\{[^}]*\}',
                r'<a href="\1" target="_blank" class="source-link">source</a>', md)
    def code(m): return re.sub(r'\[(`[^`]+`)\]\([^)\s]+\)', r'\1', m.group(0))
    return re.sub(r'```.*?```', code, md, flags=re.S)

def _exporter():
    from nbconvert import HTMLExporter
    from traitlets.config import Config
    c = Config()
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_input_tags = {'remove_input'}
    c.HTMLExporter.preprocessors = ['nbconvert.preprocessors.TagRemovePreprocessor']
    return HTMLExporter(config=c, template_name='basic')

def _pygments_css():
    from pygments.formatters import HtmlFormatter
    return HtmlFormatter(style='default').get_style_defs('.highlight')

def _rewrite(body, nb_path, nbs, out, pages, site_url):
    "Relative links between pages, images copied beside them; returns the body."
    def href(m):
        attr, url = m.group(1), html.unescape(m.group(2))
        if site_url and url.startswith(site_url): url = url[len(site_url):].lstrip('/') or 'index.html'
        if attr == 'href' and not re.match(r'^[a-z]+:|^#', url):
            path, _, frag = url.partition('#')
            if path.endswith('.ipynb'):                                  # a link to another notebook → its page
                target = (nb_path.parent/path).resolve()
                path = pages.get(target, path[:-len('.ipynb')] + '.html')
            url = path + ('#' + frag if frag else '')
        if attr == 'src' and not re.match(r'^[a-z]+:', url):            # an image file the markdown names
            src = (nb_path.parent/url).resolve()
            if src.is_file():
                rel = src.relative_to(REPO).as_posix() if src.is_relative_to(REPO) else src.name
                dst = out/'assets'/rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
                url = 'assets/' + rel
        return f'{attr}="{html.escape(url, quote=True)}"'
    return re.sub(r'\b(href|src)="([^"]*)"', href, body)

def _lower_ids(body):
    "Quarto's heading ids are lower case (nbdev's links say `core.html#seed_everything`): the same here, links too."
    body = re.sub(r'(<h[1-6][^>]*\bid=")([^"]*)(")', lambda m: m.group(1) + m.group(2).lower() + m.group(3), body)
    body = re.sub(r'(href="(?![a-z]+:)[^"#]*#)([^"]*)(")', lambda m: m.group(1) + m.group(2).lower() + m.group(3), body)
    # nbdev links every name in its index, private ones too, but show_doc documents public names only: a link to a
    # private name would point at no section, so it stays plain code
    return re.sub(r'<a href="(?![a-z]+:)[^"#]*#_[^"]*">(<code>[^<]*</code>)</a>', r'\1', body)

def render_page(nb, fm, nb_path, nbs, out, pages, nav, exporter, site_url):
    body, _ = exporter.from_notebook_node(nb)
    body = _lower_ids(_rewrite(body, nb_path, nbs, out, pages, site_url))
    title, desc = fm.get('title', nb_path.stem), fm.get('description', '')
    this = pages[nb_path.resolve()]
    links = '\n'.join(f'<a href="{p}"{" class=active" if p == this else ""}>{html.escape(t)}</a>' for p, t in nav)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{CSS}{_pygments_css()}</style></head>
<body><nav class="sidebar"><div class="site"><a href="index.html">{html.escape(_config().lib_name)}</a></div>
{links}</nav>
<main><h1 class="title">{html.escape(title)}</h1>{f'<p class="description">{html.escape(desc)}</p>' if desc else ''}
{body}</main></body></html>
"""

def build(out=None, quiet=False):
    "Render every notebook in `nbs/` to `out`; returns the errors found (failed show_doc, error outputs)."
    sys.path.insert(0, str(REPO))                                        # the checkout's library, not an installed copy
    cfg = _config()
    nbs, out = Path(cfg.nbs_path), Path(out or cfg.doc_path)
    if out.exists():                                                     # only a folder this script wrote is replaced
        if any(out.iterdir()) and not (out/'.nojekyll').exists():
            raise SystemExit(f'{out} exists and is not a docs folder this script built: pick another --out')
        shutil.rmtree(out)
    out.mkdir(parents=True)
    site_url = cfg.doc_host.rstrip('/') + '/' + cfg.doc_baseurl.strip('/') + '/'
    paths = notebooks(nbs)
    pages = {p.resolve(): page_name(p, nbs) for p in paths}
    errors, done = [], []
    for p in paths:
        nb, fm = process(p, errors)
        done.append((p, nb, fm))
    nav = [(pages[p.resolve()], fm.get('title', p.stem)) for p, _, fm in done]
    exporter = _exporter()
    for p, nb, fm in done:
        (out/pages[p.resolve()]).parent.mkdir(parents=True, exist_ok=True)
        (out/pages[p.resolve()]).write_text(render_page(nb, fm, p, nbs, out, pages, nav, exporter, site_url))
        if not quiet: print(f'{p.relative_to(REPO)} -> {out/pages[p.resolve()]}')
    (out/'.nojekyll').touch()
    return errors

# ---- README.md from index.ipynb ----

def readme_text():
    "README.md as index.ipynb gives it (nbdev_readme's content without Quarto)."
    import json
    cfg = _config()
    nbs = Path(cfg.nbs_path)
    nb = json.loads((nbs/cfg.readme_nb).read_text())
    parts = []
    for c in nb['cells']:
        src = ''.join(c['source']).strip()
        if not src: continue
        if c['cell_type'] == 'code':
            d, code = _split_directives(src)
            if d.get('include') == 'false' or d.get('echo') == 'false' or 'hide' in d or not code.strip(): continue
            parts.append(f'```python\n{code.strip()}\n```')
        elif c['cell_type'] == 'markdown':
            parts.append(_repath(src, nbs))
    return '\n\n'.join(parts) + '\n'

def _repath(md, nbs):
    "Image and link paths in a notebook's markdown, made relative to the repository root."
    def sub(m):
        url = m.group(2)
        if re.match(r'^[a-z]+:|^#|^/', url): return m.group(0)
        p = (nbs/url).resolve()
        return f'{m.group(1)}({os.path.relpath(p, REPO)})' if p.exists() else m.group(0)
    return re.sub(r'(!?\[[^\]]*\])\(([^)\s]+)\)', sub, md)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', help='folder for the site (default: settings.ini doc_path, _docs)')
    ap.add_argument('--readme', action='store_true', help='write README.md from index.ipynb instead')
    ap.add_argument('--check', action='store_true', help='with --readme: fail if README.md differs, write nothing')
    a = ap.parse_args(argv)
    if a.readme:
        text, readme = readme_text(), REPO/'README.md'
        if a.check:
            if readme.read_text() != text:
                print('README.md differs from nbs/index.ipynb: edit index.ipynb, then `make readme`.')
                return 1
            print('README.md matches nbs/index.ipynb'); return 0
        readme.write_text(text); print(f'wrote {readme}'); return 0
    errors = build(a.out)
    for e in errors: print('ERROR', e, file=sys.stderr)
    return 1 if errors else 0

if __name__ == '__main__': sys.exit(main())
