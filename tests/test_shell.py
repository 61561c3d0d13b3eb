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


def test_double_bracket_and_test_and_chains() -> None:
    text = ('[[ "$ENV" == prod* ]] && WORKERS=8\n'
            'test -n "$DEBUG" || exec gunicorn -w ${WORKERS:-2} app:app\n')
    assert runs(read_script(text, {"ENV": "production", "DEBUG": ""})) == [(["gunicorn", "-w", "8", "app:app"], ())]
    assert runs(read_script(text, {"ENV": "dev", "DEBUG": "1"})) == []
    undecided = runs(read_script('[ "$ROLE" = worker ] && exec celery worker\nexec gunicorn app:app\n'))
    assert undecided == [(["celery", "worker"], ('[ "$ROLE" = worker ] &&',)),
                         (["gunicorn", "app:app"], ('! [ "$ROLE" = worker ]',))]


def test_external_commands_in_chains_are_assumed_to_succeed() -> None:
    text = "python manage.py migrate && python manage.py collectstatic --noinput || exit 1\nexec gunicorn a:b\n"
    assert runs(read_script(text)) == [(["python", "manage.py", "migrate"], ()),
                                       (["python", "manage.py", "collectstatic", "--noinput"], ()),
                                       (["gunicorn", "a:b"], ())]


def test_if_on_an_external_command_gives_both_ways() -> None:
    text = ("if command -v newrelic-admin >/dev/null 2>&1; then\n"
            "  exec newrelic-admin run-program gunicorn app:app\nfi\nexec gunicorn app:app\n")
    script = read_script(text)
    assert runs(script) == [(["gunicorn", "app:app"], ("if command -v newrelic-admin >/dev/null 2>&1",)),
                            (["gunicorn", "app:app"], ("if command -v newrelic-admin >/dev/null 2>&1", "else"))]
    assert script.commands[0].command.wrapped_by("newrelic-admin")
    assert not script.commands[1].command.wrapped_by("newrelic-admin")


# --- functions -----------------------------------------------------------------------------------------


def test_functions_read_at_the_call_with_their_arguments() -> None:
    text = """#!/bin/bash
start_web() {
  cd /app/src
  exec gunicorn -w "$1" "$APP"
}
function start_worker {
  celery -A proj worker -c "${1:-2}" &
}
APP=proj.wsgi
case "$1" in
  web) start_web 3 ;;
  worker) start_worker ;;
esac
"""
    script = read_script(text)
    assert runs(script) == [(["gunicorn", "-w", "3", "proj.wsgi"], ('case "$1" in web',)),
                            (["celery", "-A", "proj", "worker", "-c", "2"], ('case "$1" in worker',))]
    assert [c.line for c in script.commands] == [4, 7]
    assert script.commands[0].cwd == "/app/src" and script.commands[1].cwd is None
    assert script.commands[1].background and not script.commands[1].is_exec


def test_recursion_is_bounded() -> None:
    script = read_script("f() { gunicorn a:b; f; }\nf\n")
    assert len(script.commands) == 12
    assert any("called more than" in reason for _, reason in script.problems)


def test_return_ends_only_the_function() -> None:
    text = "f() { return 0; celery worker; }\nf\nexec gunicorn a:b\n"
    assert runs(read_script(text)) == [(["gunicorn", "a:b"], ())]


# --- exec, sh -c, eval, source -------------------------------------------------------------------------


def test_exec_a_names_the_process() -> None:
    command = read_script("exec -a myapp-web gunicorn app:app").commands[0]
    assert command.exec_name == "myapp-web" and command.command.args == ["gunicorn", "app:app"]


def test_sh_c_is_read_as_shell_with_its_arguments() -> None:
    script = read_script("""exec sh -c 'exec gunicorn -b 0.0.0.0:$PORT "$@"' -- --preload app:app""", {"PORT": "80"})
    assert runs(script) == [(["gunicorn", "-b", "0.0.0.0:80", "--preload", "app:app"], ())]
    script = read_script("""bash -c "python manage.py migrate && gunicorn app:app" """)
    assert runs(script) == [(["python", "manage.py", "migrate"], ()), (["gunicorn", "app:app"], ())]


