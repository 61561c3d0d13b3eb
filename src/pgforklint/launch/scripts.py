"""Start scripts: a launch that runs a script (`./entrypoint.sh web`, `bin/serve`, `bash Procfile.sh`) is
followed into it, with the arguments the caller passes, through the shell reader (`read/shell.py`).

A script is recognised by being run (`sh x`, `bash x`, or a path that is a repository file) and by its
shebang or `.sh` name; a Python shebang is not a shell script. Each branch of the script that starts a
different command (`case "$1" in web) ...`) becomes a variant of the process type, named by its condition.
"""

from __future__ import annotations

import posixpath
import re

from pgforklint.diagnostics import Location
from pgforklint.launch.base import Launch, copy_launch
from pgforklint.launch.paths import repo_file
from pgforklint.read.command import Command, Word

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pgforklint.project import Project

SHELLS = ("sh", "bash", "dash", "zsh", "ash")
PATH_DIRS = ("/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin")
MAX_DEPTH = 4
FORWARDS = "forwards_arguments"  # Launch.extra: where the server command passes on the arguments it was given
BRANCH_AT = "branch_at"  # Launch.extra of a variant: where the command that makes it is written
_SHEBANG = re.compile(rb"^#!\s*\S*?(?:/env\s+(?:-\S+\s+)*)?\S*?\b(sh|bash|dash|zsh|ash)\b")


def is_shell_file(project: Project, rel: str) -> bool:
    from pgforklint.discover import FileKind

    source = project.discovery.get(rel)
    if source is None:
        return False
    if source.kind is FileKind.SHELL:
        return True
    try:
        with open(source.path, "rb") as handle:
            head = handle.read(128)
    except OSError:
        return False
    return bool(_SHEBANG.match(head))


def script_call(project: Project, launch: Launch, command: Command) -> tuple[str, list[Word], str] | None:
    """(repository file, arguments, the path as written) when the command runs a shell script of the repo."""
    argv = command.argv
    if not argv:
        return None
    words = argv
    via_shell = command.program in SHELLS
    if via_shell:
        index = 1
        while index < len(argv) and argv[index].text.startswith("-"):
            index += 2 if argv[index].text == "-o" else 1
        if index >= len(argv):
            return None
        words = argv[index:]
    written = words[0].text
    if not written or written.startswith("-"):
        return None
    rel = None
    if "/" in written or via_shell:
        rel = repo_file(project, launch, written)
    elif launch.paths is not None:
        path_env = {**launch.paths.env, **launch.env}.get("PATH", "")
        image_path = [folder for folder in path_env.split(":") if folder.startswith("/")]  # `ENV PATH /app/bin:$PATH`
        for folder in dict.fromkeys([*image_path, *PATH_DIRS]):
            candidate = launch.paths.to_repo(posixpath.join(folder, written))
            if candidate and project.exists(candidate):
                rel = candidate
                break
    if rel is None or rel.endswith((".py", ".pyw")):
        return None
    if not via_shell and not is_shell_file(project, rel):
        return None
    return rel, list(words[1:]), written


def _read(project: Project, rel: str, env: dict[str, str], args: list[str], args_known: bool = False,
          written: str | None = None, launch: Launch | None = None):
    """The script's commands: (Command, line, conditions, cwd, runs_script), through `read.shell` when it exists."""
    text = project.text(rel)
    if text is None:
        return None
    from pgforklint.read import shell

    def read_file(path: str) -> str | None:
        target = sourced_file(project, launch, rel, path)
        return project.text(target) if target is not None else None

    script = shell.read_script(text, env, args=tuple(args), read_file=read_file, args_known=args_known,
                               script_path=written)
    # What the reader could not follow (`eval` of a computed string, a file sourced from outside the repository)
    # is no fault of the file: it matters only when no server command was found, and then it is the step that
    # failed (PGF102), never an unreadable file (PGF100).
    problems = list(getattr(script, "problems", []) or [])
    items = []
    seen: set[tuple] = set()
    for item in script.commands:
        # The same command on the same line under the same conditions, reached by two ways the reader kept apart
        # (a sourced function that returns a status it cannot decide): one command.
        key = (tuple(item.command.args), item.line, tuple(item.conditions), item.written_at)
        if key in seen:
            continue
        seen.add(key)
        items.append((item.command, item.line, tuple(item.conditions), item.cwd, item.runs_script,
                      dict(item.env or {}), bool(getattr(item, "is_exec", False)),
                      _written_at(project, launch, rel, item.written_at, item.line), item.forwards_arguments))
    return items, problems, list(script.unknown_sources)


