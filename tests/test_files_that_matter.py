"""Files that do not matter to the analysis are not read, so a broken one is not reported.

Seen on Weblate's source: a Joomla translation file `tests/data/cs.joomla.ini` was reported as
PGF100 because every INI file was parsed to look for a [uwsgi] section.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pgforklint.analyze import lint_project
from pgforklint.config import Config

FIXTURES = Path(__file__).parent / "fixtures"


def _codes(root: Path) -> set[tuple[str, str]]:
    return {(d.code, d.location.path) for d in lint_project(root, Config()).diagnostics}


def test_broken_unrelated_ini_yaml_xml_are_not_reported(tmp_path: Path) -> None:
    root = tmp_path / "app"
    shutil.copytree(FIXTURES / "gunicorn_warmup_query", root)
    (root / "tests" / "data").mkdir(parents=True)
    (root / "tests" / "data" / "cs.joomla.ini").write_bytes(b'COM_X="P\xf8eklad"\n[broken\n')
    (root / "mkdocs.yml").write_text("nav: [unclosed\n", encoding="utf-8")
    (root / "chart").mkdir()
    (root / "chart" / "values.yaml").write_text("replicas: {{ .Values.replicas }}\n", encoding="utf-8")
    assert _codes(root) == {("PGF001", "app/db.py")}


def test_broken_uwsgi_config_is_reported_by_name_or_content(tmp_path: Path) -> None:
    root = tmp_path / "app"
    shutil.copytree(FIXTURES / "gunicorn_warmup_query", root)
    (root / "deploy").mkdir()
    (root / "deploy" / "uwsgi.yaml").write_text("uwsgi: [unclosed\n", encoding="utf-8")
    (root / "deploy" / "server.ini").write_text("[uwsgi]\nmodule = app.wsgi\n[broken\n", encoding="utf-8")
    assert {("PGF100", "deploy/uwsgi.yaml"), ("PGF100", "deploy/server.ini")} <= _codes(root)


def test_helm_chart_templates_are_one_notice_per_chart_not_errors(tmp_path: Path) -> None:
    """Helm templates are Go templates, not YAML: one PGF101 on the chart, no PGF100 per template."""
    root = tmp_path / "app"
    shutil.copytree(FIXTURES / "gunicorn_warmup_query", root)
    templates = root / "deploy" / "chart" / "templates"
    templates.mkdir(parents=True)
    (root / "deploy" / "chart" / "Chart.yaml").write_text("apiVersion: v2\nname: shop\nversion: 0.1.0\n")
    for name in ("web.yaml", "worker.yaml"):
        (templates / name).write_text(
            "apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: {{ .Values.replicas }}\n"
            "  template:\n    spec:\n      containers:\n        - command: [gunicorn]\n"
        )
    result = lint_project(root, Config())
    found = {(d.code, d.location.path) for d in result.diagnostics}
    assert found == {("PGF001", "app/db.py"), ("PGF101", "deploy/chart/Chart.yaml")}
    notice = next(d for d in result.diagnostics if d.code == "PGF101")
    assert "helm template" in notice.message


def test_vendored_and_sub_charts_deploy_nothing_of_this_repository(tmp_path: Path) -> None:
    root = tmp_path / "app"
    shutil.copytree(FIXTURES / "gunicorn_warmup_query", root)
    for chart in ("deploy/chart", "deploy/chart/charts/redis", "deploy/thirdparty/ingress-nginx"):
        (root / chart / "templates").mkdir(parents=True)
        (root / chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {chart.rsplit('/', 1)[-1]}\nversion: 0.1.0\n")
        (root / chart / "templates" / "deployment.yaml").write_text("kind: Deployment\nspec:\n  replicas: {{ .Values.n }}\n")
    result = lint_project(root, Config())
    assert {(d.code, d.location.path) for d in result.diagnostics if d.code == "PGF101"} == {
        ("PGF101", "deploy/chart/Chart.yaml")}
