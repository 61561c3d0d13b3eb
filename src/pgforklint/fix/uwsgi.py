"""uWSGI: a `uwsgidecorators.postfork` function in the app module, or `lazy-apps = true` (unsafe).

uWSGI loads the app in the master and forks after (https://uwsgi-docs.readthedocs.io/en/latest/ThingsToKnow.html).
`@postfork` registers a function uWSGI calls in each worker after the fork
(https://uwsgi-docs.readthedocs.io/en/latest/PythonDecorators.html). `uwsgidecorators` imports the
`uwsgi` module, which exists only inside uWSGI, so the import is guarded: outside uWSGI (tests,
scripts, a gunicorn run of the same app) `postfork` is a no-op decorator and the module still imports.
`lazy-apps = true` makes every worker load the app after the fork: it also fixes the hazard, for
every kind of pool, but changes memory use and reload behaviour, so it is an unsafe fix.
"""

from __future__ import annotations

import re

from pgforklint.fix.base import Applicability, Context, Edit, Fix, NoFix, ResetRecipe, load_pyedit
from pgforklint.model import Engine, Server

HANDLER = "reset_database_pools"
GUARDED_IMPORT = (
    "try:\n"
    "    from uwsgidecorators import postfork\n"
    "except ImportError:  # not running under uWSGI: keep the module importable\n"
    "    def postfork(function):\n"
    "        return function\n"
)
COMMENT = "Drop the pool inherited from the master without closing its sockets (pgforklint --fix)."


def postfork_fix(ctx: Context, server: Server, engine: Engine, recipe: ResetRecipe) -> Fix:
    applicability, note = Applicability.SAFE, ""
    if recipe.parent_side and recipe.child_statements is None:
        raise NoFix("closing Django's inherited connections in a uWSGI worker would close the master's sockets")
    if recipe.parent_side:  # no uWSGI hook runs in the master right before each fork: the child-side reset, unsafe
        applicability, note = Applicability.UNSAFE, f" (unsafe: {recipe.child_unsafe})"
        recipe = ResetRecipe(recipe.imports, recipe.child_statements, defined_in=recipe.defined_in)
    if server.app is None:
        raise NoFix("the uWSGI app module is not known")
    rel = ctx.module_file(server.app.module)
    if rel is None:
        raise NoFix(f"the uWSGI app module `{server.app.module}` is not in the repository")
    from pgforklint.fix.gunicorn import hook_statements

    statements = hook_statements(ctx, rel, recipe, module_here=server.app.module)
    edits = [
        Edit(rel, lambda text: load_pyedit().ensure_import_block(text, GUARDED_IMPORT, present="from uwsgidecorators import postfork"),
             order=(1, 0), description="import postfork"),
        Edit(rel, lambda text: load_pyedit().ensure_function(text, HANDLER, "", statements, decorator="postfork", comment=COMMENT),
             order=(1, 1), description=f"add `{HANDLER}`"),
    ]
    return Fix(applicability, f"reset `{engine.label}` in a `@postfork` function in {rel}: "
               + "; ".join(s.splitlines()[0] for s in recipe.statements) + note, edits)


def lazy_apps_fix(ctx: Context, server: Server) -> Fix:
    config = server.config_path
    if config is None or not config.endswith(".ini"):
        raise NoFix("no uWSGI .ini file to set `lazy-apps = true` in")
    return Fix(Applicability.UNSAFE, f"set `lazy-apps = true` in {config}: each worker loads the app after the fork "
               "(more memory; reloads change)", [Edit(config, set_lazy_apps, python=False, description="lazy-apps")])


_SECTION = re.compile(r"^\s*\[\s*uwsgi\s*\]\s*$")
_LAZY = re.compile(r"^(\s*)(lazy[-_]apps)(\s*=\s*)(\S*)(.*)$")


def set_lazy_apps(text: str) -> str:
    """`lazy-apps = true` in the [uwsgi] section, replacing `lazy-apps`/`lazy_apps` lines.

    uWSGI matches option names exactly (core/config.c), so `lazy_apps` is not an option: it is rewritten
    with the dash, whatever its value.
    """
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if "\r\n" in text else "\n"
    in_section = False
    header = None
    found = False
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("["):
            in_section = bool(_SECTION.match(line.rstrip("\r\n")))
            if in_section and header is None:
                header = index
            continue
        if in_section:
            match = _LAZY.match(line.rstrip("\r\n"))
            if match:
                found = True
                if match.group(2) == "lazy-apps" and match.group(4).lower() in ("true", "1", "yes", "on"):
                    continue
                indent, _, equals, _, rest = match.groups()
                ending = line[len(line.rstrip("\r\n")):]
                lines[index] = f"{indent}lazy-apps{equals}true{rest}{ending}"
    if found:
        return "".join(lines)
    if header is None:
        raise ValueError("no [uwsgi] section")
    if not lines[header].endswith(("\n", "\r")):
        lines[header] += newline
    lines.insert(header + 1, f"lazy-apps = true{newline}")
    return "".join(lines)
