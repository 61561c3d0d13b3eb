"""Launch commands: Procfile lines, Dockerfile CMD/ENTRYPOINT, Compose `command`, shell lines.

`parse_commands` splits one line with `shlex`: `$VAR`, `${VAR}` and `${VAR:-default}` in arguments,
`VAR=value` prefixes, `sh -c "..."`, `&&`/`;` chains. Whole scripts (variables, branches, functions) are
`read/shell.py`'s. Both hand their expanded words to `peel`, which takes off what only wraps the real
program (`exec -a NAME`, `env X=1`, `tini --`, `gosu USER`, `newrelic-admin run-program`, `ddtrace-run`,
`python -m gunicorn`, ...) and says which wrappers it took (the budget counts New Relic's connection only
for the commands `newrelic-admin` wraps).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import field

from pgforklint.errors import ReadError
from pgforklint.records import record

_ENV_REF = re.compile(r"\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-=])(?P<default>[^}]*))?\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)")

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ash", "ksh", "mksh", "busybox"})

# `python -m MODULE` of a module that is a server's own command line: the command is that program
PYTHON_MODULE_PROGRAMS = {
    "gunicorn": "gunicorn", "gunicorn.app.wsgiapp": "gunicorn", "celery": "celery", "celery.__main__": "celery",
    "uvicorn": "uvicorn", "hypercorn": "hypercorn", "daphne": "daphne", "pyuwsgi": "pyuwsgi", "flask": "flask",
    "granian": "granian", "dramatiq": "dramatiq", "huey.bin.huey_consumer": "huey_consumer",
}

_PYTHON = re.compile(r"python(\d(\.\d+)?)?")


@record(frozen=True)
class EnvRef:
    name: str
    default: str | None  # the `:-default` text, if any
    value: str | None  # the value used: from the known environment, else the default, else None
    source: str  # "env" (a value set in the repo), "default" (the ${VAR:-x} default), "unset"


@record(frozen=True)
class Word:
    text: str  # after expansion; unset variables expand to ""
    raw: str
    refs: tuple[EnvRef, ...] = ()

    @property
    def is_symbolic(self) -> bool:
        return any(ref.source == "unset" for ref in self.refs)


@record
class Command:
    """One simple command: argv after env assignments and wrappers are peeled off."""

    argv: list[Word]
    env: dict[str, str] = field(default_factory=dict)  # VAR=value prefixes (and `env VAR=value` wrappers)
    wrappers: tuple[str, ...] = ()  # peeled, outermost first: "newrelic-admin run-program", "tini", "python -m", ...
    exec_name: str | None = None  # NAME of `exec -a NAME`
    runs_script: str | None = None  # the script file it runs, as written: `./bin/serve`, `bash start.sh` -> "start.sh"

    @property
    def args(self) -> list[str]:
        return [w.text for w in self.argv]

    @property
    def program(self) -> str:
        if not self.argv:
            return ""
        return self.argv[0].text.rsplit("/", 1)[-1]

    def wrapped_by(self, program: str) -> bool:
        """Whether a peeled wrapper is `program` (`wrapped_by("newrelic-admin")`)."""
        return any(w.split(" ", 1)[0] == program for w in self.wrappers)

    @property
    def script_args(self) -> list[Word]:
        """The arguments given to `runs_script` (its `$1`, `$2`, ...)."""
        if self.runs_script is None:
            return []
        for index, word in enumerate(self.argv):
            if word.text == self.runs_script:
                return self.argv[index + 1 :]
        return []


def expand_word(raw: str, env: dict[str, str]) -> Word:
    refs: list[EnvRef] = []

    def substitute(match: re.Match) -> str:
        name = match.group("braced") or match.group("bare")
        default = match.group("default") if match.group("braced") else None
        if name in env:
            ref = EnvRef(name, default, env[name], "env")
        elif default is not None:
            ref = EnvRef(name, default, default, "default")
        else:
            ref = EnvRef(name, None, None, "unset")
        refs.append(ref)
        return ref.value or ""

    return Word(_ENV_REF.sub(substitute, raw), raw, tuple(refs))


_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def split_shell(text: str) -> list[list[str]]:
    """Split a shell line into simple commands on `&&`, `||`, `;` and `|` (no nesting beyond `sh -c`)."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        tokens = list(lexer)
    except ValueError as exc:
        raise ReadError(f"cannot parse command: {exc}") from None
    commands: list[list[str]] = [[]]
    for token in tokens:
        if token and set(token) <= set(";&|"):
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def parse_commands(text: str, env: dict[str, str] | None = None, depth: int = 0) -> list[Command]:
    """Every simple command in a shell line, with wrappers peeled and `sh -c '...'` unwrapped (bounded depth)."""
    env = dict(env or {})
    out: list[Command] = []
    for tokens in split_shell(text):
        prefix_env: dict[str, str] = {}
        start = 0  # leading `VAR=value` words, counted (slicing them off one by one is quadratic)
        while start < len(tokens) and _ASSIGNMENT.match(tokens[start]):
            name, value = tokens[start].split("=", 1)
            prefix_env[name] = value
            start += 1
        tokens = tokens[start:]
        merged = {**env, **prefix_env}
        peeled = peel([expand_word(t, merged) for t in tokens])
        if peeled.shell_c is not None:
            if depth < 3:
                out.extend(parse_commands(peeled.shell_c[0], {**merged, **peeled.command.env}, depth + 1))
            continue
        command = peeled.command
        if not command.argv:
            continue
        command.env = {**prefix_env, **command.env}
        out.append(command)
    return out