def test_eval_of_a_known_string_is_read_never_run() -> None:
    script = read_script('OPTS="-w 4 --preload"\neval "exec gunicorn $OPTS app:app"\necho unreachable\n')
    assert runs(script) == [(["gunicorn", "-w", "4", "--preload", "app:app"], ())]
    assert script.commands[0].line == 2
    unknown = read_script('eval "$(cat cmd.txt)"\nexec gunicorn a:b\n')
    assert runs(unknown) == [(["gunicorn", "a:b"], ())]
    assert unknown.problems == [(1, "`eval` of a string that is not known here")]


def test_sourced_files_are_read_through_the_callers_function() -> None:
    files = {"./env.sh": "export APP_MODULE=site.wsgi\nWORKERS=5\n", "/app/conf/common.sh": ". ./env.sh\n"}
    asked = []

    def read_file(path: str) -> str | None:
        asked.append(path)
        return files.get(path)

    script = read_script(". ./env.sh\nsource /app/missing.sh\nexec gunicorn -w $WORKERS $APP_MODULE\n",
                         read_file=read_file)
    assert runs(script) == [(["gunicorn", "-w", "5", "site.wsgi"], ())]
    assert script.sourced == ["./env.sh"] and asked == ["./env.sh", "/app/missing.sh"]
    assert script.problems == [(2, "sourced file `/app/missing.sh` not read")]
    assert "APP_MODULE" in script.commands[0].exported and "WORKERS" not in script.commands[0].exported
    relative = read_script("cd /app/conf\n. ./env.sh\ngunicorn $APP_MODULE", read_file=read_file)
    assert asked[-1] == "/app/conf/env.sh"
    self_sourcing = read_script(". ./loop.sh", read_file=lambda path: ". ./loop.sh\n")
    assert any("nested more than" in reason for _, reason in self_sourcing.problems)
    assert relative.commands[0].cwd == "/app/conf"


def test_runs_script() -> None:
    script = read_script("bash Procfile.sh web\n./bin/serve --port 80\nsh -e start.sh\n/usr/local/bin/gunicorn a:b\n"
                         "exec /app/docker/entrypoint gunicorn\n")
    assert [c.runs_script for c in script.commands] == ["Procfile.sh", "./bin/serve", "start.sh", None,
                                                        "/app/docker/entrypoint"]
    assert [w.text for w in script.commands[0].command.script_args] == ["web"]
    assert [w.text for w in script.commands[4].command.script_args] == ["gunicorn"]


# --- syntax the reader gets past -----------------------------------------------------------------------


def test_heredocs_comments_continuations_substitutions() -> None:
    text = """#!/bin/sh
# exec celery worker  (a comment)
cat > /etc/app.conf <<-EOF
	exec celery worker
	EOF
cat <<'END'
gunicorn in a heredoc
END
WORKERS=$(nproc)
gunicorn \\
  --workers $WORKERS \\
  --timeout `echo 30` \\
  app:app &  # serve
wait
"""
    script = read_script(text)
    assert runs(script) == [(["cat"], ()), (["cat"], ()),
                            (["gunicorn", "--workers", "$(nproc)", "--timeout", "`echo 30`", "app:app"], ())]
    assert script.commands[2].line == 10 and script.commands[2].background
    assert script.problems == []


def test_loops_are_read_once() -> None:
    text = "for i in 1 2 3; do\n  celery worker -n w$i &\ndone\nwhile true; do gunicorn a:b; sleep 1; done\n"
    assert runs(read_script(text)) == [(["celery", "worker", "-n", "w"], ()), (["gunicorn", "a:b"], ())]
    assert runs(read_script("for q in default; do celery worker -Q $q; done")) == [
        (["celery", "worker", "-Q", "default"], ())]


def test_arithmetic_and_parameter_operations() -> None:
    text = ('CORES=2\nWORKERS=$(( CORES * 2 + 1 ))\nAPP=${APP_PATH%.py}\nexec gunicorn -w $WORKERS "${APP//\\//.}:app"')
    assert runs(read_script(text, {"APP_PATH": "src/site/wsgi.py"})) == [
        (["gunicorn", "-w", "5", "src.site.wsgi:app"], ())]