def _written_at(project: Project, launch: Launch | None, rel: str, written_at: tuple[str, int] | None,
                line: int) -> Location:
    """Where a command the script runs is written: in the script, or in the file it sources (mapped to the
    repository through the image's COPY map)."""
    if written_at is not None:
        file = sourced_file(project, launch, rel, written_at[0])
        if file is not None:
            return Location(file, written_at[1])
    return Location(rel, line)


def sourced_file(project: Project, launch: Launch | None, rel: str, path: str) -> str | None:
    """The repository file a script `rel` sources or tests as `path`: an absolute path in the image through its
    COPY map (`source /container/commands/$1` where `COPY docker/base /` put the folder there), else the path
    from the repository root or the script's folder."""
    if path.startswith("/"):
        if launch is None or launch.paths is None:
            return None
        target = launch.paths.to_repo(path)
        return target if target is not None and project.exists(target) else None
    for target in (path, posixpath.join(rel.rpartition("/")[0], path)):
        target = posixpath.normpath(target)
        if project.exists(target):
            return target
    return None


def follow(project: Project, launch: Launch, depth: int = 0, seen: tuple[str, ...] = ()) -> list[Launch]:
    """The launch with every script it runs replaced by the commands the script runs (variants by branch)."""
    if depth > MAX_DEPTH:
        return [launch]
    variants: dict[str | None, list[Command]] = {None: []}
    via: dict[str | None, list[Location]] = {None: []}
    failed: list[str] = []
    extra_env: dict[str, str] = {}
    forwarded: dict[str | None, Location] = {}
    branch_at: dict[str | None, Location] = {}  # the command that makes each variant (`exec gunicorn` in its arm)
    followed = False
    for command in launch.commands:
        call = script_call(project, launch, command)
        if call is None:
            missing = _missing_script(project, launch, command)
            if missing is not None:
                failed.append(missing)
            for key in variants:
                variants[key].append(command)
            continue
        rel, words, written = call
        invoked_as = written if "/" in written or command.program in SHELLS else None  # else found on PATH: $0 unknown
        if rel in seen:
            continue
        # The caller's words are the script's arguments; known unless one is a variable with no value.
        known = not any(word.is_symbolic for word in words)
        read = _read(project, rel, {**launch.env, **command.env}, [w.text for w in words], known, invoked_as, launch)
        if known and depth == 0 and launch.source == "dockerfile" and read is not None \
                and "default_args" in launch.extra and len(words) <= launch.extra["default_args"]:
            # An image's ENTRYPOINT script given no argument, or only the CMD's (a default the deployment replaces:
            # `docker run image worker`, a platform's process command): when the script starts more servers on
            # other arguments (`*) exit 1` without one, `elif [ "$1" == "worker" ]`), each branch is a variant.
            unknown_args = _read(project, rel, {**launch.env, **command.env}, [], False, invoked_as, launch)
            if unknown_args is not None and (_server_count(unknown_args[0]) > _server_count(read[0]) or (
                    unknown_args[2] and not words and not _server_count(read[0]))):
                read = unknown_args  # or, given no argument, it sources a file the argument names (`source commands/$1`)
        if read is None:
            failed.append(f"the script `{written}` ({rel}) could not be read")
            continue
        items, problems, unknown_sources = read
        unknown = [(line, reason) for line, reason in problems if reason.startswith(UNKNOWN_COMMAND)]
        if unknown and not any(_starts_server(inner) for inner, *_ in items):
            # A command the script computes at run time (`exec $WORKER_CMD`) may be the server: say which step
            # failed. Other things the reader skips (an `eval`, a file sourced from the image) are not a launch.
            line, reason = unknown[0]
            failed.append(f"the script `{written}` ({rel}) runs a command pgforklint cannot read at line {line}: {reason}")
        elif not any(_starts_server(inner) for inner, *_ in items) and unknown_sources and depth < MAX_DEPTH \
                and (step := _unknown_source_step(project, launch, rel, written, unknown_sources[0], words,
                                                  {**launch.env, **command.env}, invoked_as)) is not None:
            failed.append(step)
        elif not any(_starts_server(inner) for inner, *_ in items):
            named = next((w.text for w in words if w.text in SERVER_PROGRAMS), None)
            # a script that passes its arguments on (`exec python -m h "$@"`) hands the word to the next program,
            # which is followed in its turn (the project's CLI, `launch/app_cli.py`)
            if named is not None and not any(item[-1] and _python_program(item[0]) for item in items):
                # `entrypoint uwsgi` where the script picks what to run at run time (`source "commands/$1"; run`)
                failed.append(f"the script `{written}` ({rel}) is given `{named}` but reaches no command that starts "
                              "it (the script picks what to run in a way pgforklint does not follow)")
        followed = True
        inner_launch = copy_launch(launch, commands=[], workdir=launch.workdir)
        for inner, line, conditions, cwd, runs_script, env, is_exec, where, forwards in items:
            sub = copy_launch(inner_launch, commands=[inner], env={**launch.env, **env})
            if cwd:
                _apply_cwd(sub, cwd)
            expanded = follow(project, sub, depth + 1, (*seen, rel))
            # Only a branch that starts a process makes a variant; `if ...; then migrate; fi` does not.
            condition = " ".join(conditions) if conditions and (is_exec or _starts_server(inner)) else None
            for result in expanded:
                key = _join(condition, result.condition)
                if key not in variants:
                    variants[key] = list(variants[None])
                    via[key] = list(via[None])
                    branch_at[key] = result.extra.get(BRANCH_AT) or where
                # `exec uwsgi --master ... "$@"`: whoever runs the image may add the app's options (an ini, a module)
                passes_on = where if forwards and _starts_server(inner) else result.extra.get(FORWARDS)
                for target in ([key] if key is not None else list(variants)):
                    variants[target].extend(result.commands)
                    via[target].append(where)
                    if passes_on is not None:
                        forwarded[target] = passes_on
                extra_env.update(result.env)
                if result.workdir != launch.workdir or result.extra.get("container_cwd"):
                    inner_launch.workdir = result.workdir
                    inner_launch.extra = {k: v for k, v in result.extra.items() if k not in (FORWARDS, BRANCH_AT)}
    if not followed:
        if failed:
            launch.failed.extend(failed)
        return [launch]
    named = {key: commands for key, commands in variants.items() if key is not None and commands}
    # Branches that end up running the same commands (a health check's `if ... break` before the one `exec`)
    # are one process, not several: keep the first condition that leads to each distinct command list.
    distinct: dict[tuple, str] = {}
    for key, commands in named.items():
        distinct.setdefault(tuple(tuple(c.args) for c in commands), key)
    keep_name = len(distinct) == 1 and len(named) > 1  # every branch runs the same: no branch decides anything
    named = {key: named[key] for key in distinct.values()}
    labels = [variant_label(key) for key in named]
    out = []
    base = copy_launch(launch, commands=variants[None], env={**launch.env, **extra_env})
    base.workdir, base.extra = inner_launch.workdir, {**launch.extra, **inner_launch.extra}
    base.via = [*launch.via, *via[None]]
    base.failed = [*launch.failed, *failed]
    if None in forwarded:
        base.extra[FORWARDS] = forwarded[None]
    if not named:
        return [base]
    for key, commands in named.items():
        variant = copy_launch(base, commands=_unique_commands(commands) if keep_name else commands)
        variant.condition = None if keep_name else key
        if not keep_name and (len(named) > 1 or variants[None]):
            label = variant_label(key)
            # two branches with the same last test (`if [ -n "$X" ]` reached from both ways of an earlier one)
            variant.name = f"{launch.name} [{label if labels.count(label) == 1 else key}]"
        variant.via = [*launch.via, *via[key]]
        if key in forwarded:
            variant.extra = {**variant.extra, FORWARDS: forwarded[key]}
        if key in branch_at:
            variant.extra = {**variant.extra, BRANCH_AT: branch_at[key]}
        out.append(variant)
    return out