# --- wrappers ------------------------------------------------------------------------------------------


@record
class Peeled:
    command: Command  # what runs once the wrappers are off (`argv` may be empty: `exec` alone, `env`)
    shell_c: tuple[str, list[Word]] | None = None  # `sh -c STRING ARG0 ARG1...`: the string, then its $0, $1...


def _options(words: list[Word], index: int, with_value: frozenset[str] | set[str] = frozenset(),
             all_long_take_value: bool = False) -> int:
    """Index of the first word after the options starting at `index` (a `--` is taken too)."""
    while index < len(words):
        text = words[index].text
        if text == "--":
            return index + 1
        if not text.startswith("-") or text == "-":
            return index
        if "=" not in text and (text in with_value or (all_long_take_value and text.startswith("--"))):
            index += 2
        else:
            index += 1
    return index


_W = frozenset


def _python_module(words: list[Word]) -> tuple[int, str] | None:
    """`python [-u] [-X opt] -m MODULE`: (index of MODULE, program) when MODULE is a known server's CLI."""
    index = 1
    while index < len(words):
        text = words[index].text
        if text == "-m" and index + 1 < len(words):
            program = PYTHON_MODULE_PROGRAMS.get(words[index + 1].text)
            return (index + 1, program) if program else None
        if text.startswith("-m") and len(text) > 2:
            program = PYTHON_MODULE_PROGRAMS.get(text[2:])
            return (index, program) if program else None
        if text in ("-W", "-X", "-Q"):
            index += 2
            continue
        if not text.startswith("-") or text in ("-c", "-"):
            return None
        index += 1
    return None