def test_subshell_and_pipeline_do_not_change_the_script() -> None:
    text = "(cd /tmp && exec celery worker)\ngunicorn a:b | tee log\nexec gunicorn c:d\n"
    script = read_script(text)
    assert runs(script) == [(["celery", "worker"], ()), (["gunicorn", "a:b"], ()), (["tee", "log"], ()),
                            (["gunicorn", "c:d"], ())]
    assert script.commands[0].cwd == "/tmp" and script.commands[3].cwd is None


def test_set_dash_dash_and_shift() -> None:
    text = 'set -- web --preload\nrole=$1\nshift\nif [ "$role" = web ]; then exec gunicorn "$@" app:app; fi\n'
    assert runs(read_script(text)) == [(["gunicorn", "--preload", "app:app"], ())]


def test_is_shell_script() -> None:
    for line in ("#!/bin/sh", "#!/bin/bash -e", "#!/usr/bin/env bash", "#! /bin/dash", "#!/usr/bin/env -S bash -eu",
                 "#!/bin/ash", "#!/bin/zsh", "#!/bin/busybox sh"):
        assert is_shell_script(line + "\nexec gunicorn a:b\n"), line
    for text in ("#!/usr/bin/env python3\n", "gunicorn a:b\n", "", "#!/usr/bin/env node\n"):
        assert not is_shell_script(text), text


# --- bad input -----------------------------------------------------------------------------------------

BAD = [
    "gunicorn 'app:app", 'exec gunicorn "app:app', "if [ x ]; then gunicorn a:b", "case $1 in web) gunicorn",
    "f() {", "cmd=(gunicorn", "echo ${X", "echo $(ls", "while true; do", "a=(", "))", "fi", "esac", "done", "}",
    ";;", "|| &&", "exec", "<<EOF", "cat <<EOF\nno end", "\x00\x00exec gunicorn\x00", "[[ a", "$((1/0))",
    "echo $((2**64))", "for", "for ((", "case", "case x", "function", "${!}", "${#}", "${x:?}", "`", "$'a", "\\",
    "x=$((", "eval", ". ", "source", "set --", "shift x", "cd", "exec -a", "sh -c", "bash -c 'exec'",
]


@pytest.mark.parametrize("text", BAD)
def test_bad_input_never_raises(text: str) -> None:
    script = read_script(text)
    assert isinstance(script.commands, list) and isinstance(script.problems, list)


def test_unterminated_constructs_are_problems_with_lines() -> None:
    assert read_script("#!/bin/sh\n\nif [ x ]; then\n  gunicorn a:b\n").problems == [(3, "`if` without `fi`")]
    assert read_script("echo 'open\n").problems == [(1, "unterminated single quote")]
    assert runs(read_script("if [ x ]; then\n  gunicorn a:b\n")) == [(["gunicorn", "a:b"], ())]


def test_deep_nesting_is_bounded() -> None:
    deep = "if true; then " * 500 + "gunicorn a:b" + "; fi" * 500
    started = time.perf_counter()
    script = read_script(deep)
    assert time.perf_counter() - started < 2
    assert any("nested" in reason for _, reason in script.problems)
    braces = read_script("echo " + "${a:-" * 300 + "x" + "}" * 300)
    assert braces.problems


def test_many_branches_are_bounded() -> None:
    text = "".join(f'if [ "$X{i}" = y ]; then A{i}=1; fi\n' for i in range(30)) + "exec gunicorn a:b\n"
    started = time.perf_counter()
    script = read_script(text)
    assert time.perf_counter() - started < 2
    assert 1 <= len(script.commands) <= 16
    assert any("undecided branches" in reason for _, reason in script.problems)


def test_a_megabyte_of_garbage_is_fast() -> None:
    import random

    rng = random.Random(7)
    alphabet = "abc $'\"`\\(){}[];&|<>#\n\t=-*@!0123456789"
    garbage = "".join(rng.choice(alphabet) for _ in range(1_000_000))
    started = time.perf_counter()
    script = read_script(garbage)
    assert time.perf_counter() - started < 10
    assert script.problems
    lines = read_script("gunicorn a:b &\n" * 100_000)
    assert len(lines.commands) <= 1000 and lines.problems


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(list("ab $'\"`\\(){}[];&|<>#\n=-*@!01") + [
    "if ", "then ", "fi ", "else ", "case ", "esac", " in ", "do ", "done", "${", "$(", "<<E\n", "\nE\n", "exec ",
    "f() ", "f ", "[[ ", " ]]", "[ ", " ]", "cmd=(", "\x00", "$1", "$@", "gunicorn ", ":-", ";;", ". x", "sh -c "]),
    max_size=80).map("".join))
