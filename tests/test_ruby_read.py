"""The Ruby readers: the value evaluator, branch selection, error recovery, ERB in YAML, Gemfile.lock."""

from __future__ import annotations

import pytest

from pgforklint.read.erb_yaml import load, render
from pgforklint.read.gemfile_lock import parse_gemfile_lock
from pgforklint.read.ruby import Scope, as_call, evaluate, parse_ruby, statements


def value_of(expression: str, env: dict | None = None, prelude: str = ""):
    source = parse_ruby(prelude + "\nx = " + expression + "\n")
    scope = Scope(env=env or {})
    for _ in statements(source.root, scope):
        pass
    return scope.locals["x"]


@pytest.mark.parametrize("expression, value, env_var, from_default", [
    ('ENV.fetch("RAILS_MAX_THREADS") { 5 }', 5, "RAILS_MAX_THREADS", True),
    ('ENV.fetch("RAILS_MAX_THREADS", 5).to_i', 5, "RAILS_MAX_THREADS", True),
    ('Integer(ENV["WEB_CONCURRENCY"] || 2)', 2, "WEB_CONCURRENCY", True),
    ('ENV["WEB_CONCURRENCY"].presence || 3', 3, "WEB_CONCURRENCY", True),
    ('(ENV["X"] || "4").to_i', 4, "X", True),
    ('ENV.fetch("JOB_THREADS", 3).to_i + 2', 5, "JOB_THREADS", True),
    ("7", 7, None, False),
])
def test_config_values(expression, value, env_var, from_default) -> None:
    result = value_of(expression)
    assert (result.value, result.env_var, result.from_default) == (value, env_var, from_default)


def test_a_value_the_repository_sets_wins_over_the_default() -> None:
    result = value_of('Integer(ENV.fetch("WEB_CONCURRENCY", 2))', env={"WEB_CONCURRENCY": "6"})
    assert (result.value, result.env_var, result.from_default) == (6, "WEB_CONCURRENCY", False)


def test_an_unset_variable_without_default_is_unknown_but_named() -> None:
    result = value_of('Integer(ENV["WEB_CONCURRENCY"])')
    assert result.value is None and result.env_var == "WEB_CONCURRENCY"


def test_locals_flow_into_later_statements() -> None:
    assert value_of("max", prelude='max = ENV.fetch("RAILS_MAX_THREADS") { 5 }').value == 5


def test_production_branch_is_taken_and_others_both() -> None:
    source = parse_ruby('if ENV["RAILS_ENV"] == "development"\n  worker_processes 1\nelse\n  worker_processes 4\nend\n'
                        'if something\n  a\nelse\n  b\nend\nworkers 2 if Rails.env.production?\n')
    names = [as_call(node).method for node in statements(source.root, Scope()) if as_call(node) is not None]
    assert names == ["worker_processes", "a", "b", "workers"]
    values = [evaluate(as_call(node).args[0]).value for node in statements(source.root, Scope())
              if as_call(node) is not None and as_call(node).args]
    assert values == [4, 2]


def test_broken_ruby_keeps_what_comes_before_the_damage() -> None:
    source = parse_ruby("workers 3\nthreads 1, 5\npreload_app!\non_worker_boot do |server, worker\n  x\nend\n")
    assert source.error_line == 4
    names = [as_call(node).method for node in statements(source.root, Scope()) if as_call(node) is not None]
    assert names[:3] == ["workers", "threads", "preload_app!"]


def test_erb_output_tags_are_evaluated_and_control_tags_dropped() -> None:
    text = ('default: &default\n  adapter: postgresql\n  pool: <%= ENV.fetch("RAILS_MAX_THREADS") { 5 } %>\n'
            '<%- if ENV["X"] %>\n  timeout: 5000\n<% end %>\n<%# comment %>\n'
            'production:\n  <<: *default\n  url: <%= ENV["DATABASE_URL"] %>\n')
    rendered, values = render(text)
    assert rendered.count("\n") == text.count("\n")  # line numbers kept
    loaded = load(text)
    production = loaded.documents[0]["production"]
    assert production["pool"] == 5 and production.line_of("pool") == 3
    assert values[3].env_var == "RAILS_MAX_THREADS" and values[3].from_default
    assert production["url"] == "__pgforklint_unknown__"