def _peel_one(words: list[Word], found: dict) -> list[Word] | None:
    """The words after one wrapper at the front of `words`, or None when there is none."""
    name = words[0].text.rsplit("/", 1)[-1]
    second = words[1].text if len(words) > 1 else ""
    label = name
    if name == "exec":
        index = 1
        while index < len(words) and words[index].text.startswith("-") and words[index].text != "--":
            if words[index].text == "-a" and index + 1 < len(words):
                found["exec_name"] = words[index + 1].text
                index += 2
            else:
                index += 1
        rest = words[index + (index < len(words) and words[index].text == "--"):]
    elif name == "newrelic-admin" and second in ("run-program", "run-python"):
        label = f"{name} {second}"
        rest = words[2:]
        if second == "run-python":
            rest = [Word("python", "python"), *rest]
    elif name == "ddtrace-run":
        rest = words[_options(words, 1):]
    elif name == "opentelemetry-instrument":
        rest = words[_options(words, 1, all_long_take_value=True):]
    elif name == "dumb-init":
        rest = words[_options(words, 1, _W({"-r", "--rewrite"})):]
    elif name in ("tini", "tini-static", "catatonit"):
        rest = words[_options(words, 1, _W({"-p", "-e"})):]
    elif name in ("gosu", "su-exec", "setuidgid", "s6-setuidgid"):
        index = _options(words, 1)
        rest = words[index + 1:]
    elif name == "chpst":
        rest = words[_options(words, 1, _W({"-u", "-U", "-b", "-e", "-n", "-l", "-L", "-m", "-d", "-o", "-p", "-f",
                                              "-c", "-r", "-t"})):]
    elif name in ("sudo", "runuser"):
        rest = words[_options(words, 1, _W({"-u", "-g", "-G", "-C", "-D", "-U", "-p", "-r", "-t", "-T"})):]
    elif name == "env":
        index = 1
        while index < len(words):
            text = words[index].text
            if text == "--":
                index += 1
                break
            if text in ("-u", "--unset", "-C", "--chdir", "-S", "--split-string"):
                index += 2
            elif text.startswith("-"):
                index += 1
            elif _ASSIGNMENT.match(text):
                key, value = text.split("=", 1)
                found["env"][key] = value
                index += 1
            else:
                break
        rest = words[index:]
    elif name == "nice":
        rest = words[_options(words, 1, _W({"-n", "--adjustment"})):]
    elif name == "ionice":
        rest = words[_options(words, 1, _W({"-c", "-n", "--class", "--classdata"})):]
    elif name == "timeout":
        index = _options(words, 1, _W({"-s", "--signal", "-k", "--kill-after"}))
        rest = words[index + 1:]
    elif name in ("nohup", "setsid", "je"):  # `je`: the jemalloc gem's wrapper (`bundle exec je -v puma ...`)
        rest = words[_options(words, 1):]
    elif name == "thrust":
        # Thruster (Rails 8's `CMD ["./bin/thrust", "./bin/rails", "server"]`): an HTTP proxy that runs the command
        # after it as its child and has no options of its own [src: basecamp/thruster README, Usage].
        rest = words[1:]
    elif name == "stdbuf":
        rest = words[_options(words, 1, _W({"-i", "-o", "-e"})):]
    elif name in ("pipenv", "poetry", "pdm", "hatch", "rye") and second == "run":
        label = f"{name} run"
        rest = words[_options(words, 2):]
    elif name == "uv" and second == "run":
        label = "uv run"
        rest = words[_options(words, 2, _W({"--with", "--python", "-p", "--env-file", "--project", "--directory",
                                           "--extra", "--group", "--package", "--index-url", "--with-requirements"})):]
    elif name == "doppler" and second == "run":
        label = "doppler run"
        rest = words[_options(words, 2, _W({"--config", "-c", "--project", "-p", "--token", "--mount"})):]
    elif name == "bundle" and second == "exec":
        label = "bundle exec"
        rest = words[2:]
    elif name == "hupper":
        index = 1
        rest = None
        while index < len(words):
            text = words[index].text
            if text == "-m" and index + 1 < len(words):
                rest = [Word("python", "python"), Word("-m", "-m"), *words[index + 1:]]
                break
            if text in ("-w", "--shutdown-interval", "--reload-interval"):
                index += 2
            elif text.startswith("-"):
                index += 1
            else:
                break
        if rest is None:
            return None
        label = "hupper -m"
    elif name == "watchmedo" and second == "auto-restart":
        label = "watchmedo auto-restart"
        rest = words[_options(words, 2, _W({"-d", "--directory", "-p", "--patterns", "-i", "--ignore-patterns",
                                           "--signal", "--kill-after", "--debounce-interval", "--interval"})):]
    elif _PYTHON.fullmatch(name):
        module = _python_module(words)
        if module is None:
            return None
        index, program = module
        label = "python -m"
        first = words[index]
        rest = [Word(program, first.raw, first.refs), *words[index + 1:]]
    else:
        return None
    found["wrappers"].append(label)
    return rest