FORKING_PROGRAMS = frozenset({"gunicorn", "uwsgi", "uwsgi-core", "pyuwsgi", "celery", "rq", "rqworker", "puma",
                              "unicorn", "unicorn_rails", "resque", "resque-pool"})


def unselected_image_branches(project: Project, launches: list[Launch], built: set[str]) -> list[Launch]:
    """Process types of an image that Compose builds, whose ENTRYPOINT is a dispatch script and that has no CMD
    (the argument comes from the deployment: a Kubernetes manifest, a platform's process list outside the
    repository): each branch that starts a forking server and that no production launch of the repository runs
    (`case "$1" in web-prod)` beside a Compose file that selects only `celery` and `web-dev`). A branch a
    development setup runs (a Compose file with `runserver`) still is one: production selects it elsewhere."""
    from pgforklint.launch import image_launch
    from pgforklint.launch.coverage import _server_program, dev_server, development_name
    from pgforklint.launch.dockerfile import read_image

    development = {launch.location.path for launch in launches
                   if development_name(launch.location.path) or dev_server(launch)}
    selected = {where for launch in launches if launch.location.path not in development for where in launch.via}
    ran = {where.path for launch in launches for where in launch.via}
    out: list[Launch] = []
    for rel in sorted(built):
        contexts = [launch.paths.context for launch in launches
                    if launch.source == "compose" and launch.paths is not None and launch.paths.origin == rel]
        image = read_image(project, rel, contexts[0] if contexts else None)
        if image is None or image.entrypoint is None or not image.entrypoint.words or image.cmd is not None:
            continue
        launch = image_launch(project, rel, image)
        if launch is None:
            continue
        for variant in follow(project, launch):
            if variant.condition is None or not variant.via or variant.via[0].path not in ran:
                continue  # no branch, or a script no launch of the image runs (every service replaces it)
            program = _server_program(variant) or next((c.program for c in variant.commands
                                                        if c.program in FORKING_PROGRAMS), None)
            if program not in FORKING_PROGRAMS or dev_server(variant) is not None:
                continue
            if variant.extra.get(BRANCH_AT) in selected:
                continue
            variant.name = f"{variant.via[0].path} [{variant_label(variant.condition)}]"
            out.append(variant)
    return out


