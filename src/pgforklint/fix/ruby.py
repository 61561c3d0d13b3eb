"""`--fix` for Ruby servers: the seed's fork hooks, written into the Unicorn or Puma config the server reads.

- Active Record < 5.2 (PGF001/PGF002): `ActiveRecord::Base.connection.disconnect!` in `before_fork` (master) and
  `ActiveRecord::Base.establish_connection` in the child hook: Unicorn `after_fork`, Puma `before_worker_boot`
  (7.0+) or `on_worker_boot` (older). Each guarded by `defined?(ActiveRecord::Base)` as in Unicorn's example.
- Sequel: `DB.disconnect` in `before_fork` (Sequel's fork-safety advice: disconnect before forking).
- An existing `do ... end` hook gets the statement appended before its `end`; otherwise a new hook is added at
  the end of the file. Unicorn keeps one block per hook (a second `before_fork` would replace the first), so
  a hook written another way (a `{ }` block, a lambda) is not touched: no fix.
Text edits only: every other byte of the file stays.
"""

from __future__ import annotations

from pgforklint.fix.base import Applicability, Context, Edit, Fix, NoFix
from pgforklint.model import Engine, EngineKind, Server, ServerKind

COMMENT = "# pgforklint --fix: "


class EditError(Exception):
    pass


def _child_hook(ctx: Context, server: Server) -> str:
    if server.kind is ServerKind.UNICORN:
        return "after_fork"
    app = ctx.model.facts.get("ruby_app")
    version = app.version("puma") if app is not None else None
    if version is not None and version >= (7, 0):
        return "before_worker_boot"
    if any(h.name == "before_worker_boot" for h in server.hooks):
        return "before_worker_boot"
    return "on_worker_boot"


def _insert_into_hook(text: str, hook: str, params: str, lines: list[str], unicorn: bool) -> str:
    from pgforklint.read.ruby import as_call, parse_ruby

    source = parse_ruby(text)
    if source.error_line is not None:
        raise EditError("the file does not parse as Ruby")
    for node in source.root.named_children:
        call = as_call(node)
        if call is None or call.receiver is not None or call.method != hook:
            continue
        if call.block is None or call.block.type != "do_block":
            if unicorn:
                raise EditError(f"`{hook}` is not written as a `do ... end` block")
            continue
        end = call.block.children[-1]
        if end.type != "end":
            raise EditError(f"`{hook}` block has no `end`")
        body_indent = " " * (end.start_point[1] + 2)
        offset = len(text.encode("utf-8")[:end.start_byte].decode("utf-8"))
        line_start = text.rfind("\n", 0, offset) + 1
        newline = "\r\n" if "\r\n" in text else "\n"
        addition = "".join(body_indent + line + newline for line in lines)
        return text[:line_start] + addition + text[line_start:]
    newline = "\r\n" if "\r\n" in text else "\n"
    block = [f"{hook} do |{params}|" if params else f"{hook} do"] + ["  " + line for line in lines] + ["end"]
    separator = "" if text.endswith(("\n", "\r\n")) or not text else newline
    return text + separator + newline + newline.join(block) + newline


def reset_fix(ctx: Context, server: Server, engine: Engine) -> Fix:
    config = server.config_path
    if server.kind is ServerKind.RESQUE:
        return _resque_fix(ctx, server, engine)
    if server.kind not in (ServerKind.UNICORN, ServerKind.PUMA):
        raise NoFix(f"no automatic fix under {server.kind.value} yet")
    if config is None:
        raise NoFix(f"the {server.kind.value} configuration file is not in the repository")
    unicorn = server.kind is ServerKind.UNICORN
    params = "server, worker" if unicorn else ""
    edits: list[Edit] = []
    if engine.kind is EngineKind.ACTIVE_RECORD:
        parent = [COMMENT + "close the master's connections before forking (Active Record < 5.2)",
                  "ActiveRecord::Base.connection.disconnect! if defined?(ActiveRecord::Base)"]
        child = [COMMENT + "each worker opens its own connections",
                 "ActiveRecord::Base.establish_connection if defined?(ActiveRecord::Base)"]
        child_hook = _child_hook(ctx, server)
        edits.append(Edit(config, lambda text: _insert_into_hook(text, "before_fork", params, parent, unicorn),
                          order=(1, 0), python=False, description="before_fork disconnect"))
        edits.append(Edit(config, lambda text: _insert_into_hook(text, child_hook, params, child, unicorn),
                          order=(1, 1), python=False, description=f"{child_hook} establish_connection"))
        message = (f"disconnect Active Record in `before_fork` and reconnect in `{child_hook}` in {config} (the seed's "
                   f"recipe for Rails < 5.2)")
    elif engine.kind is EngineKind.SEQUEL:
        name = engine.label
        if not name.replace("::", "").replace("_", "").isalnum() or name.startswith("<"):
            raise NoFix("the Sequel database is not bound to a name the config can reach")
        parent = [COMMENT + "Sequel: disconnect before forking; each worker reconnects on first use",
                  f"{name}.disconnect if defined?({name})"]
        edits.append(Edit(config, lambda text: _insert_into_hook(text, "before_fork", params, parent, unicorn),
                          order=(1, 0), python=False, description="before_fork DB.disconnect"))
        message = f"call `{name}.disconnect` in `before_fork` in {config}"
    else:
        raise NoFix("no automatic fix for a raw `PG.connect` connection: close it before the fork or open it in the worker")
    return Fix(Applicability.SAFE, message, edits)


RESQUE_INITIALIZER = "config/initializers/resque_fork_safety.rb"
RESQUE_HOOKS = """# pgforklint --fix: Resque forks a child for every job, and Active Record < 5.2 does not discard the
# connections a forked child inherits: close the parent's before each fork, open new ones in the child.
Resque.before_fork do |job|
  ActiveRecord::Base.connection.disconnect! if defined?(ActiveRecord::Base)
end

Resque.after_fork do |job|
  ActiveRecord::Base.establish_connection if defined?(ActiveRecord::Base)
end
"""


def _resque_fix(ctx: Context, server: Server, engine: Engine) -> Fix:
    if engine.kind is not EngineKind.ACTIVE_RECORD:
        raise NoFix("no automatic fix for this connection under Resque: close it in `Resque.before_fork`")
    if any(hook.name in ("Resque.before_fork", "Resque.after_fork") for hook in server.hooks):
        raise NoFix("the app already sets Resque fork hooks: add the disconnect and `establish_connection` to them")
    project = ctx.project
    if project is None or not project.exists("config/application.rb") or project.exists(RESQUE_INITIALIZER):
        raise NoFix("not a Rails app layout pgforklint can add an initializer to")

    def create(text: str) -> str:
        if text:
            raise EditError(f"{RESQUE_INITIALIZER} already exists")
        return RESQUE_HOOKS

    edit = Edit(RESQUE_INITIALIZER, create, order=(1, 0), python=False, description="Resque fork hooks")
    return Fix(Applicability.SAFE, f"add `Resque.before_fork` (disconnect) and `Resque.after_fork` (establish_connection) "
                                   f"in {RESQUE_INITIALIZER}", [edit])