def test_read_script_never_raises(text: str) -> None:
    script = read_script(text, {"A": "x"}, args=["web"], read_file=lambda path: text)
    for command in script.commands:
        assert isinstance(command.command.program, str) and command.line >= 1


# --- wrappers (read/command.py) ------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "args", "wrappers"), [
    ("python -m gunicorn app:app", ["gunicorn", "app:app"], ("python -m",)),
    ("python3.11 -u -m gunicorn.app.wsgiapp app:app", ["gunicorn", "app:app"], ("python -m",)),
    ("python -m celery -A proj worker", ["celery", "-A", "proj", "worker"], ("python -m",)),
    ("python -m uvicorn app:app --workers 4", ["uvicorn", "app:app", "--workers", "4"], ("python -m",)),
    ("ddtrace-run gunicorn a:b", ["gunicorn", "a:b"], ("ddtrace-run",)),
    ("newrelic-admin run-program gunicorn a:b", ["gunicorn", "a:b"], ("newrelic-admin run-program",)),
    ("newrelic-admin run-python -m gunicorn a:b", ["gunicorn", "a:b"], ("newrelic-admin run-python", "python -m")),
    ("opentelemetry-instrument --traces_exporter console gunicorn a:b", ["gunicorn", "a:b"],
     ("opentelemetry-instrument",)),
    ("dumb-init --single-child -- gunicorn a:b", ["gunicorn", "a:b"], ("dumb-init",)),
    ("dumb-init -c gunicorn a:b", ["gunicorn", "a:b"], ("dumb-init",)),
    ("tini -g -s -- gunicorn a:b", ["gunicorn", "a:b"], ("tini",)),
    ("/sbin/tini -- gosu app celery worker", ["celery", "worker"], ("tini", "gosu")),
    ("su-exec app:app gunicorn a:b", ["gunicorn", "a:b"], ("su-exec",)),
    ("chpst -u app -e /etc/env gunicorn a:b", ["gunicorn", "a:b"], ("chpst",)),
    ("setuidgid app gunicorn a:b", ["gunicorn", "a:b"], ("setuidgid",)),
    ("env -i -u HOME PYTHONPATH=src gunicorn a:b", ["gunicorn", "a:b"], ("env",)),
    ("nice -n 10 ionice -c 3 timeout 3600 celery worker", ["celery", "worker"], ("nice", "ionice", "timeout")),
    ("hupper -m gunicorn a:b", ["gunicorn", "a:b"], ("hupper -m", "python -m")),
    ("hupper -m myapp.serve", ["python", "-m", "myapp.serve"], ("hupper -m",)),
    ("watchmedo auto-restart -d . -p '*.py' --recursive -- celery -A proj worker", ["celery", "-A", "proj", "worker"],
     ("watchmedo auto-restart",)),
    ("bundle exec puma -C config/puma.rb", ["puma", "-C", "config/puma.rb"], ("bundle exec",)),
    ("bundle exec je -v puma -w 3", ["puma", "-w", "3"], ("bundle exec", "je")),
    ("exec -a web gunicorn a:b", ["gunicorn", "a:b"], ()),
    ("poetry run python -m celery worker", ["celery", "worker"], ("poetry run", "python -m")),
    ("uv run --no-sync gunicorn a:b", ["gunicorn", "a:b"], ("uv run",)),
])
def test_wrappers_are_peeled(line: str, args: list[str], wrappers: tuple[str, ...]) -> None:
    [command] = parse_commands(line)
    assert command.args == args
    assert command.wrappers == wrappers
    [from_script] = read_script(line).commands
    assert from_script.command.args == args and from_script.command.wrappers == wrappers


