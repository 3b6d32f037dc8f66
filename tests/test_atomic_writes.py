"""Every file emkit writes is written atomically: temporary file, fsync, os.replace.

A write that fails half-way (the serializer raising after part of the file) must
leave the old file byte for byte and no temporary file; a path that cannot be
written gives a clear error. The last tests parse ``src/emkit`` and fail when a
module writes a file other than through :mod:`emkit.atomic`.
"""

from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

import numpy as np
import pytest

import emkit
from emkit.cli import main

SRC = Path(__file__).resolve().parents[1] / "src" / "emkit"
OLD = b"the previous file, which must survive\n"


def two_blobs(n: int = 120) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.r_[rng.normal(size=(n // 2, 2)), rng.normal(size=(n // 2, 2)) + 5.0]


def old_file(directory: Path, name: str) -> Path:
    path = directory / name
    path.write_bytes(OLD)
    return path


def assert_untouched(path: Path) -> None:
    assert path.read_bytes() == OLD
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp file


def write_part_then_fail(target, *args, **kwargs):
    """A serializer that dies after writing part of its output, to a file or a path."""
    if hasattr(target, "write"):
        target.write(b"PARTIAL" if "b" in getattr(target, "mode", "b") else "PARTIAL")
    else:
        Path(target).write_bytes(b"PARTIAL")
    raise RuntimeError("disk full half-way")


# ---------------------------------------------------------------- failing half-way
def test_model_save_failing_half_way_keeps_the_old_file(tmp_path, monkeypatch):
    model = emkit.GaussianMixture(2, random_state=0).fit(two_blobs())
    path = old_file(tmp_path, "model.emkit")
    monkeypatch.setattr(np, "savez", lambda fh, **arrays: write_part_then_fail(fh))
    with pytest.raises(RuntimeError, match="half-way"):
        model.save(path)
    assert_untouched(path)
    monkeypatch.undo()
    model.save(path)  # and a save that succeeds replaces it with a loadable model
    np.testing.assert_array_equal(emkit.load(path).means_, model.means_)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.emkit"]


def test_cli_output_failing_half_way_keeps_the_old_file(tmp_path, monkeypatch, capsys):
    import pandas as pd

    data = tmp_path / "data.csv"
    pd.DataFrame(two_blobs(), columns=["a", "b"]).to_csv(data, index=False)
    saved = tmp_path / "m.emkit"
    assert main(["fit", str(data), "-k", "2", "--quiet", "--save", str(saved)]) == 0
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    labels = old_file(out_dir, "labels.csv")
    monkeypatch.setattr(pd.DataFrame, "to_csv",
                        lambda self, target, *a, **k: write_part_then_fail(target))
    capsys.readouterr()
    assert main(["predict", str(saved), str(data), "-o", str(labels)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("emkit: error:") and "half-way" in err
    assert_untouched(labels)


def test_plot_failing_half_way_keeps_the_old_file(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from emkit.plot import save_mixture_plots

    model = emkit.GaussianMixture(2, random_state=0).fit(two_blobs())
    figure = old_file(tmp_path, "clusters.png")
    monkeypatch.setattr(Figure, "savefig",
                        lambda self, target, *a, **k: write_part_then_fail(target))
    with pytest.raises(RuntimeError, match="half-way"):
        save_mixture_plots(tmp_path, two_blobs(), model)
    assert_untouched(figure)


# ---------------------------------------------------------------- unwritable paths
def test_cli_unwritable_output_is_one_error_line(tmp_path, capsys):
    import pandas as pd

    data = tmp_path / "data.csv"
    pd.DataFrame(two_blobs(), columns=["a", "b"]).to_csv(data, index=False)
    saved = tmp_path / "m.emkit"
    assert main(["fit", str(data), "-k", "2", "--quiet", "--save", str(saved)]) == 0
    capsys.readouterr()
    for target in (tmp_path / "no" / "such" / "dir" / "labels.csv", tmp_path):
        assert main(["predict", str(saved), str(data), "-o", str(target)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("emkit: error:") and err.count("\n") == 1, err
        assert f"cannot write {target}" in err and "Traceback" not in err


def test_model_save_to_a_missing_directory_names_the_target(tmp_path):
    model = emkit.GaussianMixture(1).fit(two_blobs())
    target = tmp_path / "missing" / "model.emkit"
    with pytest.raises(FileNotFoundError, match=f"cannot write {target}"):
        model.save(target)
    assert not (tmp_path / "missing").exists()


# ---------------------------------------------------------------- the helper itself
def test_atomic_write_replaces_whole_and_keeps_permissions(tmp_path):
    from emkit.atomic import atomic_path, atomic_write

    path = old_file(tmp_path, "table.csv")
    os.chmod(path, 0o640)
    with atomic_write(path, "w", encoding="utf-8") as fh:
        fh.write("a,b\n1,2\n")
        assert path.read_bytes() == OLD  # nothing visible until the block ends
    assert path.read_text(encoding="utf-8") == "a,b\n1,2\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    fresh = tmp_path / "fresh.png"
    with atomic_path(fresh) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".png"
        tmp.write_bytes(b"\x89PNG")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.png", "table.csv"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_atomic_helpers_remove_the_temporary_file_on_any_failure(tmp_path, error):
    from emkit.atomic import atomic_path, atomic_write

    path = old_file(tmp_path, "m.npz")
    with pytest.raises(error):
        with atomic_write(path) as fh:
            fh.write(b"PARTIAL")
            raise error()
    assert_untouched(path)
    with pytest.raises(error):
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"PARTIAL")
            raise error()
    assert_untouched(path)


def test_atomic_write_follows_a_symlink_and_refuses_a_directory(tmp_path):
    from emkit.atomic import atomic_write

    real = old_file(tmp_path, "real.csv")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    with atomic_write(link) as fh:
        fh.write(b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"
    with pytest.raises(IsADirectoryError, match="is a directory"):
        with atomic_write(tmp_path) as fh:
            fh.write(b"never")
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(real, "a"):
            pass


def test_atomic_path_requires_the_writer_to_leave_a_file(tmp_path):
    from emkit.atomic import atomic_path

    path = old_file(tmp_path, "figure.png")
    with pytest.raises(FileNotFoundError, match="left no file"):
        with atomic_path(path) as tmp:
            tmp.unlink()
    assert_untouched(path)


# ---------------------------------------------------------------- the rule, enforced
#: Calls that write a file given as an argument (path or open file).
WRITER_METHODS = frozenset({
    "savefig", "save", "savez", "savez_compressed", "savetxt", "to_csv", "to_parquet",
    "to_json", "to_excel", "to_feather", "to_hdf", "to_pickle", "to_zarr", "to_netcdf",
    "write_text", "write_bytes", "write_table", "write_to_dataset", "tofile", "dump",
    "saving", "imwrite", "imsave",
})
#: Calls that create, open for writing or move files themselves: only emkit.atomic.
RAW_FILE_CALLS = frozenset({
    "os.open", "os.fdopen", "os.replace", "os.rename", "os.link", "tempfile.mkstemp",
    "tempfile.NamedTemporaryFile", "tempfile.TemporaryFile", "shutil.copy",
    "shutil.copy2", "shutil.copyfile", "shutil.move",
})
#: ``X.save(path)`` where X is an emkit model: Persistable.save writes through
#: emkit.atomic itself (tested above), so the call needs no wrapping.
MODEL_SAVE_RECEIVERS = frozenset({"model", "best", "result.best", "self"})
OPENERS = frozenset({"open", "ZipFile", "open_array", "open_group"})
HELPERS = frozenset({"atomic_write", "atomic_path"})


def _dotted(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # pragma: no cover - any expression unparses
        return ""


def _writes_mode(call: ast.Call, name: str) -> bool:
    """Whether an opener call opens for writing (a non-constant mode counts as writing)."""
    mode = next((k.value for k in call.keywords if k.arg == "mode"), None)
    position = 1
    if mode is None and len(call.args) > position:
        mode = call.args[position]
    if mode is None:
        return False
    if not (isinstance(mode, ast.Constant) and isinstance(mode.value, str)):
        return True
    return any(c in mode.value for c in "wax+")


def raw_writes(source: str) -> list[tuple[int, str]]:
    """``(line, call)`` of every file write in ``source`` not made through emkit.atomic."""
    tree = ast.parse(source)
    findings: list[tuple[int, str]] = []

    def visit(node: ast.AST, bound: frozenset[str]) -> None:
        if isinstance(node, ast.With | ast.AsyncWith):
            names = set(bound)
            for item in node.items:
                visit(item.context_expr, frozenset(names))
                call = item.context_expr
                if (isinstance(call, ast.Call) and _dotted(call.func).split(".")[-1] in HELPERS
                        and isinstance(item.optional_vars, ast.Name)):
                    names.add(item.optional_vars.id)
            for stmt in node.body:
                visit(stmt, frozenset(names))
            return
        if isinstance(node, ast.Call):
            check(node, bound)
        for child in ast.iter_child_nodes(node):
            visit(child, bound)

    def check(call: ast.Call, bound: frozenset[str]) -> None:
        func = _dotted(call.func)
        name = func.split(".")[-1]
        arguments = list(call.args) + [k.value for k in call.keywords]
        through_helper = any(
            (isinstance(a, ast.Name) and a.id in bound)
            or _dotted(a) in ("sys.stdout", "sys.stderr") for a in arguments)
        if func in RAW_FILE_CALLS:
            findings.append((call.lineno, func))
        elif name in OPENERS and _writes_mode(call, name) and not through_helper:
            findings.append((call.lineno, func))
        elif isinstance(call.func, ast.Attribute) and name in WRITER_METHODS:
            receiver = _dotted(call.func.value)
            if name == "save" and receiver in MODEL_SAVE_RECEIVERS:
                return
            if name == "to_json" and not call.args and not any(
                    k.arg == "path_or_buf" for k in call.keywords):
                return  # returns the text
            if not through_helper:
                findings.append((call.lineno, func))

    visit(tree, frozenset())
    return findings


def test_the_scanner_catches_raw_writes_and_passes_atomic_ones():
    bad = '''
fig.savefig(path)
df.to_csv("out.csv", index=False)
np.savez(path, a=a)
with open(path, "wb") as fh:
    fh.write(b"x")
Path(p).write_text("x")
Image.fromarray(a).save(output)
os.replace(tmp, path)
with atomic_path(p) as tmp:
    fig.savefig(other)
'''
    assert [line for line, _ in raw_writes(bad)] == [2, 3, 4, 5, 7, 8, 9, 11]
    good = '''
with atomic_path(p) as tmp:
    fig.savefig(tmp, dpi=100)
with atomic_write(p, "w", newline="") as fh:
    df.to_csv(fh, index=False)
df.to_csv(sys.stdout, index=False)
with open(path, "rb") as fh:
    data = fh.read()
text = df.to_json(orient="records")
model.save(path)
with atomic_path(p) as tmp, writer.saving(fig, tmp, dpi=1):
    pass
'''
    assert raw_writes(good) == []


def test_no_module_writes_a_file_except_through_emkit_atomic():
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "atomic.py" and path.parent == SRC:
            continue
        for line, call in raw_writes(path.read_text(encoding="utf-8")):
            found.append(f"{path.relative_to(SRC.parent)}:{line}: {call}")
    assert not found, "write these through emkit.atomic:\n" + "\n".join(found)
