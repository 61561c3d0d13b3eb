"""The same tree gives byte-identical output in every format: across runs, and across file-system
orderings (the same files created in different orders, in different folders)."""

from __future__ import annotations

import io
import os
import random
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from pgforklint.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
FORMATS = ("text", "json", "github", "sarif")


def tree_files() -> dict[str, bytes]:
    """Several fixtures side by side, plus bad files, so that many findings of several kinds interleave."""
    files: dict[str, bytes] = {}
    for name in ("gunicorn_warmup_query", "psycopg2_eager_pool", "flask_factory_create_all", "reset_wrong_engine"):
        base = FIXTURES / name
        if not base.is_dir():
            continue
        for path in base.rglob("*"):
            if path.is_file():
                files[f"{name}/{path.relative_to(base).as_posix()}"] = path.read_bytes()
    files.update({
        "gunicorn_warmup_query/Procfile.bad": b"web gunicorn\nworker: sh -c 'x\n",
        "gunicorn_warmup_query/docker-compose.yml": b"services:\n  a: 1\n  a: 2\n",
        "gunicorn_warmup_query/app.json": b"{ // no\n}",
        "flask_factory_create_all/Procfile.x": b"\x00",
        "z_bad/Procfile": b"<<<<<<< HEAD\nweb: x\n>>>>>>> y\n",
    })
    return files


def build(root: Path, files: dict[str, bytes], order: list[str]) -> None:
    for name in order:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[name])


def run(root: Path, fmt: str, *args: str) -> tuple[int, bytes]:
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(root)
    env_format = os.environ.pop("GITHUB_ACTIONS", None)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main([*args, "--format", fmt, *sorted(p.name for p in root.iterdir() if p.is_dir())])
    finally:
        os.chdir(cwd)
        if env_format is not None:
            os.environ["GITHUB_ACTIONS"] = env_format
    assert "internal error" not in err.getvalue()
    return code, out.getvalue().encode("utf-8")


ORDERS = ("sorted", "reversed", "shuffled")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str, int], tuple[int, bytes]]:
    """The same tree, rebuilt at the same absolute path (SARIF names it) in three creation orders and
    linted in every format (twice for the first order)."""
    files = tree_files()
    names = sorted(files)
    orders = {"sorted": names, "reversed": list(reversed(names)), "shuffled": random.Random(7).sample(names, len(names))}
    root = tmp_path_factory.mktemp("determinism") / "same"
    results = {}
    for order in ORDERS:
        if root.exists():
            shutil.rmtree(root)
        root.mkdir()
        build(root, files, orders[order])
        for fmt in (*FORMATS, "statistics"):
            for attempt in range(2 if order == "sorted" else 1):
                if fmt == "statistics":
                    results[(order, fmt, attempt)] = run(root, "text", "--statistics")
                else:
                    results[(order, fmt, attempt)] = run(root, fmt)
    return results


@pytest.mark.parametrize("fmt", (*FORMATS, "statistics"))
def test_identical_across_runs_and_orderings(outputs: dict, fmt: str) -> None:
    first = outputs[("sorted", fmt, 0)]
    assert first[1], "expected some output"
    for (order, other_fmt, attempt), output in outputs.items():
        if other_fmt == fmt:
            assert output == first, (order, attempt)


def test_the_tree_has_findings_of_several_kinds(outputs: dict) -> None:
    import json

    code, output = outputs[("sorted", "json", 0)]
    codes = {d["code"] for d in json.loads(output)["diagnostics"]}
    assert code == 1
    assert {"PGF001", "PGF100"} <= codes


def test_identical_in_another_folder(tmp_path: Path) -> None:
    """Elsewhere on disk: identical except SARIF's absolute base URI, which names the folder."""
    files = tree_files()
    roots = []
    for name in ("one", "two"):
        root = tmp_path / name / "same"
        root.mkdir(parents=True)
        build(root, files, sorted(files) if name == "one" else sorted(files, reverse=True))
        roots.append(root)
    for fmt in FORMATS:
        (code_a, out_a), (code_b, out_b) = run(roots[0], fmt), run(roots[1], fmt)
        assert code_a == code_b
        assert out_a.replace(b"/one/same/", b"/X/same/") == out_b.replace(b"/two/same/", b"/X/same/")


def test_identical_with_cold_warm_and_no_cache(tmp_path: Path) -> None:
    """The facts cache is saved when the process exits: real processes, cold then warm, then --no-cache."""
    import subprocess
    import sys

    root = tmp_path / "same"
    root.mkdir()
    files = tree_files()
    build(root, files, sorted(files))
    env = {**os.environ, "PGFORKLINT_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")}
    env.pop("PGFORKLINT_NO_CACHE", None)
    env.pop("GITHUB_ACTIONS", None)
    outputs = []
    for extra in ([], [], ["--no-cache"]):
        proc = subprocess.run([sys.executable, "-m", "pgforklint", "--format", "sarif", *extra,
                               *sorted(p.name for p in root.iterdir() if p.is_dir())],
                              cwd=root, env=env, capture_output=True, timeout=120)
        assert b"Traceback" not in proc.stderr
        outputs.append((proc.returncode, proc.stdout))
    assert list((tmp_path / "cache").rglob("*.json")), "the first run should have written the cache"
    assert outputs[0][1] and outputs[1] == outputs[0] and outputs[2] == outputs[0]