def test_env_wrapper_assignments_reach_the_command() -> None:
    [command] = parse_commands("env PYTHONPATH=src DJANGO_SETTINGS_MODULE=site.prod gunicorn a:b")
    assert command.env == {"PYTHONPATH": "src", "DJANGO_SETTINGS_MODULE": "site.prod"}
    [shell] = read_script("env PYTHONPATH=src gunicorn a:b").commands
    assert shell.env["PYTHONPATH"] == "src" and "PYTHONPATH" in shell.exported


def test_python_module_forms() -> None:
    [command] = parse_commands("python -m gunicorn -w 2 app:app")
    assert command.program == "gunicorn" and python_module_invocation(command) is None
    [project] = parse_commands("python -m myproject.worker --queues a")
    assert project.program == "python"
    assert python_module_invocation(project)[0] == "myproject.worker"


def test_exec_name_and_script_from_parse_commands() -> None:
    [command] = parse_commands("exec -a web gunicorn a:b")
    assert command.exec_name == "web"
    [script] = parse_commands("bash Procfile.sh")
    assert script.runs_script == "Procfile.sh" and script.program == "bash"
    [direct] = parse_commands("bin/boot_server_in_docker")
    assert direct.runs_script == "bin/boot_server_in_docker"
    assert parse_commands("sh -c 'gunicorn a:b'")[0].runs_script is None
    assert parse_commands("/venv/bin/gunicorn a:b")[0].runs_script is None


def test_return_inside_a_branch_rejoins_the_way_past_it() -> None:
    text = 'f() {\n  if [ -z "$X" ]; then return; fi\n  celery worker &\n}\nf\nexec gunicorn a:b\n'
    assert runs(read_script(text)) == [(["celery", "worker"], ()), (["gunicorn", "a:b"], ())]


def test_branches_inside_variants_keep_each_variants_conditions() -> None:
    text = ('case "$1" in\n  web) PORT=80 ;;\n  admin) PORT=81 ;;\nesac\n'
            'if [ "$DEBUG" = 1 ]; then exec gunicorn --reload -b :$PORT a:b; fi\nexec gunicorn -b :$PORT a:b\n')
    assert runs(read_script(text, {"DEBUG": "0"})) == [
        (["gunicorn", "-b", ":80", "a:b"], ('case "$1" in web',)),
        (["gunicorn", "-b", ":81", "a:b"], ('case "$1" in admin',)),
        (["gunicorn", "-b", ":", "a:b"], ('case "$1" in web|admin', "else"))]


ENTRYPOINT = """#!/usr/bin/env bash
set -euo pipefail
if [ "${1:0:1}" = '-' ]; then
    set -- gunicorn "$@"
fi
if [ "$1" = 'gunicorn' ]; then
    python manage.py migrate --noinput
fi
exec "$@"
"""


def test_entrypoint_that_runs_its_arguments() -> None:
    assert runs(read_script(ENTRYPOINT, args=["gunicorn", "-c", "conf.py", "site.wsgi"])) == [
        (["python", "manage.py", "migrate", "--noinput"], ()), (["gunicorn", "-c", "conf.py", "site.wsgi"], ())]
    assert runs(read_script(ENTRYPOINT, args=["--preload", "app:app"]))[-1] == (["gunicorn", "--preload", "app:app"], ())
    unknown = read_script(ENTRYPOINT)
    assert [c.command.args[0] for c in unknown.commands] == ["python"]
    assert unknown.problems == [(9, "the command is held in $@, which has no known value here")]
    assert runs(read_script('exec gunicorn app:app "$@"')) == [(["gunicorn", "app:app"], ())]


def test_set_a_exports_what_a_sourced_file_sets() -> None:
    script = read_script("set -a\n. /app/.env\nset +a\nLOCAL=1\nexport GUNICORN_CMD_ARGS='--preload'\n"
                         "exec gunicorn config.wsgi\n", read_file=lambda path: "WEB_CONCURRENCY=3\n")
    [command] = script.commands
    assert command.exported == {"WEB_CONCURRENCY", "GUNICORN_CMD_ARGS"}
    assert command.env["LOCAL"] == "1" and command.env["WEB_CONCURRENCY"] == "3"


