"""gunicorn: reset the inherited pool in `post_fork(server, worker)` of the config file the server reads.

- The config the server reads (`Server.config_path`: `-c FILE`, `python:MODULE`, or
  `./gunicorn.conf.py`) gets a `post_fork` hook, or its existing `post_fork` (a plain top-level
  `def`) gets the reset appended at the end of its body, keeping its parameter names.
- The engine is imported inside the hook: the module is already imported in the master when the
  hook runs in the child (the connection was opened there), so the import runs no code, and the
  config file does not start importing the application earlier than it did.
- Django: closing an inherited *live* connection in the child sends a Terminate message on the
  socket the master and the siblings share (the PGF003 hazard; Celery's Django fixup avoids it by
  closing the raw fd without network IO). The fix closes Django's connections in the master
  instead, in `pre_fork(server, worker)`, which runs before every fork (also the re-forks after
  `max_requests`), so no worker inherits a connection at all.
- No config file: gunicorn reads `./gunicorn.conf.py` from its working directory by default. A
  Procfile at the repository root runs in the root, so creating `gunicorn.conf.py` there is safe.
  Anywhere else (Compose, Dockerfile, scripts) the file is created in the repository folder that lands in the
  process's working directory (the image's `WORKDIR` through its `COPY` lines, a unit's `WorkingDirectory`), and
  `-c gunicorn.conf.py` is added to the launch command: an unsafe fix, as the file reaches the process only once
  the image is rebuilt. Where the repository puts nothing in that directory, there is no fix; with `--chdir`
  the working directory is not known, and the file is created at the root.
"""

from __future__ import annotations

import ast
import re

from pgforklint.fix.base import Applicability, Context, Edit, Fix, NoFix, ResetRecipe, load_pyedit
from pgforklint.model import Engine, Server

CONFIG_DEFAULT = "gunicorn.conf.py"
SIGNATURE = "server, worker"
CHILD_COMMENT = "Drop the pool inherited from the master without closing its sockets (pgforklint --fix)."
PARENT_COMMENT = "Close the master's connections before each fork, so no worker inherits one (pgforklint --fix)."
NEW_FILE_HEADER = "gunicorn configuration: gunicorn reads ./gunicorn.conf.py from its working directory by default."
_GUNICORN_WORD = re.compile(r"(?:(?<=\s)|^)(?:[^\s\"'\[\],]*/)?gunicorn(?=\s|$)")


def hook_statements(ctx: Context, config_rel: str | None, recipe: ResetRecipe, module_here: str = "__config__") -> list[str]:
    """The hook's body: the recipe, importing only what the file does not already bind at its top."""
    tree = ctx.tree(config_rel) if config_rel else None
    lines = []
    for module, name in recipe.imports:
        if module == module_here:
            continue  # the engine is defined in this file itself
        if tree is not None and _imported_at_top(tree, module, name):
            continue
        lines.append(f"from {module} import {name}")
    return lines + recipe.statements


def _imported_at_top(tree: ast.Module, module: str, name: str) -> bool:
    from pgforklint.fix.base import top_level_binding

    binding = top_level_binding(tree, name)
    return (isinstance(binding, ast.ImportFrom) and binding.module == module and binding.level == 0
            and any(a.name == name and a.asname is None for a in binding.names))


