"""Fuzz the emkit command with generated tables.

Whatever CSV text it is given (numbers of any size, NaN, inf, blanks, words,
quotes, ragged rows, odd headers), ``emkit fit``, ``emkit impute``,
``emkit hmm fit`` and ``emkit select`` either succeed (exit 0) or fail with exit
code 1 and exactly one line on stderr starting with ``emkit: error:`` - never a
traceback, never a warning.
"""

from __future__ import annotations

import warnings

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import emkit
from emkit.cli import main

# derandomize: the same tables every run, so the suite passes or fails reproducibly;
# failures found by wider runs are pinned as explicit tests elsewhere.
FUZZ = settings(max_examples=12, deadline=None, phases=(Phase.explicit, Phase.generate),
                derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Values whose squares overflow (|x| > ~1e154) and tables with no more rows than
# columns are pinned in test_scale_robustness.py (known failures); the fuzz keeps to
# |x| <= 1e150 so that it passes or fails deterministically on new bugs only.
finite = st.floats(-1e150, 1e150, allow_nan=False)
cells = st.one_of(
    finite.map(repr),
    st.integers(-10**20, 10**20).map(str),
    st.sampled_from(["", "nan", "NaN", "inf", "-inf", "NA", "abc", '"1,2"', "1e400",
                     "-0", "1e-320", " 3 ", "TRUE", "0x10"]),
    st.floats(-1e3, 1e3).map(lambda v: f"{v:.3f}"),
)
rows = st.lists(st.lists(cells, min_size=1, max_size=4), min_size=0, max_size=14)
headers = st.one_of(st.just("a,b,c"), st.just("a,a,b"), st.just(""), st.just("x"),
                    st.just(",,"))


def _csv(header: str, body: list[list[str]]) -> str:
    return "\n".join([header, *(",".join(r) for r in body)]) + "\n"


COMMANDS = {
    "fit": ["fit", "{path}", "-k", "2", "--quiet", "--max-iter", "20"],
    "impute": ["impute", "{path}", "--max-iter", "50"],
    "hmm": ["hmm", "fit", "{path}", "-k", "2", "--n-iter", "5"],
    "select": ["select", "{path}", "-k", "1..2", "--models", "EII,VVV"],
}


@FUZZ
@given(header=headers, body=rows, command=st.sampled_from(sorted(COMMANDS)))
def test_commands_on_generated_tables_fail_with_one_line(tmp_path, capsys, header, body,
                                                          command):
    path = tmp_path / "data.csv"
    path.write_text(_csv(header, body))
    argv = [a.format(path=path) for a in COMMANDS[command]]
    # only the legitimate ConvergenceWarning may appear; anything else is an error
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if code == 0:
        return
    assert code == 1, (code, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("emkit: error:"), err
    assert "rerun with --debug" not in lines[0], lines[0]  # an unexpected exception type


numbers = st.one_of(
    st.floats(-1e3, 1e3),
    finite,
    st.sampled_from([0.0, 1.0, 1e150, -1e150, 5e-324, 1e-300, float("nan")]),
)


@FUZZ
@given(width=st.integers(1, 3), data=st.data(), command=st.sampled_from(sorted(COMMANDS)))
def test_commands_on_generated_numeric_tables(tmp_path, capsys, width, data, command):
    body = data.draw(st.lists(st.lists(numbers, min_size=width, max_size=width),
                              min_size=width + 2, max_size=12))
    header = ",".join("abc"[:width])
    path = tmp_path / "data.csv"
    path.write_text(_csv(header, [[repr(v) for v in r] for r in body]))
    argv = [a.format(path=path) for a in COMMANDS[command]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if code == 0:
        assert "nan" not in out.lower() or command == "select", out
        return
    assert code == 1, (code, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("emkit: error:"), err
    assert "rerun with --debug" not in lines[0], lines[0]