def test_nested_quotes_in_substitutions_file_tests_and_which() -> None:
    text = ('SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)\nsource venv/bin/activate\n'
            "if [ -f /app/.env ]; then . /app/.env; fi\nexec \"$(which gunicorn)\" -w $WORKERS app:app\n")
    script = read_script(text, read_file={"/app/.env": "WORKERS=4\n"}.get)
    assert runs(script) == [(["gunicorn", "-w", "4", "app:app"], ())]
    assert script.problems == [] and script.sourced == ["/app/.env"]
    assert "SCRIPT_DIR" not in script.commands[0].env  # only known values


def test_sh_c_of_an_unknown_string_is_a_problem() -> None:
    script = read_script('exec sh -c "$START_COMMAND"')
    assert script.commands == [] and script.problems == [(1, "`sh -c` with a string that is not known here")]
    known = read_script('exec sh -c "$START_COMMAND" --', {"START_COMMAND": "gunicorn -w ${W:-2} a:b"})
    assert runs(known) == [(["gunicorn", "-w", "2", "a:b"], ())]


REAL = r"""#!/usr/bin/env bash
# Start script in the shape many repositories have
set -o errexit
set -o nounset

readonly APP_DIR=/srv/app
: "${GUNICORN_WORKERS:=4}"
export PYTHONPATH="${APP_DIR}/src${PYTHONPATH:+:$PYTHONPATH}"

wait_for_db() {
  until pg_isready -h "${DB_HOST:-db}" >/dev/null 2>&1; do
    >&2 echo "waiting for postgres"
    sleep 1
  done
}

run_web() {
  local extra=()
  if [[ "${DJANGO_DEBUG:-0}" == "1" ]]; then
    extra+=(--reload)
  fi
  cd "$APP_DIR"
  exec ddtrace-run gunicorn config.wsgi:application \
    --bind "0.0.0.0:${PORT:-8000}" \
    --workers "$GUNICORN_WORKERS" \
    --preload "${extra[@]}"
}

run_worker() {
  exec celery -A config worker --concurrency="${CELERY_CONCURRENCY:-2}" -l info
}

wait_for_db
python manage.py migrate --noinput

case "${1:-web}" in
  web) run_web ;;
  worker) run_worker ;;
  beat) exec celery -A config beat ;;
  *) exec "$@" ;;
esac
"""


def test_a_whole_start_script() -> None:
    started = time.perf_counter()
    script = read_script(REAL)
    assert time.perf_counter() - started < 1
    assert script.problems == [(40, "the command is held in $@, which has no known value here")]
    assert runs(script) == [
        (["pg_isready", "-h", "db"], ()),
        (["python", "manage.py", "migrate", "--noinput"], ()),
        (["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4", "--preload"],
         ('case "${1:-web}" in web',)),
        (["celery", "-A", "config", "worker", "--concurrency=2", "-l", "info"], ('case "${1:-web}" in worker',)),
        (["celery", "-A", "config", "beat"], ('case "${1:-web}" in beat',)),
    ]
    web = script.commands[2]
    assert web.line == 23 and web.cwd == "/srv/app" and web.is_exec and web.command.wrapped_by("ddtrace-run")
    assert web.env["PYTHONPATH"] == "/srv/app/src" and "PYTHONPATH" in web.exported
    assert "GUNICORN_WORKERS" not in web.exported
    assert runs(read_script(REAL, {"DJANGO_DEBUG": "1"}, args=["web"]))[-1][0][-1] == "--reload"
    assert [c.command.program for c in read_script(REAL, args=["worker"]).commands] == ["pg_isready", "python",
                                                                                        "celery"]


def test_defaults_decide_only_for_variables_the_repository_never_sets() -> None:
    text = 'case "${ROLE:-web}" in web) exec gunicorn a:b ;; worker) exec celery worker ;; esac'
    assert runs(read_script(text)) == [(["gunicorn", "a:b"], ())]
    assert runs(read_script(text, {"ROLE": "worker"})) == [(["celery", "worker"], ())]
    computed = 'ROLE=$(cat /etc/role)\n' + text
    assert [c.conditions for c in read_script(computed).commands] == [('case "${ROLE:-web}" in web',),
                                                                     ('case "${ROLE:-web}" in worker',)]
    argument = text.replace("ROLE", "1")
    assert len(read_script(argument).commands) == 2 and len(read_script(argument, args=["web"]).commands) == 1


