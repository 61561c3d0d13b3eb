"""What the Ruby findings say: the configured numbers and the Ruby symptoms, not Python's."""

from __future__ import annotations

from pathlib import Path

from pgforklint.analyze import lint_project
from pgforklint.config import find_config

FIXTURES = Path(__file__).parent / "fixtures"


def findings(name: str, code: str) -> list:
    root = FIXTURES / name
    return [d for d in lint_project(root, find_config(root)).diagnostics if d.code == code]


def test_pgf005_says_the_configured_checkout_timeout() -> None:
    (finding,) = findings("pool_below_puma_threads_checkout_timeout", "PGF005")
    assert "within 12.000 seconds" in finding.message


def test_pgf005_says_the_default_checkout_timeout_without_one() -> None:
    (finding,) = findings("pool_below_puma_threads", "PGF005")
    assert "within 5.000 seconds" in finding.message


def test_one_pgf001_for_a_pg_connection_and_its_boot_query() -> None:
    (finding,) = findings("puma_pg_connect_then_query_at_boot", "PGF001")
    assert (finding.location.path, finding.location.line) == ("config.ru", 5)
    assert [r.location.line for r in finding.related if "$db.exec" in r.message] == [6]


def test_pgf001_for_ruby_says_the_ruby_symptoms_and_advice() -> None:
    for name in ("puma_pg_connect_then_query_at_boot", "rt_ruby_puma_sequel", "rt_ruby_unicorn_pg"):
        for finding in findings(name, "PGF001"):
            text = finding.message + " " + (finding.help or "")
            assert "SSL SYSCALL" not in text and "`with` block" not in text
            assert "message type 0x44 arrived from server while idle" in finding.message
            assert "another request's rows" in finding.message
    (raw,) = findings("rt_ruby_unicorn_pg", "PGF001")
    assert "`after_fork`" in raw.message and ".close` in `before_fork`" in raw.message


def test_solid_queue_plugin_row_has_the_web_instances() -> None:
    from pgforklint.budget import compute

    root = FIXTURES / "budget_puma_solid_queue_plugin_over"
    model = lint_project(root, find_config(root)).model
    rows = {row.name: row for row in compute(model).rows}
    plugin = rows["web (solid_queue plugin)"]
    assert (plugin.n_instances, plugin.n_processes, plugin.total_expected) == (2, 1, 12)
    scaled = {row.name: row for row in compute(model, {"web": 3}).rows}
    assert scaled["web (solid_queue plugin)"].n_instances == 3


def test_solid_queue_plugin_under_an_env_condition_counts_in_the_worst_case_only() -> None:
    (finding,) = findings("budget_puma_solid_queue_plugin_if_env_worst", "PGF011")
    assert 'if ENV["SOLID_QUEUE_IN_PUMA"]' in finding.message and "autoscaler" not in finding.message


def test_sidekiq_capsules_in_code_add_up() -> None:
    (finding,) = findings("sidekiq_capsules_in_code_over_pool", "PGF005")
    assert "runs 8 threads" in finding.message


def test_solid_queue_plugin_condition_decided_by_the_procfile(tmp_path) -> None:
    import shutil

    from pgforklint.budget import compute

    root = tmp_path / "app"
    shutil.copytree(FIXTURES / "budget_puma_solid_queue_plugin_if_env_worst", root)
    for value, expected in (("true", 2), ("", 2)):  # any string is true in Ruby, the empty one too
        (root / "Procfile").write_text(f"web: SOLID_QUEUE_IN_PUMA={value} bundle exec puma -C config/puma.rb\n")
        rows = {row.name: row for row in compute(lint_project(root, find_config(root)).model).rows}
        assert rows["web (solid_queue plugin)"].n_instances == expected


def test_checkout_timeout_is_read_per_database_with_inheritance(tmp_path) -> None:
    import shutil

    root = tmp_path / "app"
    shutil.copytree(FIXTURES / "pool_below_puma_threads_checkout_timeout", root)
    (root / "config" / "database.yml").write_text(
        "default: &default\n  adapter: postgresql\n  checkout_timeout: 12\n\n"
        "production:\n  primary:\n    <<: *default\n    database: shop\n    pool: 2\n"
        "  cache:\n    adapter: postgresql\n    database: shop_cache\n    pool: 2\n"
        "  queue:\n    <<: *default\n    database: shop_queue\n    pool: 2\n    checkout_timeout: 2.5\n")
    said = {d.location.line: d.message for d in lint_project(root, find_config(root)).diagnostics if d.code == "PGF005"}
    assert "within 12.000 seconds" in said[9]
    assert "within 5.000 seconds" in said[13]
    assert "within 2.500 seconds" in said[17]
