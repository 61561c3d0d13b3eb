"""The real-world corpus file and the runner's scoring (scripts/real_world.py), without mirrors or network."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def real_world():
    spec = importlib.util.spec_from_file_location("real_world", ROOT / "scripts" / "real_world.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_corpus_entries_are_complete(real_world):
    entries = real_world.load_corpus(ROOT / "scripts" / "corpus.toml")
    assert len([e for e in entries if e["language"] == "python"]) >= 30
    assert len([e for e in entries if e["language"] == "ruby"]) >= 10
    for entry in entries:
        assert re.fullmatch(r"[0-9a-f]{40}", entry["commit"]), entry["name"]
        assert re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", entry["repo"]), entry["name"]
        assert entry.get("why") and entry.get("verdict"), entry["name"]
        assert entry.get("process"), f"{entry['name']}: no process types in the ground truth"
        if not entry.get("expected"):
            assert entry.get("clean_because"), f"{entry['name']}: read as clean but no reason given"
        for item in entry.get("expected", []):
            assert re.fullmatch(r"PGF\d{3}", item["code"]) and item["path"] and item["line"] >= 1, entry["name"]
            assert item.get("reason"), entry["name"]


def _finding(code, path, line):
    return {"code": code, "path": path, "line": line}


def test_compare_right_wrong_missed_and_unscored(real_world):
    entry = {
        "expected": [{"code": "PGF001", "path": "app/db.py", "line": 10, "anchors": ["app/main.py:3"]},
                     {"code": "PGF003", "path": "gunicorn.conf.py", "line": 7}],
        "acceptable": [{"code": "PGF002", "path": "app/db.py"}],
    }
    verdict = real_world.compare(entry, [
        _finding("PGF001", "app/main.py", 4),     # an anchor, line within 2: right
        _finding("PGF002", "app/db.py", 99),      # acceptable, any line: right
        _finding("PGF001", "app/other.py", 10),   # a fork rule nobody expects: wrong
        _finding("PGF101", "Procfile", 1),        # not scored
        _finding("PGF004", "Procfile", 1),        # budget, entry not budget_judged: not scored
    ])
    assert [d["path"] for d in verdict["right"]] == ["app/main.py", "app/db.py"]
    assert [d["path"] for d in verdict["wrong"]] == ["app/other.py"]
    assert [m["code"] for m in verdict["missed"]] == ["PGF003"]
    assert [d["code"] for d in verdict["unscored"]] == ["PGF101", "PGF004"]


def test_compare_line_tolerance_and_budget_judged(real_world):
    entry = {"expected": [{"code": "PGF001", "path": "a.py", "line": 10}], "budget_judged": True}
    verdict = real_world.compare(entry, [_finding("PGF001", "a.py", 13), _finding("PGF004", "Procfile", 1)])
    assert not verdict["right"]
    assert [d["code"] for d in verdict["wrong"]] == ["PGF001", "PGF004"]
    assert len(verdict["missed"]) == 1


def test_launches_tolerates_coverage_shapes(real_world):
    coverage = {"processes": [
        {"name": "web", "server": {"kind": "gunicorn"}, "app": {"module": "app.wsgi", "file": "app/wsgi.py"},
         "engines": ["app.db:engine"]},
        {"name": "worker", "server": "celery", "forks": True, "failed_step": "celery -A: module not found"},
        "not a row",
    ]}
    rows, source = real_world.launches(coverage, None)
    assert source == "coverage"
    assert [(r["name"], r["server"], r["linked"], r["resolved_file"]) for r in rows] == [
        ("web", "gunicorn", True, "app/wsgi.py"), ("worker", "celery", False, None)]
    assert rows[1]["failed_step"] == "celery -A: module not found"
    assert real_world.launches(None, None) == ([], "none")
