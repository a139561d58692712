import os
from pathlib import Path
import pytest

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')

REPO = Path(__file__).resolve().parents[1]
# The real development set lies beside the checkout (../shared/data/cxr256); absent on GitHub and on users' machines.
DEV_DATA = Path(os.environ.get('COVIDXRAY_DEV_DATA', REPO.parent/'shared'/'data'/'cxr256'))

def pytest_configure(config):
    config.addinivalue_line('markers', 'train: trains a model (left out by `make test-fast`)')

@pytest.fixture(scope='session')
def dev_data():
    if not (DEV_DATA/'metadata.csv').is_file(): pytest.skip(f'real development set not found at {DEV_DATA}')
    return DEV_DATA