def _unknown_source_step(project: Project, launch: Launch, rel: str, written: str, unknown, words: list[Word],
                         env: dict[str, str], invoked_as: str | None) -> str | None:
    """The step that failed when a script sources a file picked by a variable with no known value here
    (`source "/container/commands/$1"` in an image with no CMD): which variable, which folder, and the files
    there that would start a forking server, each read with the variable set to its name."""
    variable = unknown.variables[0]
    folder = _sourced_folder(project, launch, rel, unknown.folder)
    if folder is None:
        return None
    starting = []
    names = sorted(source.rel.rpartition("/")[2] for source in project.discovery.files
                   if source.rel.rpartition("/")[0] == folder)
    for name in names[:40]:
        if variable.isdigit():
            args = [w.text for w in words]
            args += [""] * (int(variable) - len(args))
            args[int(variable) - 1] = name
            read = _read(project, rel, env, args, True, invoked_as, launch)
        else:
            read = _read(project, rel, {**env, variable: name}, [w.text for w in words],
                         not any(w.is_symbolic for w in words), invoked_as, launch)
        servers = [inner.program for inner, *_ in (read[0] if read is not None else []) if _starts_server(inner)]
        if servers:
            starting.append(f"`{name}` ({servers[0]})")
    if not starting and not any(w.text in SERVER_PROGRAMS for w in words):
        return None  # nothing the folder holds starts a server: the script starts none that can be seen
    whose = (f"the script's argument ${variable}, which the launch does not give" if variable.isdigit()
             else f"${variable}, which has no known value here")
    found = (f"files there that start a server: {', '.join(starting)}" if starting
             else "no file there starts a server pgforklint recognises")
    return (f"the script `{written}` ({rel}) sources a file of `{unknown.folder}/` (`{folder}/` in the repository) "
            f"at line {unknown.line}, picked by {whose}; {found}")


def _sourced_folder(project: Project, launch: Launch | None, rel: str, folder: str) -> str | None:
    from pgforklint.launch.paths import folder_exists

    if folder.startswith("/"):
        target = launch.paths.to_repo(folder) if launch is not None and launch.paths is not None else None
        return target if target is not None and folder_exists(project, target) else None
    for target in (folder, posixpath.join(rel.rpartition("/")[0], folder)):
        target = posixpath.normpath(target)
        if target != "." and folder_exists(project, target):
            return target
    return None



def _unique_commands(commands: list[Command]) -> list[Command]:
    """The commands of branches merged into one process, each once (two paths reached the same `exec`)."""
    seen: set[tuple] = set()
    out = []
    for command in commands:
        key = tuple(command.args)
        if key not in seen:
            seen.add(key)
            out.append(command)
    return out


_CASE_LITERAL = re.compile(r"""\bcase\s+\S+\s+in\s+(\S+)""")
_TEST_LITERAL = re.compile(r"""(?:==?|!=)\s*["']?([^"'\s\]]+)["']?\s*\]""")


def variant_label(condition: str) -> str:
    """A short name for a script branch: the value it dispatches on (`case "$1" in web` -> `web`,
    `elif [ "$1" == "worker" ]` -> `worker`), `not web` for the else after it, else the condition as written."""
    found = [(m.start(), m.group(1)) for m in _CASE_LITERAL.finditer(condition)]
    found += [(m.start(), m.group(1)) for m in _TEST_LITERAL.finditer(condition)]
    if not found:
        test = re.search(r"\[\[?\s*(.*?)\s*\]\]?", condition)  # `if [ -f /creds.json ]` -> `-f /creds.json`
        if test is None:
            return condition
        return f"not {test.group(1)}" if condition.rstrip().endswith("else") else test.group(1)
    _, value = max(found)
    value = value.rstrip(")").strip("'\"") or value  # `case "$1" in 'web-prod')`
    negated = condition.rstrip().endswith("else") or "!=" in condition[max(found)[0]:]
    return f"not {value}" if negated else value


