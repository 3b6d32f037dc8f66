"""``emkit.cli.main``: exit codes from ``sys.argv``, Ctrl-C while reading, ``--debug``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emkit.cli import main


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "t.csv"
    rng = np.random.default_rng(0)
    pd.DataFrame(rng.normal(size=(30, 2)), columns=["a", "b"]).to_csv(path, index=False)
    return path


def test_main_without_argv_exits_with_the_code(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr("sys.argv", ["emkit", "fit", str(tmp_path / "missing.csv")])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 1
    assert capsys.readouterr().err.startswith("emkit: error: no such file")


def test_ctrl_c_while_reading_the_data(monkeypatch, capsys, table):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("emkit.cli._reading.read_input", interrupted)
    assert main(["fit", str(table), "--quiet"]) == 130
    assert capsys.readouterr().err.strip() == "emkit: interrupted"


def test_debug_shows_the_exception(table, tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["fit", str(tmp_path / "missing.csv"), "--debug"])
