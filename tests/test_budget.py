"""`pgforklint budget --format json`: the numbers on the budget fixtures, checked against hand calculations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pgforklint.cli import main

FIXTURES = Path(__file__).parent / "fixtures"


def budget_json(capsys, *args: str) -> tuple[int, dict]:
    code = main(["budget", *args, "--format", "json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def row(data: dict, name: str) -> dict:
    return next(r for r in data["process_types"] if r["name"] == name)


def test_hand_calculation_3x3x2_against_20(capsys):
    # 3 instances x 3 sync workers x pool 2: worst 18 > 20 - 3 = 17; expected 3 x 3 x min(1, 2) = 9.
    code, data = budget_json(capsys, str(FIXTURES / "budget_compose_hand_calc"))
    assert (data["max_connections"], data["reserved"], data["available"]) == (20, 3, 17)
    assert (data["expected_peak"], data["worst_case"], data["verdict"]) == (9, 18, "fits-expected-only")
    web = row(data, "web")
    assert (web["instances"], web["processes"], web["threads"]) == (3, 3, 1)
    assert (web["per_process_expected"], web["per_process_worst"], web["total_expected"], web["total_worst"]) == (1, 2, 9, 18)
    assert "docker-compose.yml:10" in web["sources"]["instances"]
    assert code == 1  # PGF011 is a warning, at the default fail-on


def test_scale_override_on_the_command_line(capsys):
    code, data = budget_json(capsys, str(FIXTURES / "budget_compose_hand_calc"), "--scale", "web=6")
    assert (data["expected_peak"], data["worst_case"], data["verdict"]) == (18, 36, "exceeded")
    assert row(data, "web")["instances"] == 6
    assert code == 1


def test_heroku_plan_is_a_role_limit_and_web_concurrency_comes_from_the_dyno_size(capsys):
    code, data = budget_json(capsys, str(FIXTURES / "budget_heroku"))
    # essential-0: 20 connections per role; reserved superuser slots do not reduce a role's limit.
    assert (data["role_limit"], data["available"]) == (20, 20)
    web = row(data, "web")
    # 3 standard-2x dynos, WEB_CONCURRENCY=4 from the Python buildpack, 4 gthread threads, default pool 5+10.
    assert (web["instances"], web["processes"], web["threads"]) == (3, 4, 4)
    assert (web["per_process_expected"], web["per_process_worst"]) == (4, 15)
    assert (data["expected_peak"], data["worst_case"], data["verdict"]) == (48, 180, "exceeded")
    assert code == 1


def test_kubernetes_replicas(capsys):
    _, data = budget_json(capsys, str(FIXTURES / "budget_kubernetes"))
    api = row(data, "api")
    assert (api["instances"], api["processes"], api["threads"], api["per_process_expected"]) == (4, 4, 8, 8)
    assert (data["available"], data["expected_peak"], data["worst_case"]) == (97, 128, 240)


def test_pgbouncer_transaction_mode_fits_only_because_of_the_pooler(capsys):
    code, data = budget_json(capsys, str(FIXTURES / "ok_budget_pgbouncer"))
    assert data["server_available"] == 47 and data["expected_peak"] == 64  # would not fit without PgBouncer
    assert data["available"] == 500 and data["pooler"]["server_connections"] == 20
    assert data["verdict"] == "fits" and code == 0


def test_config_scale_and_max_connections(capsys):
    _, data = budget_json(capsys, str(FIXTURES / "ok_budget_fits"))
    web = row(data, "web")
    assert (web["instances"], web["processes"], data["max_connections"], data["available"]) == (2, 3, 50, 47)
    assert (data["expected_peak"], data["worst_case"], data["verdict"]) == (6, 6, "fits")
    assert "[tool.pgforklint.scale] web" in web["sources"]["instances"]


def test_parent_holding_a_connection_adds_one_per_instance(capsys):
    # runtime-evidence.md: W * min(T, P+O) + 1 = 2 * min(4, 4) + 1 = 9 measured.
    _, data = budget_json(capsys, str(FIXTURES / "rt_budget_fits"))
    assert (data["expected_peak"], data["worst_case"]) == (9, 9)
    _, data = budget_json(capsys, str(FIXTURES / "rt_budget_over"))
    assert (data["expected_peak"], data["worst_case"], row(data, "web")["parent"]) == (25, 25, 1)


def test_new_relic_adds_one_per_process(capsys):
    _, data = budget_json(capsys, str(FIXTURES / "budget_newrelic"))
    web = row(data, "web")
    # 2 instances x 4 workers x (min(2 threads, pool 2) + 1 EXPLAIN connection)
    assert (web["per_process_expected"], data["expected_peak"]) == (3, 24)


def test_env_workers_with_and_without_default(capsys):
    _, data = budget_json(capsys, str(FIXTURES / "budget_env_workers"))
    assert row(data, "web")["processes"] == 4  # ${WEB_WORKERS:-4}
    assert row(data, "api")["processes"] == 1  # $API_WORKERS has no value: counted as 1
    assert data["available"] == 37


def test_unbounded_worst_case(capsys):
    _, data = budget_json(capsys, str(FIXTURES / "budget_unbounded"))
    assert data["worst_case"] is None and row(data, "web")["per_process_worst"] is None


def test_text_table_shows_sources_and_verdict(capsys):
    assert main(["budget", str(FIXTURES / "budget_compose_hand_calc")]) == 1  # PGF011, a warning
    out = capsys.readouterr().out
    assert "Connection budget: expected peak 9, worst case 18, available 17" in out
    assert "max_connections 20 - 3 reserved = 17" in out
    assert "3 instance(s): Compose deploy.replicas, docker-compose.yml:10" in out


def test_text_fits_in_80_columns_without_nested_parentheses(capsys, monkeypatch):
    import re

    for fixture in ("budget_heroku", "budget_newrelic", "budget_unbounded", "budget_kubernetes", "ok_budget_pgbouncer"):
        main(["budget", str(FIXTURES / fixture)])
        out = capsys.readouterr().out
        for line in out.splitlines():
            assert len(line) <= 80, (fixture, line)
            assert not re.search(r"\([^()]*\(", line), (fixture, line)
        assert "engine engine" not in out and "file (" not in out


def test_chart_draws_each_process_type_against_the_available_line(capsys):
    main(["budget", str(FIXTURES / "budget_compose_hand_calc")])
    out = capsys.readouterr().out
    bars = [line for line in out.splitlines() if line.startswith(("web ", "total "))][-2:]
    assert len(bars) == 2
    # the available line (17 of a chart whose widest value is 18) stands in the same column in every bar
    columns = {bar.index("|") if "|" in bar else bar.index("\u2502") for bar in bars}
    assert len(columns) == 1
    assert bars[0].rstrip().endswith("9 / 18")


def test_budget_exit_status_follows_fail_on(capsys):
    hand_calc = str(FIXTURES / "budget_compose_hand_calc")  # only the worst case is over: PGF011, a warning
    assert main(["budget", hand_calc]) == 1
    assert main(["budget", hand_calc, "--fail-on", "error"]) == 0
    assert main(["budget", hand_calc, "--exit-zero"]) == 0
    assert main(["budget", str(FIXTURES / "budget_heroku"), "--fail-on", "error"]) == 1  # PGF004, an error
    assert main(["budget", str(FIXTURES / "ok_budget_fits")]) == 0
    capsys.readouterr()


def test_scale_for_an_unknown_process_type_is_an_error_naming_the_known_ones(capsys, tmp_path):
    assert main(["budget", str(FIXTURES / "budget_heroku"), "--scale", "wbe=3"]) == 2
    err = capsys.readouterr().err
    assert "'wbe' is not a process type" in err and "`web`" in err
    project = tmp_path / "app"
    import shutil

    shutil.copytree(FIXTURES / "ok_budget_fits", project)
    config = project / "pyproject.toml"
    config.write_text(config.read_text().replace("web = 2", "webb = 2"))
    assert main([str(project)]) == 0  # the lint run says it and goes on; `pgforklint budget` stops
    assert "warning: pyproject.toml: [tool.pgforklint.scale]: 'webb' is not a process type" in capsys.readouterr().err
    assert main(["budget", str(project)]) == 2
    assert "'webb' is not a process type" in capsys.readouterr().err


def test_one_engine_reached_by_two_walks_counts_once(capsys):
    _, data = budget_json(capsys, str(FIXTURES / "ok_budget_engine_reached_twice"))
    web = row(data, "web")
    assert len(web["engines"]) == 1
    assert (web["per_process_expected"], web["per_process_worst"], data["expected_peak"], data["worst_case"]) == (1, 2, 4, 8)


def test_development_compose_beside_heroku_is_not_counted(capsys):
    _, data = budget_json(capsys, str(FIXTURES / "ok_budget_dev_compose_beside_heroku"))
    assert [r["name"] for r in data["process_types"]] == ["web", "worker"]
    assert all(r["sources"]["instances"].startswith("app.json") for r in data["process_types"])
    assert data["expected_peak"] == 6
    left = {(item["name"], item["location"]) for item in data["not_counted"]}
    assert left == {("web", "docker-compose.yml:7"), ("worker", "docker-compose.yml:10")}
    main(["budget", str(FIXTURES / "ok_budget_dev_compose_beside_heroku")])
    out = capsys.readouterr().out
    assert "development-files" in out and "--reload" in out


def test_development_files_setting_replaces_the_guess(capsys, tmp_path):
    import shutil

    project = tmp_path / "app"
    shutil.copytree(FIXTURES / "ok_budget_dev_compose_beside_heroku", project)
    (project / "pyproject.toml").write_text("[tool.pgforklint]\ndevelopment-files = []\n")
    _, data = budget_json(capsys, str(project))
    assert data["expected_peak"] == 6 + 4 + 16 and data["not_counted"] == []


def test_server_configuration_no_launch_uses_is_not_counted(capsys):
    _, data = budget_json(capsys, str(FIXTURES / "ok_budget_sample_ini_not_launched"))
    assert [r["name"] for r in data["process_types"]] == ["web"]
    assert data["not_counted"] == [{"name": "uwsgi", "location": "uwsgi-sample.ini:2",
                                    "reason": "no launch in the repository uses this configuration"}]


@pytest.mark.parametrize("bad", ["web", "web=x", "=3"])
def test_bad_scale_is_a_usage_error(capsys, bad):
    assert main(["budget", str(FIXTURES / "ok_budget_fits"), "--scale", bad]) == 2
    assert "--scale" in capsys.readouterr().err


def test_lint_message_shows_the_hand_calculation():
    from pgforklint.analyze import lint_project
    from pgforklint.config import find_config

    fixture = FIXTURES / "budget_compose_hand_calc"
    found = lint_project(fixture, find_config(fixture)).diagnostics
    assert [d.code for d in found] == ["PGF011"]
    message = found[0].message
    assert "`web` 3 x (3 x 1) = 9" in message and "`web` 3 x (3 x 2) = 18" in message
    assert "max_connections 20 - 3 reserved = 17" in message


def test_render_autoscaling_counts_the_maximum_in_the_worst_case_only(capsys):
    _, data = budget_json(capsys, str(FIXTURES / "budget_render_autoscaling"))
    api = row(data, "api")
    assert (api["instances"], api["max_instances"], api["processes"]) == (2, 6, 4)
    assert (api["total_expected"], api["total_worst"]) == (8, 48)
    assert "render.yaml:9" in api["sources"]["max_instances"]
    assert row(data, "jobs")["instances"] == 2


def test_fly_process_groups_are_launches_with_an_assumed_machine_count(capsys):
    _, data = budget_json(capsys, str(FIXTURES / "budget_fly_processes"))
    assert [(r["name"], r["server"], r["instances"], r["processes"]) for r in data["process_types"]] == [
        ("web", "gunicorn", 1, 3), ("worker", "celery", 1, 4)]
    assert "fly scale count" in row(data, "web")["sources"]["instances"]


def test_cloud_foundry_processes_and_instances(capsys):
    _, data = budget_json(capsys, str(FIXTURES / "budget_cloud_foundry"))
    web = row(data, "web")
    assert (web["instances"], web["processes"], web["threads"], web["total_expected"]) == (3, 4, 2, 24)
    assert row(data, "worker")["instances"] == 1


def test_kubernetes_autoscaler_maximum_is_the_worst_case(capsys):
    code, data = budget_json(capsys, str(FIXTURES / "budget_kubernetes_autoscaler"))
    web = row(data, "web")
    assert (web["instances"], web["max_instances"], web["total_expected"], web["total_worst"]) == (2, 10, 8, 40)
    assert data["verdict"] == "fits-expected-only" and code == 1


def test_pgbouncer_session_mode_gives_each_client_a_server_connection(capsys):
    code, data = budget_json(capsys, str(FIXTURES / "budget_pgbouncer_session"))
    # 64 clients: PgBouncer holds 20 server connections (one per client in session mode), the rest wait
    assert (data["expected_peak"], data["available"], data["pooler"]["server_connections"]) == (64, 20, 20)
    assert data["verdict"] == "exceeded" and code == 1


def test_uwsgi_ini_numbers_are_read_as_uwsgi_reads_them(capsys):
    _, data = budget_json(capsys, str(FIXTURES / "budget_uwsgi_ini_values"))
    web, worker = row(data, "web"), row(data, "worker")
    assert web["processes"] == 16  # `16 ; sized for 8 cores`: atoi reads 16
    assert "ignores `; sized for 8 cores`" in web["sources"]["processes"]
    assert web["threads"] is None and "$worker_threads" in web["sources"]["concurrency"]
    assert worker["processes"] == 1 and "$(UWSGI_WORKERS) has no value" in worker["sources"]["processes"]
    main(["budget", str(FIXTURES / "budget_uwsgi_ini_values")])
    out = capsys.readouterr().out
    assert "16 ; " not in out.replace("`; sized", "")


def test_database_defined_under_a_condition_counts_in_the_worst_case_only(capsys):
    _, data = budget_json(capsys, str(FIXTURES / "budget_django_conditional_replica"))
    web = row(data, "web")
    engines = {e["name"]: (e["expected"], e["worst"]) for e in web["engines"]}
    assert engines == {"DATABASES['default']": (2, 2), "DATABASES['replica']": (0, 2)}
    assert (data["expected_peak"], data["worst_case"]) == (8, 16)
    assert "worst case only" in web["sources"]["engine DATABASES['replica']"]


def test_markdown_summary_has_the_table_and_a_mermaid_chart_and_escapes_names():
    from pgforklint.budget import Budget, Row
    from pgforklint.budget_cli import render_markdown
    from pgforklint.diagnostics import Location
    from pgforklint.model import Flag, Origin, OriginKind, Quantity, Server, ServerKind

    def q(value):
        return Quantity(value, Origin(OriginKind.FILE, None, ""))

    server = Server(ServerKind.GUNICORN, Location("Procfile", 1), True, Flag(False, Origin(OriginKind.DEFAULT)), q(2), q(1))
    name = 'web"]\n```\n<img src=x>|`'
    budget = Budget([Row(name, Location("Procfile", 1), None, server, q(3), q(2), q(1), 1, "")], q(20), q(3), None,
                    True, None)
    out = render_markdown(budget)
    assert "```mermaid" in out and "xychart-beta" in out and "line [17, 17]" in out
    table_row = next(line for line in out.splitlines() if line.startswith("| web"))
    import re

    assert not re.search(r"(?<!\\)<img", out) and "\n```\n<" not in out
    assert table_row.count("|") - table_row.count("\\|") == 7
    assert 'x-axis ["web________img src_x___", "total"]' in out


def test_agent_counts_only_for_the_script_branch_it_wraps(capsys):
    _, data = budget_json(capsys, str(FIXTURES / "budget_newrelic_one_branch"))
    web, worker = row(data, "web"), row(data, "worker")
    assert [k for k in web["sources"] if k.startswith("agent")] == ["agent newrelic"]
    assert not [k for k in worker["sources"] if k.startswith("agent")]
    assert (web["per_process_expected"], worker["per_process_expected"]) == (2, 1)
    assert data["expected_peak"] == 2 * 2 * 2 + 1 * 2 * 1


def test_django_environ_pool_sizes_and_celery_concurrency_zero(capsys):
    _, data = budget_json(capsys, str(FIXTURES / "budget_django_environ_pool"))
    web, worker = row(data, "web"), row(data, "worker")
    # env("DB_POOL_MIN_SIZE", default=1), env("DB_POOL_MAX_SIZE", default=8): 4 threads use 4 of the 8
    assert (web["per_process_expected"], web["per_process_worst"]) == (4, 8)
    # --concurrency=0 is "the number of CPUs" to Celery: unknown, counted as 1 and said
    assert worker["processes"] == 1 and "number of CPUs" in worker["sources"]["processes"]


def test_pool_above_the_threads_with_the_reaper_on_is_said_to_be_deliberate(capsys):
    _, data = budget_json(capsys, str(FIXTURES / "ok_pool_reaping_headroom"))
    web = row(data, "web")
    assert (web["per_process_expected"], web["per_process_worst"]) == (3, 6)
    note = next(v for k, v in web["sources"].items() if k.startswith("engine"))
    assert "reaping_frequency" in note and "on purpose" in note


def test_script_branches_that_run_the_same_command_are_one_process(capsys):
    _, data = budget_json(capsys, str(FIXTURES / "ok_launch_health_check_branches"))
    assert [(r["name"], r["processes"]) for r in data["process_types"]] == [("worker", 2)]


def test_a_staging_environment_is_not_added_to_production(capsys):
    _, data = budget_json(capsys, str(FIXTURES / "ok_budget_staging_manifest_not_counted"))
    assert data["expected_peak"] == 8
    assert [(left["location"], left["reason"].split(":")[0]) for left in data["not_counted"]] == [
        ("manifests/manifest_worker_stage.yml:5", "not production")]


def test_two_platforms_are_two_budgets_and_the_choice_is_said(capsys):
    _, data = budget_json(capsys, str(FIXTURES / "ok_budget_two_platforms_separate"))
    assert data["expected_peak"] == 8
    assert [left["reason"] for left in data["not_counted"]] == [
        "another deployment of the app (Compose), with its own database: the budget counts the Cloud Foundry deployment"]


def test_dev_tool_folders_and_smoke_scripts_are_development(capsys, tmp_path):
    """A coding agent's skill that starts the server for a smoke test is not a deployment (rubygems-org's
    `.agents/skills/run-rubygems-org/smoke.sh`); one script reaching the same server command on several paths
    (a `fail` helper called from many places) is one process type, not extra ones."""
    from pgforklint.extract.deployments import development_name

    assert development_name(".agents/skills/run-shop/smoke.sh") == ".agents"
    assert development_name(".devcontainer/docker-compose.yml") == ".devcontainer"
    assert development_name("scripts/smoke.sh") == "smoke"
    assert development_name("agents/worker/Procfile") is None  # an app folder named agents
    import shutil

    project = tmp_path / "shop"
    shutil.copytree(FIXTURES / "puma_unread_workers_preload_rails51", project)
    (project / ".agents/skills/run-shop").mkdir(parents=True)
    (project / ".agents/skills/run-shop/smoke.sh").write_text(
        "#!/usr/bin/env bash\nfail() { echo \"$*\"; exit 1; }\n"
        "if ! curl -s localhost:3000; then\n  bundle exec rails server -p 3000 &\nelse\n"
        "  bundle exec rails server -p 3000 &\nfi\ncurl -sf localhost:3000 || fail down\n")
    _, data = budget_json(capsys, str(project))
    assert [r["name"] for r in data["process_types"]] == ["web"]
    assert [item["location"] for item in data["not_counted"]] == [".agents/skills/run-shop/smoke.sh:4"]


def test_one_launch_running_the_same_ruby_server_command_twice_is_one_server():
    from pgforklint.diagnostics import Location
    from pgforklint.extract.ruby import ruby_launches
    from pgforklint.launch import Launch
    from pgforklint.read.command import parse_commands

    commands = parse_commands("bundle exec rails server -p 3000; curl -s localhost; bundle exec rails server -p 3000")
    launch = Launch("smoke", "shell", "sh smoke.sh", Location("smoke.sh", 1), commands)
    assert [r.kind for r in ruby_launches([launch], None)] == ["puma"]


def test_an_image_branch_a_compose_service_selects_is_counted_once(capsys):
    _, data = budget_json(capsys, str(FIXTURES / "ok_launch_entrypoint_branch_selected_by_compose"))
    assert [r["name"] for r in data["process_types"]] == ["docker/entrypoint.sh [web]", "worker"]
    assert row(data, "worker")["instances"] == 2 and row(data, "docker/entrypoint.sh [web]")["instances"] == 2
    assert (data["expected_peak"], data["worst_case"]) == (8, 24) and data["not_counted"] == []


def test_a_compose_service_that_keeps_its_image_s_command_is_part_of_the_same_deployment(capsys):
    # `web` has no `command:` (its line is the Dockerfile's CMD): still the same Compose deployment as `worker`.
    # The same service in compose.dev.yaml, at the same Dockerfile line, is left out by its Compose file's name.
    _, data = budget_json(capsys, str(FIXTURES / "ok_budget_compose_service_keeps_image_command"))
    assert [r["name"] for r in data["process_types"]] == ["web", "worker"]
    assert data["not_counted"] == [{"name": "web (compose.dev.yaml)", "location": "Dockerfile:6", "reason":
                                    "not production: `compose.dev.yaml` is named like a development or test setup (`dev`)"}]
    assert (data["expected_peak"], data["worst_case"]) == (5, 10)
