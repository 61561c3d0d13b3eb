"""Resque workers: `rake resque:work`, `QUEUE=* rake environment resque:work`, `rake resque:workers COUNT=n`.

Facts [src: resque/resque@9fc870e (3.0.0) lib/resque/worker.rb, docs/HOOKS.md; reference/ruby.md §2.4]: the
worker loads the app, then forks a child per job unless `FORK_PER_JOB=false`. `Resque.before_first_fork` and
`Resque.before_fork { |job| }` run in the parent, `Resque.after_fork { |job| }` in the child; apps set them in
an initializer or in `lib/tasks/resque.rake` (`task "resque:setup" => :environment`).
"""

from __future__ import annotations

from pgforklint.diagnostics import Location
from pgforklint.discover import FileKind
from pgforklint.extract.ruby import attach, ruby_app, ruby_launches
from pgforklint.extract.ruby.forking import add_hook, assume_fork_safe_rails, master_effects
from pgforklint.model import DeploymentModel, Flag, Hook, Origin, OriginKind, ProcessEffects, Quantity, Server, ServerKind
from pgforklint.read.ruby import Call, Scope, as_call, calls_in, string_value, text_of

PARENT_HOOKS = ("before_first_fork", "before_fork")
CHILD_HOOKS = ("after_fork",)


def _hook_files(project) -> list[str]:
    out = []
    for source in project.files(FileKind.RUBY):
        rel = source.rel
        if (rel.startswith("config/initializers/") or rel.startswith("lib/tasks/") or rel == "Rakefile") \
                and project.contains(rel, b"Resque", b"resque:setup"):
            out.append(rel)
    return out


def _assigned_hooks(root):
    """`Resque.before_fork = Proc.new { ... }` (also `proc`, `lambda` and `-> { }`): (hook name, the block as a Call)."""
    stack = [root]
    while stack:
        node = stack.pop()
        stack.extend(reversed(node.named_children))
        if node.type != "assignment":
            continue
        left, right = as_call(node.child_by_field_name("left")), node.child_by_field_name("right")
        if left is None or right is None or left.receiver_text.lstrip(":") != "Resque" \
                or left.method not in PARENT_HOOKS + CHILD_HOOKS:
            continue
        if right.type == "lambda":
            body = right.child_by_field_name("body")
            if body is not None:
                yield left.method, Call(right, None, "lambda", [], body)
            continue
        value = as_call(right)
        if value is not None and value.block is not None and (
                (value.receiver_text == "Proc" and value.method == "new")
                or (value.receiver is None and value.method in ("proc", "lambda"))):
            yield left.method, value


def adapt(project, launches, model: DeploymentModel) -> None:
    app = ruby_app(project, model)
    if app is None:
        return
    found = [r for r in ruby_launches(launches, app) if r.kind == "resque"]
    if not found:
        return
    hooks: list[Hook] = []
    setup_at: Location | None = None
    reader = app.reader
    for rel in _hook_files(project):
        source = project.ruby(rel)
        if source is None:
            continue
        for call in calls_in(source.root):
            if call.method == "task" and call.args and "resque:setup" in text_of(call.args[0]):
                setup_at = setup_at or Location(rel, call.line)
            receiver = call.receiver_text.lstrip(":")
            if receiver == "Resque" and call.method in PARENT_HOOKS + CHILD_HOOKS and call.block is not None:
                effects = ProcessEffects()
                reader.read_block(call, rel, effects, Scope())
                hooks.append(Hook(f"Resque.{call.method}", Location(rel, call.line), call.method in CHILD_HOOKS, effects))
        for name, body in _assigned_hooks(source.root):
            effects = ProcessEffects()
            reader.read_block(body, rel, effects, Scope())
            hooks.append(Hook(f"Resque.{name}", Location(rel, body.line), name in CHILD_HOOKS, effects))
    for ruby_launch in found:
        env = ruby_launch.env
        texts = [w.text for w in ruby_launch.words]
        forks = env.get("FORK_PER_JOB", "true").strip().lower() != "false"
        count = 1
        if "resque:workers" in texts:
            value = env.get("COUNT") or next((t.split("=", 1)[1] for t in texts if t.startswith("COUNT=")), "1")
            count = int(value) if value.isdigit() else 1
        location = ruby_launch.launch.location
        anchor = setup_at or location
        preload = Flag(True, Origin(OriginKind.FILE, anchor,
                                    "the Resque worker loads the app (`resque:setup` / `environment`) and forks a child per job"))
        processes = Quantity(count, Origin(OriginKind.FILE if count > 1 else OriginKind.DEFAULT, location,
                                           "COUNT workers" if count > 1 else "one Resque worker: one job child at a time"))
        server = Server(ServerKind.RESQUE, location, forks=forks, loads_app_in_parent=preload if forks else Flag(False, preload.origin),
                        processes=processes, threads=Quantity.default(1, "one job at a time per worker"), worker_class="fork")
        server.settings["language"] = "ruby"
        server.parent_effects = master_effects(app, forks, anchor, "The Resque worker", None)
        for hook in hooks:
            add_hook(server, Hook(hook.name, hook.location, hook.runs_in_child, hook.effects))
        assume_fork_safe_rails(model, app, server)
        attach(model, ruby_launch, server)


__all__ = ["adapt", "string_value"]
