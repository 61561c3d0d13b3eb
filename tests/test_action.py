"""The GitHub Action (`action.yml`): its steps' scripts run here as the runner runs them (bash, inputs as
environment variables, `GITHUB_*` files), in a repository whose app lives in a subfolder.

The install step builds pgforklint's own virtual environment from this checkout with pip (once per test
session, about 20 s: hatchling builds the wheel); the lint step then runs against it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))


def _expression(value: str, inputs: dict[str, str], outputs: dict[str, dict[str, str]]) -> str:
    """The `${{ inputs.x }}` and `${{ steps.id.outputs.x }}` expressions the action uses, evaluated."""
    def evaluate(match: re.Match) -> str:
        expression = match.group(1).strip()
        if expression.startswith("inputs."):
            name = expression[len("inputs."):]
            return inputs.get(name, ACTION["inputs"][name].get("default", ""))
        step = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expression)
        assert step, f"unsupported expression {expression!r}"
        return outputs.get(step.group(1), {}).get(step.group(2), "")
    return re.sub(r"\$\{\{(.*?)\}\}", evaluate, value)


def _read_outputs(file: Path) -> dict[str, str]:
    values = {}
    for line in file.read_text(encoding="utf-8").splitlines():
        name, _, value = line.partition("=")
        values[name] = value
    return values


def run_action(workspace: Path, runner_temp: Path, inputs: dict[str, str], steps: list[str] | None = None,
               outputs: dict | None = None) -> tuple[dict, subprocess.CompletedProcess, Path]:
    """Run the composite action's steps (or the named ones) like the runner: `bash -e {script}` with the
    step's `env:` and a fake GITHUB_* environment. Returns (step outputs, last process, step summary)."""
    outputs = outputs if outputs is not None else {}
    summary = runner_temp / "step_summary.md"
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "PGFORKLINT_", "INPUT_", "VIRTUAL_ENV"))}
    base_env.update({"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(workspace), "RUNNER_TEMP": str(runner_temp),
                     "GITHUB_ACTION_PATH": str(ROOT), "GITHUB_STEP_SUMMARY": str(summary), "NO_COLOR": "1",
                     "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    proc = None
    assert ACTION["runs"]["using"] == "composite"
    for step in ACTION["runs"]["steps"]:
        if steps is not None and step["id"] not in steps:
            continue
        assert step["shell"] == "bash" and "${{" not in step["run"]  # inputs only through env: no injection
        output_file = runner_temp / f"output-{step['id']}"
        output_file.write_text("", encoding="utf-8")
        env = {**base_env, "GITHUB_OUTPUT": str(output_file)}
        env.update({name: _expression(str(value), inputs, outputs) for name, value in step.get("env", {}).items()})
        script = runner_temp / f"{step['id']}.sh"
        script.write_text(step["run"], encoding="utf-8")
        # the runner's command line for `shell: bash`
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=workspace,
                              env=env, capture_output=True, text=True, timeout=600)
        outputs[step["id"]] = _read_outputs(output_file)
        if proc.returncode != 0:
            break
    return outputs, proc, summary


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict]:
    """The install step, run once: pgforklint from this checkout in the action's own virtualenv."""
    temp = tmp_path_factory.mktemp("runner-temp")
    workspace = tmp_path_factory.mktemp("empty-workspace")
    outputs, proc, _ = run_action(workspace, temp, {"python": sys.executable}, steps=["install"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outputs["install"]["bin"].endswith("/bin/pgforklint") and Path(outputs["install"]["bin"]).exists()
    assert proc.stdout.startswith("pgforklint ")
    return temp, outputs


@pytest.fixture
def workspace(tmp_path) -> Path:
    """A checkout whose app lives in `backend/`."""
    root = tmp_path / "workspace"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    shutil.copytree(FIXTURES / "gunicorn_warmup_query", root / "backend")
    shutil.copytree(FIXTURES / "ok_post_fork_reset", root / "clean")
    return root


def test_action_metadata():
    assert set(ACTION["inputs"]) == {"path", "args", "sarif-file", "version", "python"}
    assert ACTION["inputs"]["path"]["default"] == "."
    assert [step["id"] for step in ACTION["runs"]["steps"]] == ["install", "lint"]


def test_action_annotates_summarises_and_writes_sarif(installed, workspace, tmp_path):
    temp, outputs = installed
    outputs = {k: dict(v) for k, v in outputs.items()}
    inputs = {"path": "backend", "sarif-file": "results/pgforklint.sarif", "args": "--fail-on error"}
    (workspace / "results").mkdir()
    outputs, proc, summary = run_action(workspace, temp, inputs, steps=["lint"], outputs=outputs)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # findings fail the step
    assert proc.stdout.startswith("::error file=backend/app/db.py,line=8,"), proc.stdout
    assert "| error | PGF001 (connection-before-fork) | backend/app/db.py\\:8\\:6 |" in summary.read_text(encoding="utf-8")
    sarif = json.loads((workspace / "results" / "pgforklint.sarif").read_text(encoding="utf-8"))
    [result] = sarif["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "backend/app/db.py"
    assert outputs["lint"]["sarif-file"] == "results/pgforklint.sarif"


def test_action_passes_on_a_clean_project_and_fails_on_a_crash(installed, workspace):
    temp, outputs = installed
    outputs = {k: dict(v) for k, v in outputs.items()}
    _, proc, _ = run_action(workspace, temp, {"path": "clean"}, steps=["lint"], outputs=dict(outputs))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # a configuration error is exit 2 even with a SARIF file asked for: nothing hides it
    (workspace / "clean" / ".pgforklint.toml").write_text("select = [\n", encoding="utf-8")
    _, proc, _ = run_action(workspace, temp, {"path": "clean", "sarif-file": "x.sarif"}, steps=["lint"],
                            outputs=dict(outputs))
    assert proc.returncode == 2 and "invalid TOML" in proc.stderr


def test_action_inputs_cannot_inject_shell(installed, workspace):
    temp, outputs = installed
    outputs = {k: dict(v) for k, v in outputs.items()}
    marker = workspace / "pwned"
    _, proc, _ = run_action(workspace, temp, {"path": f"clean; touch {marker}", "args": f"$(touch {marker})"},
                            steps=["lint"], outputs=dict(outputs))
    assert proc.returncode == 2 and not marker.exists()


def test_readme_workflow_uses_the_action_inputs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```yaml\n(name: pgforklint\n.*?)```", readme, re.DOTALL)
    assert match, "README has no complete workflow"
    workflow = yaml.safe_load(match.group(1))
    steps = workflow["jobs"]["pgforklint"]["steps"]
    ours = [s for s in steps if str(s.get("uses", "")).startswith("pgforklint/pgforklint@")]
    assert len(ours) == 1 and set(ours[0].get("with", {})) <= set(ACTION["inputs"])
    upload = [s for s in steps if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif@")]
    assert upload and upload[0]["with"]["sarif_file"] == ours[0]["with"]["sarif-file"]
    assert "always()" in str(upload[0].get("if", "")) or "failure()" in str(upload[0].get("if", ""))
    assert workflow["permissions"]["security-events"] == "write"
    assert "|| true" not in readme
