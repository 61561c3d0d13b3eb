"""Launch commands: Procfile lines, Dockerfile CMD/ENTRYPOINT, Compose `command`, shell lines.

Built on `shlex`. Understands `$VAR`, `${VAR}` and `${VAR:-default}` in arguments, `VAR=value`
prefixes, `exec`, `sh -c "..."`, `&&`/`;` chains, and wrappers such as `newrelic-admin run-program`.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import field

from pgforklint.errors import ReadError
from pgforklint.records import record

_ENV_REF = re.compile(r"\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-=])(?P<default>[^}]*))?\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)")

WRAPPERS = {
    ("newrelic-admin", "run-program"), ("newrelic-admin", "run-python"), ("ddtrace-run",), ("opentelemetry-instrument",),
    ("dumb-init",), ("tini",), ("tini", "--"), ("exec",), ("nohup",), ("pipenv", "run"), ("poetry", "run"), ("uv", "run"),
    ("pdm", "run"), ("hatch", "run"), ("gosu",), ("su-exec",), ("doppler", "run", "--"), ("env",),
}


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
    env: dict[str, str] = field(default_factory=dict)  # VAR=value prefixes

    @property
    def args(self) -> list[str]:
        return [w.text for w in self.argv]

    @property
    def program(self) -> str:
        if not self.argv:
            return ""
        return self.argv[0].text.rsplit("/", 1)[-1]


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
    """Every simple command in a shell line, with `sh -c '...'` unwrapped (bounded depth)."""
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
        tokens = _strip_wrappers(tokens)
        if not tokens:
            continue
        program = tokens[0].rsplit("/", 1)[-1]
        if program in ("sh", "bash", "dash", "zsh", "ash") and depth < 3:
            inner = _shell_c_argument(tokens)
            if inner is not None:
                out.extend(parse_commands(inner, {**env, **prefix_env}, depth + 1))
            continue
        merged = {**env, **prefix_env}
        out.append(Command([expand_word(t, merged) for t in tokens], prefix_env))
    return out


def _shell_c_argument(tokens: list[str]) -> str | None:
    for index, token in enumerate(tokens[1:], start=1):
        if token.startswith("-") and "c" in token[1:] and not token.startswith("--"):
            return tokens[index + 1] if index + 1 < len(tokens) else None
    return None


def _strip_wrappers(tokens: list[str]) -> list[str]:
    changed = True
    while changed and tokens:
        changed = False
        for wrapper in sorted(WRAPPERS, key=len, reverse=True):
            n = len(wrapper)
            if tuple(t.rsplit("/", 1)[-1] if i == 0 else t for i, t in enumerate(tokens[:n])) == wrapper:
                tokens = tokens[n:]
                start = 0
                while start < len(tokens) and wrapper[0] == "env" and (_ASSIGNMENT.match(tokens[start])
                                                                        or tokens[start].startswith("-")):
                    start += 1
                tokens = tokens[start:]
                changed = True
                break
    return tokens


def python_module_invocation(command: Command) -> tuple[str, list[Word]] | None:
    """`python -m gunicorn ...` -> ("gunicorn", rest)."""
    program = command.program
    if not re.fullmatch(r"python(\d(\.\d+)?)?", program):
        return None
    words = command.argv[1:]
    for index, word in enumerate(words):
        if word.text == "-m" and index + 1 < len(words):
            return words[index + 1].text, words[index + 2 :]
        if not word.text.startswith("-"):
            return None
    return None