def test_gemfile_lock_versions() -> None:
    lock = parse_gemfile_lock("GEM\n  remote: https://rubygems.org/\n  specs:\n    rails (4.2.11.3)\n"
                              "      activerecord (= 4.2.11.3)\n    puma (7.0.4-java)\n    activerecord (4.2.11.3)\n")
    assert lock.version("rails") == (4, 2, 11, 3) and lock.line("rails") == 4
    assert lock.version("puma") == (7, 0, 4)
    assert lock.version("activerecord") == (4, 2, 11, 3) and lock.line("activerecord") == 7


def test_case_branches_and_production_if_values() -> None:
    source = parse_ruby('case count = Integer(ENV.fetch("WEB_CONCURRENCY", 2))\nwhen (2..)\n  workers count\nend\n'
                        'threads_count = ENV.fetch("RAILS_MAX_THREADS") {\n  if ENV.fetch("RAILS_ENV") == "production"\n'
                        '    10\n  else\n    3\n  end\n}\n')
    scope = Scope()
    calls = [as_call(node) for node in statements(source.root, scope) if as_call(node) is not None]
    workers = [c for c in calls if c.method == "workers"]
    assert workers and evaluate(workers[0].args[0], scope).value == 2
    assert scope.locals["threads_count"].value == 10


# Whatever the bytes, the run goes on: broken Ruby and broken ERB YAML become PGF100, never a traceback.
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

RUBY_PIECES = ["workers ", "threads ", "preload_app!", "preload_app true", "before_fork do |s, w|", "end", "{", "}",
               "ENV.fetch(\"X\") { 5 }", "Integer(ENV[\"W\"] || 2)", "ActiveRecord::Base.connection.disconnect!",
               "DB = Sequel.connect(ENV['U'])", "if ENV['RAILS_ENV'] == 'production'", "else", "case x", "when 1",
               "(", ")", "|", "\"", "'", "#", "\n", " ", "0x1f", "017", "3r", "1_000", "Product.count", "<<~EOS", "=begin"]
YAML_PIECES = ["production:", "  pool: ", "<%= ENV.fetch('P') { 5 } %>", "<%- if x %>", "<% end %>", "<%", "%>",
               "default: &d", "  <<: *d", "*nope", "\n", "  ", "url: postgres://h/db?pool=3", ":", "-", "{", "["]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(RUBY_PIECES), max_size=40), st.lists(st.sampled_from(YAML_PIECES), max_size=40),
       st.binary(max_size=64))
def test_any_ruby_config_is_read_without_crashing(tmp_path_factory, ruby, yaml_text, noise) -> None:
    from pgforklint.analyze import lint_project
    from pgforklint.config import Config

    root = tmp_path_factory.mktemp("rubyfuzz")
    (root / "config").mkdir()
    (root / "Procfile").write_text("web: bundle exec puma -C config/puma.rb\nworker: bundle exec unicorn -c config/unicorn.rb\n")
    (root / "config" / "puma.rb").write_text(" ".join(ruby))
    (root / "config" / "unicorn.rb").write_bytes(" ".join(reversed(ruby)).encode() + noise)
    (root / "config" / "database.yml").write_text("".join(yaml_text))
    (root / "config.ru").write_bytes(noise)
    (root / "Gemfile.lock").write_bytes(b"GEM\n  specs:\n    rails (4.2.1)\n    pg (1.0)\n" + noise)
    result = lint_project(root, Config())
    assert all(d.code.startswith("PGF") for d in result.diagnostics)
