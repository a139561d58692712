"""The hub round trip without the network: `push_to_hub` through a recording client into a local stand-in of the hub,
the real huggingface_hub client downloading from it into a fresh cache, then loading from that cache with
HF_HUB_OFFLINE=1 and the stand-in gone; and the command line's `hf://` models and `covidxray push --card-only`."""
import hashlib, json, shutil, threading, urllib.parse
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from pathlib import Path

import pytest
import huggingface_hub.constants as hfc

from covidxray.model import build_model, save_model, attach_segmenter, lung_segmenter
from covidxray.lungs import build_segmenter
from covidxray.hub import push_to_hub, load_from_hub, hub_folder, BadHubModel, check_card


class _HubHandler(BaseHTTPRequestHandler):
    "Serves `store` (a `StandInHub`): the hub's model API and its file downloads."
    store = None
    def log_message(self, *a): pass
    def _send(self, code, body=b'', headers=None):
        self.send_response(code)
        for k, v in (headers or {}).items(): self.send_header(k, v)
        self.send_header('Content-Length', str(len(body))); self.end_headers()
        if self.command != 'HEAD': self.wfile.write(body)
    def _api(self, parts):
        r = self.store.repos.get('/'.join(parts[2:4]))
        if r is None: return self._send(404, b'{"error": "Repository not found"}', {'X-Error-Code': 'RepoNotFound'})
        if parts[4] == 'revision':
            body = dict(id='/'.join(parts[2:4]), sha=r['sha'], siblings=[{'rfilename': f} for f in r['files']])
        else: body = [dict(type='file', path=f, size=len(b), oid=hashlib.sha1(b).hexdigest()) for f, b in r['files'].items()]
        return self._send(200, json.dumps(body).encode(), {'Content-Type': 'application/json'})
    def _resolve(self, parts):
        r, f = self.store.repos.get('/'.join(parts[:2])), '/'.join(parts[4:])
        if r is None or f not in r['files']: return self._send(404, b'', {'X-Error-Code': 'EntryNotFound'})
        b = r['files'][f]
        return self._send(200, b, {'X-Repo-Commit': r['sha'], 'ETag': f'"{hashlib.sha1(b).hexdigest()}"'})
    def do_GET(self):
        path = urllib.parse.urlparse(self.path).path
        self.store.requests.append((self.command, path))
        parts = [urllib.parse.unquote(x) for x in path.strip('/').split('/')]
        if parts[:2] == ['api', 'models']: return self._api(parts)
        if len(parts) > 4 and parts[2] == 'resolve': return self._resolve(parts)
        self._send(404)
    do_HEAD = do_GET


class StandInHub:
    "Repositories kept in memory, served over HTTP the way the hub serves them to `snapshot_download` (read only)."
    def __init__(self):
        self.repos, self.requests = {}, []
        Handler = type('Handler', (_HubHandler,), {'store': self})
        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.endpoint = f'http://127.0.0.1:{self.server.server_address[1]}'
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def commit(self, repo_id, folder):
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(Path(folder).rglob('*')) if p.is_file()}
        sha = hashlib.sha1(json.dumps(sorted((k, hashlib.sha1(v).hexdigest()) for k, v in files.items())).encode()).hexdigest()
        self.repos[repo_id] = dict(sha=sha, files=files)
        return sha

    def close(self): self.server.shutdown(); self.server.server_close()


class RecordingApi:
    "What `push_to_hub` needs of `HfApi`; the upload becomes a commit of the stand-in hub."
    def __init__(self, hub): self.hub, self.calls = hub, []
    def create_repo(self, repo_id, **kw): self.calls.append(('create_repo', repo_id, kw)); return f'{self.hub.endpoint}/{repo_id}'
    def upload_folder(self, *, repo_id, folder_path, **kw):
        self.calls.append(('upload_folder', repo_id, kw))
        return type('CommitInfo', (), {'oid': self.hub.commit(repo_id, folder_path)})()


@pytest.fixture
def hub():
    h = StandInHub(); yield h; h.close()

@pytest.fixture
def online(monkeypatch): monkeypatch.setattr(hfc, 'HF_HUB_OFFLINE', False)

@pytest.fixture(scope='module')
def model_dir(tmp_path_factory):
    m = build_model('resnet10t', pretrained=False); m.config['size'] = 64
    return save_model(m, tmp_path_factory.mktemp('run')/'model', training=dict(fold=0, n_train=10, n_valid=5))

def _sums(m): return {k: float(v.double().sum()) for k, v in m.state_dict().items()}