def peel(words: list[Word]) -> Peeled:
    """Take the wrappers off expanded words: what really runs, and which wrappers it went through."""
    found: dict = {"wrappers": [], "env": {}, "exec_name": None}
    for _ in range(16):
        if not words:
            break
        rest = _peel_one(words, found)
        if rest is None:
            break
        words = rest
    command = Command(list(words), dict(found["env"]), tuple(w for w in found["wrappers"] if w != "exec"),
                      found["exec_name"])
    if not words:
        return Peeled(command)
    program = command.program
    if program in SHELLS:
        index = 1
        if program == "busybox":
            if len(words) < 2 or words[1].text not in SHELLS:
                return Peeled(command)
            index = 2
        while index < len(words):
            text = words[index].text
            if text in ("--", "-"):
                index += 1
                break
            if not text.startswith(("-", "+")):
                break
            if text.startswith("-") and not text.startswith("--") and "c" in text[1:]:
                if index + 1 < len(words):
                    return Peeled(command, (words[index + 1].text, list(words[index + 2:])))
                return Peeled(command)
            index += 2 if text in ("-o", "+o", "-O", "+O", "--rcfile", "--init-file") else 1
        if index < len(words):
            command.runs_script = words[index].text
        return Peeled(command)
    if _looks_like_script(words[0].text):
        command.runs_script = words[0].text
    return Peeled(command)


# programs that may be named by a path and are not the project's scripts
_KNOWN_PROGRAMS = frozenset({
    "gunicorn", "uwsgi", "uwsgi-core", "pyuwsgi", "celery", "uvicorn", "hypercorn", "daphne", "granian", "rq",
    "rqworker", "flask", "django-admin", "alembic", "pip", "pip3", "node", "npm", "ruby", "bundle", "rails",
    "puma", "sidekiq", "nginx", "supervisord", "supervisorctl", "dramatiq", "huey_consumer", "waitress-serve",
    "honcho", "foreman", "java", "php", "perl", "caddy", "httpd", "apache2", "redis-server", "postgres",
})


def _looks_like_script(path: str) -> bool:
    """A command word that names a script file: `./bin/serve`, `/app/entrypoint.sh`, `bin/boot`."""
    if not path or "$" in path:
        return False
    base = path.rsplit("/", 1)[-1]
    if base.endswith((".sh", ".bash")):
        return True
    if "/" not in path or not base or base.endswith((".py", ".pyc")):
        return False
    if base in _KNOWN_PROGRAMS or _PYTHON.fullmatch(base):
        return False
    if path.startswith(("/usr/", "/bin/", "/sbin/", "/opt/conda/", "/root/.local/")) or "venv/" in path \
            or "/site-packages/" in path or "/.local/bin/" in path:
        return False
    return True


def python_module_invocation(command: Command) -> tuple[str, list[Word]] | None:
    """`python -m some.module ...` -> ("some.module", rest). Known servers' modules are peeled already:
    `python -m gunicorn` is the command `gunicorn` with "python -m" among its wrappers."""
    program = command.program
    if not _PYTHON.fullmatch(program):
        return None
    words = command.argv[1:]
    for index, word in enumerate(words):
        if word.text == "-m" and index + 1 < len(words):
            return words[index + 1].text, words[index + 2 :]
        if not word.text.startswith("-"):
            return None
    return None