SERVER_PROGRAMS = frozenset({"gunicorn", "uwsgi", "uwsgi-core", "pyuwsgi", "celery", "rq", "rqworker", "uvicorn",
                             "hypercorn", "daphne", "granian", "flask", "dramatiq", "huey_consumer"})


def _server_count(items) -> int:
    return sum(1 for inner, *_ in items if _starts_server(inner))


def _starts_server(command: Command) -> bool:
    words = [w.text for w in command.argv]
    if command.program in ("celery", "rq"):
        return _celery_subcommand(words[1:]) in CELERY_PROCESSES
    if command.program in SERVER_PROGRAMS:
        return True
    if "celery" in words[1:3]:  # `python -m celery -A app worker`
        return _celery_subcommand(words[words.index("celery", 1) + 1:]) in CELERY_PROCESSES
    return any(word in ("runserver", "rqworker") for word in words[1:3])


# `celery worker|beat|multi|flower|events` (`rq worker`) run as processes; `celery status`, `inspect`, `call`, `purge`
# (`rq info`) ask a running one something and exit (a readiness check in a start script).
CELERY_PROCESSES = frozenset({"worker", "beat", "multi", "flower", "events", "worker-pool"})
_CELERY_VALUE_OPTIONS = frozenset({"-A", "--app", "-b", "--broker", "--result-backend", "--loader", "--config",
                                   "--workdir", "-C", "-c", "-u", "--url", "--path", "-P"})


def _python_program(command: Command) -> bool:
    """`python -m pkg`, `python manage.py`, `./cli.py`: a Python program the project's CLI stage reads."""
    return command.program.startswith("python") or command.program.endswith(".py")


def _celery_subcommand(words: list[str]) -> str | None:
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word.startswith("-"):
            skip = word in _CELERY_VALUE_OPTIONS
        else:
            return word
    return None


UNKNOWN_COMMAND = ("the command is held in", "the command `")  # read.shell's words for a command word with no value
RUBY_BINSTUBS = frozenset({"rails", "rake", "jobs", "puma", "pumactl", "unicorn", "unicorn_rails", "sidekiq", "resque",
                           "good_job", "bundle", "rackup", "delayed_job"})


INSTALLED_TOOL_FOLDERS = frozenset({"node_modules", ".venv", "venv", "site-packages", "vendor", ".bundle"})


def _missing_script(project: Project, launch: Launch, command: Command) -> str | None:
    """A relative path the launch runs (`./bin/start`, `sh scripts/web.sh`) that is not in the repository."""
    from pgforklint.launch.paths import describe_place

    words = [w.text for w in command.argv]
    if command.program in SHELLS:
        words = [w for w in words[1:] if not w.startswith("-")]
    written = words[0] if words else ""
    if not written or written.startswith(("/", "$", "~", ">", "<", "&")) or "/" not in written or written.endswith(".py"):
        return None
    if INSTALLED_TOOL_FOLDERS & set(written.split("/")):
        return None  # `node_modules/.bin/gulp`: installed by a package manager, not kept in the repository
    if written.removeprefix("./").startswith("bin/") and written.rsplit("/", 1)[-1] in RUBY_BINSTUBS:
        return None  # a Rails binstub (generated by `bundle binstubs`): the Ruby adapters read what it starts
    if launch.paths is not None or repo_file(project, launch, written) is not None:
        return None
    return f"runs `{written}`, which is not a file of the repository (looked in {describe_place(launch)})"


def _join(first: str | None, second: str | None) -> str | None:
    if first and second:
        return f"{first} and {second}"
    return first or second


def _apply_cwd(launch: Launch, cwd: str) -> None:
    if launch.paths is not None:
        launch.extra = {**launch.extra, "container_cwd": launch.paths.container_path(
            cwd, launch.extra.get("container_cwd"))}
        repo = launch.paths.to_repo(launch.extra["container_cwd"])
        if repo is not None:
            launch.workdir = repo
    elif not cwd.startswith("/"):
        launch.workdir = posixpath.normpath(posixpath.join(launch.workdir, cwd)).lstrip("./") if cwd != "." else launch.workdir