def test_push_download_then_offline(hub, online, model_dir, tmp_path, monkeypatch):
    api = RecordingApi(hub)
    r = push_to_hub(model_dir, 'lab/cxr-tiny', api=api)
    assert [c[0] for c in api.calls] == ['create_repo', 'upload_folder'] and api.calls[0][2]['private'] is True
    assert r['files'] == ['README.md', 'config.json', 'model.safetensors'] and r['commit'] == hub.repos['lab/cxr-tiny']['sha']
    hub.repos['lab/cxr-tiny']['files']['pytorch_model.bin'] = b'pickled code would be here'   # what must never be fetched
    cache = tmp_path/'cache'
    m = load_from_hub('hf://lab/cxr-tiny', cache_dir=cache, endpoint=hub.endpoint)
    assert _sums(m) == _sums(load_from_hub(model_dir))
    folder = hub_folder('hf://lab/cxr-tiny', cache_dir=cache, endpoint=hub.endpoint)
    assert folder.is_relative_to(cache) and not (folder/'pytorch_model.bin').exists()
    assert not any('pytorch_model.bin' in p and 'resolve' in p for _, p in hub.requests)
    check_card((folder/'README.md').read_text())
    # offline, the stand-in gone: the cache answers, and nothing else is asked
    hub.close(); n = len(hub.requests)
    monkeypatch.setattr(hfc, 'HF_HUB_OFFLINE', True)
    assert _sums(load_from_hub('hf://lab/cxr-tiny', cache_dir=cache, endpoint=hub.endpoint)) == _sums(m)
    assert len(hub.requests) == n
    with pytest.raises(BadHubModel, match='not in the hub cache'):
        load_from_hub('hf://lab/other', cache_dir=cache, endpoint=hub.endpoint)


def test_repo_without_safetensors_is_refused(hub, online, model_dir, tmp_path):
    d = tmp_path/'pickled'; d.mkdir()
    shutil.copy(model_dir/'config.json', d/'config.json'); (d/'pytorch_model.bin').write_bytes(b'x')
    hub.commit('lab/pickled', d)
    with pytest.raises(BadHubModel, match='safetensors weights only'):
        load_from_hub('hf://lab/pickled', cache_dir=tmp_path/'cache', endpoint=hub.endpoint)
    with pytest.raises(BadHubModel, match='no such repository'):
        load_from_hub('hf://lab/missing', cache_dir=tmp_path/'cache', endpoint=hub.endpoint)


def test_lung_crop_model_travels_with_its_segmenter(hub, online, tmp_path):
    m = build_model('resnet10t', pretrained=False); m.config['size'] = 64
    attach_segmenter(m, build_segmenter(pretrained=False, size=64))
    mdir = save_model(m, tmp_path/'lungrun'/'model')
    r = push_to_hub(mdir, 'lab/lungs', api=RecordingApi(hub))
    assert {'lungs/config.json', 'lungs/model.safetensors'} <= set(r['files'])
    m2 = load_from_hub('hf://lab/lungs', cache_dir=tmp_path/'cache', endpoint=hub.endpoint)
    assert m2.config['roi']['kind'] == 'lungs' and lung_segmenter(m2) is not None
    del hub.repos['lab/lungs']['files']['lungs/model.safetensors']; hub.repos['lab/lungs']['sha'] = '0' * 40
    with pytest.raises(BadHubModel, match='without its segmenter'):
        load_from_hub('hf://lab/lungs', cache_dir=tmp_path/'cache2', endpoint=hub.endpoint)


def test_cli_predicts_from_the_hub_cache_offline(hub, online, model_dir, tmp_path, monkeypatch):
    from covidxray.cli import main
    from covidxray.synthetic import make_synthetic
    push_to_hub(model_dir, 'lab/cli', api=RecordingApi(hub))
    monkeypatch.setattr(hfc, 'HF_HUB_CACHE', str(tmp_path/'cache'))          # the default cache, as HF_HOME would set it
    hub_folder('hf://lab/cli', endpoint=hub.endpoint)                       # downloaded once, online
    hub.close(); monkeypatch.setattr(hfc, 'HF_HUB_OFFLINE', True)
    imgs = make_synthetic(tmp_path/'imgs', n_per_class=2, size=64)
    assert main(['predict', 'hf://lab/cli', str(imgs), '--out', str(tmp_path/'p.csv'), '--workers', '0']) == 0
    local = tmp_path/'local.csv'
    assert main(['predict', str(model_dir), str(imgs), '--out', str(local), '--workers', '0']) == 0
    assert (tmp_path/'p.csv').read_text() == local.read_text()             # the same model, the same predictions
    assert main(['predict', 'hf://lab/cli@v2', str(imgs), '--out', str(tmp_path/'q.csv')]) == 2   # a revision never fetched


def test_cli_push(hub, online, model_dir, tmp_path, monkeypatch, capsys):
    import huggingface_hub
    from covidxray.cli import main
    api = RecordingApi(hub)
    monkeypatch.setattr(huggingface_hub, 'HfApi', lambda token=None: api)   # the command's client, pointed at the stand-in
    assert main(['push', str(model_dir.parent), 'hf://lab/from-cli', '--no-private', '--message', 'first']) == 0
    assert 'README.md, config.json, model.safetensors' in capsys.readouterr().out
    assert api.calls[0][2]['private'] is False and api.calls[1][2]['commit_message'] == 'first'
    m = load_from_hub('lab/from-cli', cache_dir=tmp_path/'cache', endpoint=hub.endpoint)   # a bare repo id, no such folder here
    assert _sums(m) == _sums(load_from_hub(model_dir))
    assert main(['push', str(tmp_path/'nowhere'), 'lab/x']) == 2
