"""Servers started from the project's own Python: `python serve.py` where serve.py runs a
`gunicorn.app.base.BaseApplication` subclass with options (`preload_app`, `workers`, ...), or a Celery
app's `app.worker_main([...])`, directly or from a click/typer command. Read with `ast`, never imported:
the launch is rewritten into the command line the code amounts to (`gunicorn --preload -w 4 app:app`,
`celery -A tasks worker -c 4`), which the server adapters then analyse like any other.
"""

from __future__ import annotations

import ast
import shlex

from pgforklint.launch.base import Launch
from pgforklint.read.command import Command, parse_commands

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pgforklint.project import Project

NEEDLES = (b"BaseApplication", b"WSGIApplication", b"worker_main")
GUNICORN_BASES = ("BaseApplication", "WSGIApplication", "Application")
OPTION_FLAGS = {"workers": "--workers", "threads": "--threads", "worker_class": "--worker-class", "bind": "--bind",
                "chdir": "--chdir", "pythonpath": "--pythonpath", "config": "--config", "timeout": "--timeout"}


def script_file(project: Project, launch: Launch, command: Command) -> str | None:
    from pgforklint.launch.paths import module_roots, repo_file

    if not command.argv or not command.program.startswith("python"):
        return None
    words = [w.text for w in command.argv[1:]]
    index = 0
    while index < len(words):
        word = words[index]
        if word == "-m" and index + 1 < len(words):
            return project.module_file(words[index + 1], module_roots(project, launch))
        if word == "-c":
            return None
        if word.startswith("-"):
            index += 1
            continue
        return repo_file(project, launch, word) if word.endswith(".py") else None
    return None


def rewrite(project: Project, launch: Launch) -> None:
    """Replace each `python <file>` command that starts a server in code with that server's command."""
    commands: list[Command] = []
    changed = False
    for command in launch.commands:
        rel = script_file(project, launch, command)
        if rel is None or not project.contains(rel, *NEEDLES):
            commands.append(command)
            continue
        found = _servers(project, launch, rel, [w.text for w in command.argv[1:]])
        if not found:
            commands.append(command)
            continue
        for text in found:
            commands.extend(parse_commands(text, {**launch.env, **command.env}))
        launch.via.append(launch.location.__class__(rel, 1))
        changed = True
    if changed:
        launch.commands = commands


def _module_name(project: Project, launch: Launch, rel: str) -> str | None:
    from pgforklint.launch.paths import module_roots

    for root in sorted(module_roots(project, launch), key=len, reverse=True):
        prefix = f"{root}/" if root else ""
        if rel.startswith(prefix) and rel.endswith(".py"):
            return rel[len(prefix):-3].replace("/", ".").removesuffix(".__init__")
    return None


def _servers(project: Project, launch: Launch, rel: str, argv: list[str], only: str | None = None) -> list[str]:
    """The server command lines the file's code amounts to; `only`: those started in that function."""
    source = project.python(rel)
    if source is None:
        return []
    tree = source.tree
    module = _module_name(project, launch, rel) or rel.rsplit("/", 1)[-1][:-3]
    imports = _imports(tree)
    assigned = _dict_assignments(tree)
    classes = {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
               and any(_name(base).rsplit(".", 1)[-1] in GUNICORN_BASES for base in node.bases)}
    found: list[tuple[str, str]] = []  # (function it is in, command)
    for function, call in _calls(tree):
        target = call.func
        # StandaloneApplication(app, options).run()
        if isinstance(target, ast.Attribute) and target.attr == "run" and isinstance(target.value, ast.Call):
            inner = target.value
            if _name(inner.func) in classes and inner.args:
                app = _app_text(inner.args[0], imports, module)
                options = inner.args[1] if len(inner.args) > 1 else next(
                    (k.value for k in inner.keywords if k.arg in ("options", "opts")), None)
                if app is not None:
                    found.append((function, _gunicorn_command(app, _literal_dict(options, assigned))))
        # app.worker_main(["worker", ...])
        if isinstance(target, ast.Attribute) and target.attr == "worker_main":
            app_name = _name(target.value)
            argv_node = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "argv"), None)
            words = _literal_list(argv_node)
            if words is None:
                words = ["worker"]
            if words and words[0] == "celery":
                words = words[1:]
            if "worker" not in words:
                words = ["worker", *words]
            owner = imports.get(app_name, (module, app_name))
            found.append((function, "celery -A " + shlex.quote(f"{owner[0]}:{owner[1]}") + " "
                          + " ".join(shlex.quote(w) for w in words)))
    if only is not None:
        return [text for function, text in found if function == only]
    if len({function for function, _ in found}) > 1:
        chosen = [text for function, text in found if function and function.replace("_", "-") in argv or function in argv]
        if chosen:
            return chosen
    return [text for _, text in found]


def _calls(tree: ast.Module):
    def visit(node: ast.AST, function: str | None):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield from visit(child, child.name)
                continue
            if isinstance(child, ast.Call):
                yield function, child
            yield from visit(child, function)

    yield from visit(tree, None)


def _name(node: ast.AST | None) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return ""


def _imports(tree: ast.Module) -> dict[str, tuple[str, str]]:
    out = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                out[alias.asname or alias.name] = (node.module, alias.name)
    return out


def _dict_assignments(tree: ast.Module) -> dict[str, ast.Dict]:
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node.value
    return out


def _app_text(node: ast.AST, imports: dict[str, tuple[str, str]], module: str) -> str | None:
    call = ""
    if isinstance(node, ast.Call):
        call, node = "()", node.func
    if isinstance(node, ast.Name):
        owner, name = imports.get(node.id, (module, node.id))
        return f"{owner}:{name}{call}"
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in imports:
        owner, name = imports[node.value.id]
        return f"{owner}.{name}:{node.attr}{call}"
    return None


def _literal_dict(node: ast.AST | None, assigned: dict[str, ast.Dict]) -> dict[str, object]:
    if isinstance(node, ast.Name):
        node = assigned.get(node.id)
    out: dict[str, object] = {}
    if isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values):
            if isinstance(key, ast.Constant) and isinstance(key.value, str) and isinstance(value, ast.Constant):
                out[key.value.replace("-", "_")] = value.value
    return out


def _literal_list(node: ast.AST | None) -> list[str] | None:
    if isinstance(node, (ast.List, ast.Tuple)) and all(isinstance(e, ast.Constant) for e in node.elts):
        return [str(e.value) for e in node.elts]
    return None


def _gunicorn_command(app: str, options: dict[str, object]) -> str:
    words = ["gunicorn"]
    preload = options.get("preload_app", options.get("preload"))
    if preload is True:
        words.append("--preload")
    for key, flag in OPTION_FLAGS.items():
        value = options.get(key)
        if value is not None and not isinstance(value, bool):
            words.extend([flag, str(value)])
    words.append(app)
    return " ".join(shlex.quote(w) for w in words)
