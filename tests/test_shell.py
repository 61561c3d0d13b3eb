"""The static shell reader (`read/shell.py`) and the wrappers `read/command.py` peels."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgforklint.read.command import parse_commands, python_module_invocation
from pgforklint.read.shell import ShellScript, is_shell_script, read_script


def runs(script: ShellScript) -> list[tuple[list[str], tuple[str, ...]]]:
    return [(c.command.args, c.conditions) for c in script.commands]


# --- variables, arrays, prefixes -----------------------------------------------------------------------


def test_variables_assigned_earlier_are_used_later() -> None:
    script = read_script('#!/bin/sh\nargs=""\nargs="$args --preload"\nexec gunicorn ${args} -w 4 app:app\n')
    assert runs(script) == [(["gunicorn", "--preload", "-w", "4", "app:app"], ())]
    assert script.commands[0].line == 4
    assert script.commands[0].env["args"] == " --preload"
    assert script.problems == []


def test_bash_array_built_in_steps() -> None:
    script = read_script('cmd=(gunicorn --preload)\ncmd+=(-w 4)\nexec "${cmd[@]}" app:app\n')
    assert runs(script) == [(["gunicorn", "--preload", "-w", "4", "app:app"], ())]
    assert script.commands[0].is_exec


def test_defaults_and_assign_defaults() -> None:
    script = read_script(': ${WORKERS:=3}\nexport BIND=${BIND-0.0.0.0:8000}\nexec gunicorn -w $WORKERS -b "$BIND" a:b\n')
    command = script.commands[0]
    assert command.command.args == ["gunicorn", "-w", "3", "-b", "0.0.0.0:8000", "a:b"]
    workers = command.command.argv[2]
    assert [(r.name, r.source) for r in workers.refs] == [("WORKERS", "default")]
    assert "BIND" in command.exported and command.env["WORKERS"] == "3"


def test_input_env_wins_over_defaults() -> None:
    script = read_script("exec gunicorn -w ${WORKERS:-2} app:app", {"WORKERS": "9"})
    assert script.commands[0].command.args[2] == "9"
    assert script.commands[0].command.argv[2].refs[0].source == "env"


def test_unknown_variable_stays_a_named_empty_word() -> None:
    command = read_script("gunicorn -w $WEB_CONCURRENCY app:app").commands[0].command
    assert command.args == ["gunicorn", "-w", "", "app:app"]
    assert command.argv[2].is_symbolic and command.argv[2].refs[0].name == "WEB_CONCURRENCY"


def test_prefix_assignment_is_the_commands_own() -> None:
    script = read_script("DJANGO_SETTINGS_MODULE=site.prod gunicorn site.wsgi\necho $DJANGO_SETTINGS_MODULE\n")
    command = script.commands[0]
    assert command.command.env == {"DJANGO_SETTINGS_MODULE": "site.prod"}
    assert command.env["DJANGO_SETTINGS_MODULE"] == "site.prod" and "DJANGO_SETTINGS_MODULE" in command.exported


def test_command_held_in_a_variable_is_split_as_the_shell_does() -> None:
    script = read_script("exec $WORKER_CMD", {"WORKER_CMD": "celery -A proj worker -c 4"})
    assert runs(script) == [(["celery", "-A", "proj", "worker", "-c", "4"], ())]
    script = read_script('exec "$WORKER_CMD"', {"WORKER_CMD": "celery worker"})
    assert runs(script) == [(["celery worker"], ())]


def test_command_in_an_unknown_variable_is_a_problem() -> None:
    script = read_script("#!/bin/sh\nexec $WORKER_CMD\n")
    assert script.commands == []
    assert script.problems == [(2, "the command is held in $WORKER_CMD, which has no known value here")]


# --- branches ------------------------------------------------------------------------------------------

CASE = """#!/bin/sh
set -e
case "$1" in
  web|api)
    exec gunicorn app:app ;;
  worker) exec celery -A proj worker ;;
  *) exec "$@" ;;
esac
"""


def test_case_with_unknown_argument_gives_every_branch() -> None:
    assert runs(read_script(CASE)) == [(["gunicorn", "app:app"], ('case "$1" in web|api',)),
                                       (["celery", "-A", "proj", "worker"], ('case "$1" in worker',))]


def test_case_with_known_argument_takes_one_branch() -> None:
    assert runs(read_script(CASE, args=["worker"])) == [(["celery", "-A", "proj", "worker"], ())]
    assert runs(read_script(CASE, args=["api"])) == [(["gunicorn", "app:app"], ())]
    assert runs(read_script(CASE, args=["uwsgi", "--ini", "x.ini"])) == [(["uwsgi", "--ini", "x.ini"], ())]


def test_if_else_unknown_gives_variants_with_conditions() -> None:
    script = read_script('if [ "$MODE" = worker ]; then\n  exec celery worker\nelse\n  exec gunicorn app:app\nfi\n')
    assert runs(script) == [(["celery", "worker"], ('if [ "$MODE" = worker ]',)),
                            (["gunicorn", "app:app"], ('if [ "$MODE" = worker ]', "else"))]
    assert [c.line for c in script.commands] == [2, 4]


def test_if_decided_by_known_values() -> None:
    text = 'if [ "$MODE" = worker ]; then\n  exec celery worker\nelif [ -n "$MODE" ]; then exec rq worker\nelse\n  exec gunicorn app:app\nfi\n'
    assert runs(read_script(text, {"MODE": "worker"})) == [(["celery", "worker"], ())]
    assert runs(read_script(text, {"MODE": "x"})) == [(["rq", "worker"], ())]
    assert runs(read_script(text, {"MODE": ""})) == [(["gunicorn", "app:app"], ())]
    assert runs(read_script(text)) == [
        (["celery", "worker"], ('if [ "$MODE" = worker ]',)),
        (["rq", "worker"], ('if [ "$MODE" = worker ]', 'elif [ -n "$MODE" ]')),
        (["gunicorn", "app:app"], ('if [ "$MODE" = worker ]', 'elif [ -n "$MODE" ]', "else"))]


def test_validation_block_leaves_no_condition() -> None:
    text = 'if [ -z "$DATABASE_URL" ]; then\n  echo "missing" >&2\n  exit 1\nfi\nexec gunicorn app:app\n'
    assert runs(read_script(text)) == [(["gunicorn", "app:app"], ())]


def test_fall_through_after_an_exec_branch_is_a_variant() -> None:
    text = 'if [ "$1" = worker ]; then exec celery worker; fi\nexec gunicorn app:app\n'
    assert runs(read_script(text)) == [(["celery", "worker"], ('if [ "$1" = worker ]',)),
                                       (["gunicorn", "app:app"], ('if [ "$1" = worker ]', "else"))]
    assert runs(read_script(text, args=["web"])) == [(["gunicorn", "app:app"], ())]