def test_computed_command_words_crlf_and_bom() -> None:
    script = read_script("exec $(cat /etc/cmd) --workers 2\n")
    assert script.commands == []
    assert script.problems == [(1, "the command `$(cat /etc/cmd)` is computed when the script runs")]
    crlf = read_script("#!/bin/sh\r\ncat <<EOF\r\nexec celery worker\r\nEOF\r\nif [ x = x ]; then\r\n  exec gunicorn a:b\r\nfi\r\n")
    assert runs(crlf) == [(["cat"], ()), (["gunicorn", "a:b"], ())] and crlf.problems == []
    assert is_shell_script("\ufeff#!/bin/bash\r\n")


def test_a_command_word_that_is_one_command_substitution_runs_its_commands() -> None:
    script = read_script('exec `bash -c "celery -A t worker &\\\n  gunicorn w:app"`\n')
    assert [c.command.program for c in script.commands] == ["celery", "gunicorn"] and script.problems == []
    assert read_script("$(sh -c 'gunicorn w:app')\n").commands[0].command.program == "gunicorn"
    printed = read_script("exec $(cat /etc/cmd)\n")
    assert printed.commands == [] and printed.problems == [(1, "the command `$(cat /etc/cmd)` is computed when the script runs")]


def test_the_script_folder_from_dollar_zero() -> None:
    text = 'DIR="$(dirname "${BASH_SOURCE[0]}")"\nexec gunicorn -c "$DIR/gunicorn.conf.py" --chdir $(dirname $0) w:app\n'
    argv = [w.text for w in read_script(text, script_path="./bin/start.sh").commands[0].command.argv]
    assert argv == ["gunicorn", "-c", "./bin/gunicorn.conf.py", "--chdir", "./bin", "w:app"]
    assert read_script(text).commands[0].command.argv[2].text.startswith("$(dirname")  # $0 not known: as written


def test_known_empty_arguments() -> None:
    assert runs(read_script(CASE, args_known=True)) == []
    assert runs(read_script(ENTRYPOINT, args_known=True)) == []
    assert read_script(ENTRYPOINT, args_known=True).problems == []


# --- dispatch through sourced files ---------------------------------------------------------------------


DISPATCH = """\
#!/bin/bash
main() {
	if (( $# < 1 )); then
		echo "usage: <command>"
		exit 64
	fi
	command="$1"
	shift
	source "/container/commands/$command"
	run "$@"
}
main "$@"
"""
WORKER = '#!/bin/bash\n\nrun() {\n\texec celery -A shop.tasks worker "$@"\n}\n'


def test_arithmetic_tests_are_decided_when_their_values_are_known() -> None:
    script = read_script('if (( $# < 1 )); then exec gunicorn a:b; fi\nexec celery -A t worker\n', args=("x",))
    assert runs(script) == [(["celery", "-A", "t", "worker"], ())]
    script = read_script('if (( $# < 1 )); then exec gunicorn a:b; fi\nexec celery -A t worker\n', args_known=True)
    assert runs(script) == [(["gunicorn", "a:b"], ())]
    script = read_script('if (( n > 2 )); then exec gunicorn a:b; fi\n')  # `n` unknown: both ways
    assert [c.conditions for c in script.commands] == [("if (( n > 2 ))",)]


def test_a_file_sourced_by_a_known_argument_is_read_and_its_commands_say_where_they_are_written() -> None:
    files = {"/container/commands/worker": WORKER}
    script = read_script(DISPATCH, args=("worker", "-Q", "mail"), read_file=files.get)
    (command,) = script.commands
    assert command.command.args == ["celery", "-A", "shop.tasks", "worker", "-Q", "mail"]
    assert command.line == 9 and command.written_at == ("/container/commands/worker", 4)
    assert command.forwards_arguments and script.unknown_sources == []


def test_a_file_sourced_by_an_unknown_argument_names_the_variable_and_the_folder() -> None:
    script = read_script(DISPATCH, read_file={"/container/commands/worker": WORKER}.get)
    (unknown,) = script.unknown_sources
    assert (unknown.line, unknown.folder, unknown.variables) == (9, "/container/commands", ("1",))
    assert not any(c.command.program == "celery" for c in script.commands)
