"""The README shows what the study measured: its cross-source table is the committed `results/study/sources.csv`, written
by the study's own formatter, so a rerun of the study that changes a figure fails here until the README says so too."""
from pathlib import Path
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

def test_readme_sources_table_is_the_study_csv():
    from covidxray.study import sources_table
    table = sources_table(pd.read_csv(ROOT/'results'/'study'/'sources.csv'))
    assert len(table.splitlines()) == 6                      # a header, its rule and four rows
    readme = (ROOT/'README.md').read_text()
    missing = [line for line in table.splitlines() if line not in readme]
    assert not missing, f"the README's table differs from results/study/sources.csv (print study.sources_table of it): {missing}"
