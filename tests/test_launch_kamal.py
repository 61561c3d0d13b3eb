"""Kamal's `config/deploy.yml` as a launch source (`pgforklint.launch.kamal`): roles, hosts, env, destinations,
the image Kamal builds, and where a Kamal deployment stands among the repository's other platforms.
End-to-end shapes are fixtures (`tests/fixtures/*kamal*`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from projects import project, tree

from pgforklint.analyze import build_model
from pgforklint.launch import all_launches

GEMFILE_LOCK = """\
GEM
  remote: https://rubygems.org/
  specs:
    activerecord (8.0.2)
    pg (1.5.9)
    rails (8.0.2)
    puma (6.6.0)
    solid_queue (1.1.5)

DEPENDENCIES
  rails (= 8.0.2)
"""
RAILS = {
    "Gemfile.lock": GEMFILE_LOCK,
    "config/application.rb": "require \"rails/all\"\n\nmodule Shop\n  class Application < Rails::Application\n  end\nend\n",
    "config/database.yml": "production:\n  adapter: postgresql\n  database: shop\n  pool: 5\n",
    "config/puma.rb": "threads_count = ENV.fetch(\"RAILS_MAX_THREADS\", 3)\nthreads threads_count, threads_count\n",
    "bin/docker-entrypoint": "#!/bin/bash -e\nif [ \"$1\" = \"./bin/rails\" ]; then\n  ./bin/rails db:prepare\nfi\nexec \"${@}\"\n",
    "bin/jobs": "#!/usr/bin/env ruby\nrequire_relative \"../config/environment\"\n",
    "Dockerfile": (
        "FROM ruby:3.4-slim\nWORKDIR /rails\nENV RAILS_ENV=production WEB_CONCURRENCY=8\nCOPY . .\n"
        "ENTRYPOINT [\"/rails/bin/docker-entrypoint\"]\nCMD [\"./bin/thrust\", \"./bin/rails\", \"server\"]\n"
    ),
}


def kamal(root: Path) -> dict:
    return {launch.name: launch for launch in all_launches(project(root)) if launch.source == "kamal"}


def test_roles_hosts_and_commands_in_the_image_kamal_builds(tmp_path: Path) -> None:
    root = tree(tmp_path, {**RAILS, "config/deploy.yml": """\
        service: shop
        image: shop/shop
        servers:
          web:
            - 10.0.0.1
            - 10.0.0.2: experiments
            - 10.0.0.1
            - <%= ENV["EXTRA_HOST"] %>
          jobs:
            hosts: 10.0.0.9
            cmd: bin/jobs
          idle:
            hosts: []
            cmd: bin/jobs
          reports:
            hosts: <%= ENV["REPORT_HOSTS"].split(",") %>
            cmd: bin/jobs
        """})
    launches = kamal(root)
    assert sorted(launches) == ["jobs", "reports", "web"]  # a role with no hosts runs nowhere
    assert launches["reports"].extra["instances"][0] is None  # how many hosts ERB lists is not in the repository
    web, jobs = launches["web"], launches["jobs"]
    # a host listed twice is one container; an ERB host is one more, unknown
    assert web.extra["instances"][0] == 3 and web.extra["instances"][1].line == 4
    assert jobs.extra["instances"][0] == 1 and jobs.extra["instances"][1].line == 10
    # without `cmd` the image's CMD runs after its ENTRYPOINT; Thruster runs `bin/rails server` as its child
    assert web.location.line == 4 and [c.args for c in web.commands][-1] == ["./bin/rails", "server"]
    assert web.commands[-1].wrappers == ("thrust",)
    # `cmd` replaces the CMD and keeps the ENTRYPOINT script, which execs it
    assert jobs.location.line == 11 and [c.args for c in jobs.commands] == [["bin/jobs"]]
    assert jobs.via and jobs.via[0].path == "bin/docker-entrypoint"
    assert web.workdir == "" and web.paths is not None
    # the Dockerfile's own CMD is the web role, not another process
    assert not [launch for launch in all_launches(project(root)) if launch.source == "dockerfile"]


def test_erb_in_a_role_command(tmp_path: Path) -> None:
    root = tree(tmp_path, {**RAILS, "config/deploy.yml": """\
        servers:
          web:
            hosts: [10.0.0.1]
            cmd: bundle exec puma -w <%= ENV["PUMA_WORKERS"] %>
          jobs:
            hosts: [10.0.0.2]
            cmd: <%= ENV["JOBS_COMMAND"] %>
        """})
    # a command written with ERB is not in the repository, and not the image's CMD either
    assert kamal(root) == {}


def test_a_list_of_servers_is_the_web_role(tmp_path: Path) -> None:
    root = tree(tmp_path, {**RAILS, "config/deploy.yml": "service: shop\nservers:\n  - 10.0.0.1\n  - 10.0.0.2\n"})
    web = kamal(root)["web"]
    assert web.extra["instances"][:2][0] == 2 and web.location.line == 2


def test_env_clear_and_secret_global_then_role(tmp_path: Path) -> None:
    root = tree(tmp_path, {**RAILS, "config/deploy.yml": """\
        service: shop
        servers:
          web:
            - 10.0.0.1
          jobs:
            hosts:
              - 10.0.0.2
            cmd: bin/jobs
            env:
              clear:
                RAILS_MAX_THREADS: 3
                DB_PASSWORD: visible-here
              secret:
                - JOB_CONCURRENCY
        env:
          clear:
            RAILS_MAX_THREADS: 5
            SOLID_QUEUE_IN_PUMA: true
            JOB_CONCURRENCY: 2
            DB_HOST: <%= ENV["DB_HOST"] %>
          secret:
            - DB_PASSWORD:MAIN_DB_PASSWORD
            - WEB_CONCURRENCY
        """})
    launches = kamal(root)
    web, jobs = launches["web"], launches["jobs"]
    assert web.env["RAILS_MAX_THREADS"] == "5" and web.env_locations["RAILS_MAX_THREADS"].line == 17
    assert web.env["SOLID_QUEUE_IN_PUMA"] == "true" and web.env["JOB_CONCURRENCY"] == "2"
    # a secret's value is not in the repository: it replaces the image's ENV WEB_CONCURRENCY=8 with an unknown
    assert "WEB_CONCURRENCY" not in web.env and "DB_PASSWORD" not in web.env and "DB_HOST" not in web.env
    assert set(web.extra["kamal_secrets"]) == {"WEB_CONCURRENCY", "DB_PASSWORD", "DB_HOST"}
    assert web.env["RAILS_ENV"] == "production"  # the image's ENV stays where Kamal sets nothing
    # the role's env wins over the top-level one, clear over secret and secret over clear
    assert jobs.env["RAILS_MAX_THREADS"] == "3" and jobs.env_locations["RAILS_MAX_THREADS"].line == 11
    assert jobs.env["DB_PASSWORD"] == "visible-here" and "JOB_CONCURRENCY" not in jobs.env


def test_simple_env_form_and_a_production_destination_merged_over_deploy_yml(tmp_path: Path) -> None:
    root = tree(tmp_path, {**RAILS,
        "config/deploy.yml": "servers:\n  web:\n    hosts:\n      - 10.0.0.1\n    cmd: bundle exec puma\n"
                             "env:\n  WEB_CONCURRENCY: 2\n  RAILS_MAX_THREADS: 5\n",
        "config/deploy.production.yml": "servers:\n  web:\n    hosts:\n      - 10.9.0.1\n      - 10.9.0.2\n"
                                        "env:\n  WEB_CONCURRENCY: 4\n",
        "config/deploy.staging.yml": "servers:\n  web:\n    hosts: [a, b, c, d, e]\n    cmd: bundle exec puma -w 9\n",
    })
    web = kamal(root)["web"]
    assert web.extra["instances"][0] == 2 and web.extra["instances"][1].path == "config/deploy.production.yml"
    assert web.env["WEB_CONCURRENCY"] == "4" and web.env_locations["WEB_CONCURRENCY"].path == "config/deploy.production.yml"
    assert web.env["RAILS_MAX_THREADS"] == "5" and web.env_locations["RAILS_MAX_THREADS"].path == "config/deploy.yml"
    assert web.location.path == "config/deploy.yml" and web.location.line == 5  # the cmd, merged from the base file
    assert web.extra["kamal_files"] == ["config/deploy.yml", "config/deploy.production.yml"]


def test_builder_dockerfile_and_no_dockerfile(tmp_path: Path) -> None:
    files = {k: v for k, v in RAILS.items() if k != "Dockerfile"}
    root = tree(tmp_path / "a", {**files,
        "docker/prod.Dockerfile": "FROM ruby:3.4\nWORKDIR /app\nCOPY . .\nCMD [\"bundle\", \"exec\", \"puma\"]\n",
        "config/deploy.yml": "servers:\n  - 10.0.0.1\nbuilder:\n  dockerfile: docker/prod.Dockerfile\n"})
    assert [c.args for c in kamal(root)["web"].commands] == [["puma"]]
    root = tree(tmp_path / "b", {**files, "config/deploy.yml": "servers:\n  web: [10.0.0.1]\n  jobs:\n"
                                                               "    hosts: [10.0.0.2]\n    cmd: bin/jobs\n"})
    assert sorted(kamal(root)) == ["jobs"]  # no image in the repository: only a role that names its command


def test_kamal_is_the_budget_over_render_and_compose_but_the_rails_template_is_not(tmp_path: Path) -> None:
    render = ("services:\n  - type: web\n    name: site\n    startCommand: bundle exec puma\n"
              "    envVars:\n      - key: WEB_CONCURRENCY\n        value: 2\n")
    compose = "services:\n  db:\n    image: postgres:16\n  web:\n    build: .\n    command: bundle exec puma\n"
    root = tree(tmp_path / "ours", {**RAILS, "render.yaml": render, "compose.yaml": compose,
                                   "config/deploy.yml": "servers:\n  - 10.0.0.1\n"})
    model = build_model(project(root))
    left_out = model.facts["development_files"]
    assert "render.yaml" in left_out and "Kamal" in left_out["render.yaml"][0]
    assert "compose.yaml" in left_out and "config/deploy.yml" not in left_out
    root = tree(tmp_path / "template", {**RAILS, "render.yaml": render,
                                       "config/deploy.yml": "servers:\n  web:\n    - 192.168.0.1\n"})
    left_out = build_model(project(root)).facts["development_files"]
    assert "config/deploy.yml" in left_out and "Render" in left_out["config/deploy.yml"][0]
    assert "render.yaml" not in left_out
    root = tree(tmp_path / "template-procfile", {**RAILS, "Procfile": "web: bundle exec puma\n",
                                                "config/deploy.yml": "servers:\n  web:\n    - 192.168.0.1\n"})
    left_out = build_model(project(root)).facts["development_files"]
    assert "config/deploy.yml" in left_out and "Procfile" not in left_out


def test_a_postgres_accessory_gives_max_connections(tmp_path: Path) -> None:
    root = tree(tmp_path, {**RAILS, "config/deploy.yml": """\
        servers:
          - 10.0.0.1
        accessories:
          cache:
            image: redis:7
            cmd: redis-server -c max_connections=5
          db:
            image: postgres:16
            cmd: postgres -c max_connections=40 -c superuser_reserved_connections=5
        """})
    limits = build_model(project(root)).database
    assert limits.max_connections.value == 40 and limits.max_connections.origin.location.line == 9
    assert limits.reserved.value == 5
    root = tree(tmp_path / "bitnami", {**RAILS, "config/deploy.yml": """\
        servers:
          - 10.0.0.1
        accessories:
          db:
            image: bitnami/postgresql:16
            env:
              clear:
                POSTGRESQL_MAX_CONNECTIONS: 30
              secret:
                - POSTGRESQL_PASSWORD
        """})
    limits = build_model(project(root)).database
    assert limits.max_connections.value == 30 and limits.max_connections.origin.location.line == 8


def test_broken_deploy_yml_is_reported_not_raised(tmp_path: Path) -> None:
    root = tree(tmp_path, {**RAILS, "config/deploy.yml": "servers:\n  web: [10.0.0.1\n"})
    p = project(root)
    assert [launch for launch in all_launches(p) if launch.source == "kamal"] == []
    assert "config/deploy.yml" in p.unreadable and p.unreadable["config/deploy.yml"].code == "PGF100"


def test_kamal_is_read_only_when_config_deploy_yml_exists(tmp_path: Path) -> None:
    root = tree(tmp_path, {"Procfile": "web: bundle exec puma\n", "config/deploy.staging.yml": "servers: [a]\n"})
    code = ("import sys\nfrom pathlib import Path\nfrom pgforklint.analyze import lint_project\n"
            "from pgforklint.config import find_config\n"
            f"lint_project(Path({str(root)!r}), find_config(Path({str(root)!r})))\n"
            "print('pgforklint.launch.kamal' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_shell_reader_runs_bin_jobs_and_not_the_jobs_builtin() -> None:
    from pgforklint.read import shell

    script = shell.read_script('jobs\nexec "$@"\n', {}, args=("bin/jobs",), read_file=lambda path: None, args_known=True)
    assert [c.command.args for c in script.commands] == [["bin/jobs"]]
