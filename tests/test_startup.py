"""What a plain lint run imports. Startup is most of a small project's run (benchmarks/README.md), so the
modules it does not need stay out: a regression here shows as a slower pre-commit hook, which no timed test
would catch reliably. (Speed itself is measured by benchmarks/run.py, never asserted.)"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
# Each is needed only for some input or some flag: YAML files, TOML files, --fix/--diff, --debug tracebacks.
# (The json and sarif formats import hashlib for stable fingerprints; text, what pre-commit shows, does not.)
NOT_IMPORTED = ["yaml", "tomllib", "tomli", "libcst", "typing", "shutil", "hashlib", "difflib", "traceback",
                "pathspec", "subprocess", "multiprocessing", "tree_sitter", "tree_sitter_ruby",
                "tree_sitter_embedded_template"]

_PROBE = """
import json, sys
from pgforklint.cli import main
code = main([sys.argv[1], "--no-cache", "--format", "text"])
sys.stdout.flush()
sys.stderr.write(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.parametrize("fixture", ["gunicorn_warmup_query", "ok_no_preload"])
def test_a_plain_run_imports_only_what_it_needs(fixture: str, tmp_path: Path) -> None:
    # A copy outside this repository: its pyproject.toml would be read as the configuration (tomllib).
    project = tmp_path / fixture
    shutil.copytree(FIXTURES / fixture, project)
    done = subprocess.run([sys.executable, "-c", _PROBE, str(project)], capture_output=True, text=True, timeout=60)
    imported = set(json.loads(done.stderr.strip().splitlines()[-1]))
    assert "pgforklint.analyze" in imported  # the probe did run the analysis
    assert sorted(name for name in NOT_IMPORTED if name in imported) == []


def test_version_imports_no_analysis() -> None:
    probe = ("import sys\nfrom pgforklint.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in sys.modules if m.startswith('pgforklint')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    loaded = done.stdout.strip().splitlines()[-1]
    assert "pgforklint.analyze" not in loaded and "pgforklint.fix" not in loaded, loaded


def test_ruby_parser_is_imported_only_for_ruby_files(tmp_path: Path) -> None:
    project = tmp_path / "unicorn_sinatra_sequel_preload"
    shutil.copytree(FIXTURES / "unicorn_sinatra_sequel_preload", project)
    done = subprocess.run([sys.executable, "-c", _PROBE, str(project)], capture_output=True, text=True, timeout=60)
    imported = set(json.loads(done.stderr.strip().splitlines()[-1]))
    assert "tree_sitter_ruby" in imported and "libcst" not in imported