def reset_fix(ctx: Context, server: Server, engine: Engine, recipe: ResetRecipe) -> Fix:
    hook = "pre_fork" if recipe.parent_side else "post_fork"
    comment = PARENT_COMMENT if recipe.parent_side else CHILD_COMMENT
    config = server.config_path
    what = f"`{hook}` in {{path}}: {'; '.join(s.splitlines()[0] for s in recipe.statements)}"
    if config is not None:
        if not config.endswith(".py"):
            raise NoFix(f"the gunicorn configuration `{config}` is not a Python file")
        statements = hook_statements(ctx, config, recipe)
        _check_names(ctx, config, hook, recipe)
        edit = Edit(config, lambda text: load_pyedit().ensure_function(text, hook, SIGNATURE, statements, comment=comment),
                    description=f"add the reset to `{hook}`")
        return Fix(Applicability.SAFE, f"reset `{engine.label}` in " + what.format(path=config), [edit])
    settings = server.settings
    if "config" in settings:
        raise NoFix("the launch command names a gunicorn configuration that is not in the repository")
    statements = hook_statements(ctx, None, recipe)
    target = settings.get("default_config_at") if isinstance(settings.get("default_config_at"), str) else None
    if "default_config_at" in settings and target is None:
        raise NoFix(f"the process runs in {settings.get('runs_in')}, where the repository puts no file: a new "
                    f"{CONFIG_DEFAULT} would not reach it")
    create = Edit(target or CONFIG_DEFAULT, lambda text: load_pyedit().ensure_function(text, hook, SIGNATURE, statements, comment=comment,
                                                               header=NEW_FILE_HEADER),
                  description=f"create {target or CONFIG_DEFAULT}")
    process_types = [p for p in ctx.model.process_types if p.server is server]
    if process_types and all(p.location.path == "Procfile" for p in process_types) and "chdir" not in settings:
        return Fix(Applicability.SAFE, f"create {CONFIG_DEFAULT} (read by default from the Procfile's working "
                                       f"directory) with " + what.format(path=CONFIG_DEFAULT), [create])
    edits = [create]
    for process_type in process_types:
        path, line = process_type.location.path, process_type.location.line
        edits.append(Edit(path, lambda text, line=line: add_config_option(text, line), python=False,
                          description=f"add `-c {CONFIG_DEFAULT}` to the launch command"))
    if not process_types:
        raise NoFix("no launch command to point at a new gunicorn configuration")
    if target is not None:
        return Fix(Applicability.UNSAFE, f"create {target} (the process runs in {settings.get('runs_in')}) with "
                   + what.format(path=target) + f", and add `-c {CONFIG_DEFAULT}` to the launch command "
                   "(unsafe: the file reaches the process only once the image is rebuilt, or the volume remounted)", edits)
    return Fix(Applicability.UNSAFE, f"create {CONFIG_DEFAULT} with " + what.format(path=CONFIG_DEFAULT)
               + f", and add `-c {CONFIG_DEFAULT}` to the launch command (its working directory is not known)", edits)


def _check_names(ctx: Context, config: str, hook: str, recipe: ResetRecipe) -> None:
    tree = ctx.tree(config)
    if tree is None:
        return
    for statement in tree.body:
        if isinstance(statement, ast.FunctionDef) and statement.name == hook:
            params = {a.arg for a in [*statement.args.posonlyargs, *statement.args.args, *statement.args.kwonlyargs]}
            clash = params & {name for _, name in recipe.imports}
            if clash:
                raise NoFix(f"`{hook}` has a parameter named `{sorted(clash)[0]}`, the name of the engine to reset")


def add_config_option(text: str, line: int) -> str:
    """Insert `-c gunicorn.conf.py` after the `gunicorn` word of the launch command on `line`."""
    lines = text.splitlines(keepends=True)
    if not 1 <= line <= len(lines):
        raise ValueError(f"no line {line}")
    current = lines[line - 1]
    if f"-c {CONFIG_DEFAULT}" in current or f"--config {CONFIG_DEFAULT}" in current:
        return text
    if "[" in current and '"gunicorn' in current:
        raise ValueError("exec-form (JSON) command")
    matches = list(_GUNICORN_WORD.finditer(current))
    if len(matches) != 1:
        raise ValueError("cannot find exactly one `gunicorn` word in the launch command")
    end = matches[0].end()
    lines[line - 1] = current[:end] + f" -c {CONFIG_DEFAULT}" + current[end:]
    return "".join(lines)
