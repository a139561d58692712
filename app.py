"""covidxray's web page as a Hugging Face Space (Gradio SDK): the same page `covidxray serve MODEL` starts.

The Space's repository holds this file, a `requirements.txt` with `covidxray[app]`, and a covidxray model folder
(config.json, model.safetensors, input_check.safetensors: numbers only). COVIDXRAY_MODEL names the folder (default:
`model` beside this file), or a hub model as `hf://owner/name`.
"""
import os
from pathlib import Path

from covidxray.app import FilmReader, build_app

def model_folder()->str:
    "The model the page serves: COVIDXRAY_MODEL (a folder, or hf://owner/name), else ./model."
    m = os.environ.get('COVIDXRAY_MODEL', str(Path(__file__).parent/'model'))
    if m.startswith('hf://'):
        from covidxray.hub import hub_folder
        m = str(hub_folder(m))
    return m

demo = build_app(FilmReader(model_folder(), abstain=float(os.environ.get('COVIDXRAY_ABSTAIN', 0))))

if __name__ == '__main__': demo.launch()
