"""Sidekiq: threads, not forks. Each thread can hold one Active Record connection.

Concurrency [src: sidekiq/sidekiq@1bb4aa0 (8.1.7) lib/sidekiq/cli.rb:279-423, config.rb:15, Changes.md; reference/
ruby.md §2.3]: `-c N`, else the config file (`-C FILE`, else `config/sidekiq.yml`; ERB; the `RAILS_ENV` section
over top-level keys; `:concurrency:` or `concurrency:`; 7.0+ `capsules:` add up), else `RAILS_MAX_THREADS`
(4.2+), else the version default: 25 up to 5.1, 10 from 5.2, 5 from 7.0.
"""

from __future__ import annotations

from pgforklint.diagnostics import Location
from pgforklint.extract.ruby import attach, option_word, ruby_app, ruby_launches, word_quantity
from pgforklint.extract.ruby.forking import master_effects
from pgforklint.model import DeploymentModel, Flag, Origin, OriginKind, Quantity, Server, ServerKind

CONFIG_FILES = ("config/sidekiq.yml", "config/sidekiq.yml.erb")


def version_default(version: tuple | None) -> tuple[int, str]:
    if version is None:
        return 5, "Sidekiq 7.0+ default concurrency = 5 (Sidekiq version unknown)"
    if version >= (7, 0):
        return 5, "Sidekiq 7.0+ default concurrency = 5"
    if version >= (5, 2):
        return 10, "Sidekiq 5.2-6.x default concurrency = 10"
    return 25, "Sidekiq < 5.2 default concurrency = 25"


def _get(section, key: str):
    if not isinstance(section, dict):
        return None, None
    for name in (f":{key}", key):
        if name in section:
            return section[name], section.line_of(name)
    return None, None


def yaml_quantity(loaded, rel: str, key: str, detail: str) -> Quantity | None:
    """`key` from the production section, else from the top level, with the ERB variable it depends on."""
    if loaded is None or not loaded.documents or not isinstance(loaded.documents[0], dict):
        return None
    document = loaded.documents[0]
    for section in (_get(document, "production")[0], document):
        raw, line = _get(section, key)
        if raw is None:
            continue
        location = Location(rel, line or 1)
        erb = loaded.values.get(line)
        if isinstance(raw, int) and not isinstance(raw, bool):
            if erb is not None and erb.env_var and erb.from_default:
                return Quantity(raw, Origin(OriginKind.ENV_DEFAULT, location,
                                            f"{detail}: ${erb.env_var} not set in the repo; its default is used"), env_var=erb.env_var)
            return Quantity(raw, Origin(OriginKind.FILE, location, detail), env_var=erb.env_var if erb else None)
        if erb is not None and erb.env_var:
            return Quantity(None, Origin(OriginKind.ENV_UNSET, location, f"{detail}: ${erb.env_var} has no value in the repo"),
                            env_var=erb.env_var)
    return None


def _capsules(loaded, rel: str) -> Quantity | None:
    if loaded is None or not loaded.documents or not isinstance(loaded.documents[0], dict):
        return None
    document = loaded.documents[0]
    for section in (_get(document, "production")[0], document):
        capsules, line = _get(section, "capsules")
        if isinstance(capsules, dict) and capsules:
            total = 0
            for value in capsules.values():
                raw, _ = _get(value, "concurrency")
                if not isinstance(raw, int):
                    return None
                total += raw
            return Quantity(total, Origin(OriginKind.FILE, Location(rel, line or 1), "sum of the capsules' concurrency"))
    return None


def _code_capsules(project, env: dict) -> Quantity | None:
    """`config.capsule("name") { |cap| cap.concurrency = N }` in the initializers (Sidekiq 7.0+): the capsules'
    threads, which come on top of the default capsule's concurrency."""
    from pgforklint.discover import FileKind
    from pgforklint.read.ruby import Scope, calls_in, evaluate, text_of

    total, first = 0, None
    for source in project.files(FileKind.RUBY):
        rel = source.rel
        if not (rel.startswith("config/initializers/") and rel.endswith(".rb")) or not project.contains(rel, b"capsule"):
            continue
        tree = project.ruby(rel)
        if tree is None:
            continue
        for call in calls_in(tree.root):
            if call.method != "capsule" or call.block is None:
                continue
            value = None
            for node in _assignments(call.block):
                left = node.child_by_field_name("left")
                if left is not None and left.type == "call" and text_of(left.child_by_field_name("method")) == "concurrency":
                    value = evaluate(node.child_by_field_name("right"), Scope(env=dict(env)))
            if value is None:
                continue  # a capsule without its own concurrency: Sidekiq's default for it is not modelled
            if not isinstance(value.value, int) or isinstance(value.value, bool):
                return None
            total += value.value
            first = first or Location(rel, call.line)
    if first is None:
        return None
    return Quantity(total, Origin(OriginKind.FILE, first, "sum of the concurrency of the capsules declared in code"))


def _assignments(node):
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type == "assignment":
            yield current
        stack.extend(reversed(current.named_children))


def _config(project, rel: str, env: dict[str, str]):
    """The config file with its ERB evaluated in the process's environment (`<%= ENV["SIDEKIQ_CONCURRENCY"] || 5 %>`
    where Compose `environment` or Kamal `env.clear` sets the variable)."""
    loaded = project.erb_yaml(rel)
    if loaded is None or not env or not any(value.env_var in env for value in loaded.values.values()):
        return loaded
    key = ("sidekiq-config", rel, tuple(sorted(env.items())))
    if key not in project._cache:
        from pgforklint.errors import ReadError
        from pgforklint.read.erb_yaml import load

        try:
            project._cache[key] = load(project.text(rel) or "", env)
        except ReadError:
            project._cache[key] = loaded
    return project._cache[key]


def adapt(project, launches, model: DeploymentModel) -> None:
    app = ruby_app(project, model)
    if app is None:
        return
    for ruby_launch in [r for r in ruby_launches(launches, app) if r.kind == "sidekiq"]:
        location = ruby_launch.launch.location
        env = ruby_launch.env
        concurrency = None
        word = option_word(ruby_launch.words, "-c", "--concurrency")
        if word is not None:
            concurrency = word_quantity(word, location, "`-c` on the command line")
        config = option_word(ruby_launch.words, "-C", "--config")
        rel = config.text.lstrip("./") if config is not None else next((c for c in CONFIG_FILES if project.exists(c)), None)
        loaded = _config(project, rel, env) if rel and project.exists(rel) else None
        if concurrency is None and loaded is not None:
            concurrency = yaml_quantity(loaded, rel, "concurrency", f"concurrency in {rel}")
            capsules = _capsules(loaded, rel)
            if capsules is not None:
                concurrency = Quantity((concurrency.value if concurrency else 0) + capsules.value, capsules.origin)
        if concurrency is None and "RAILS_MAX_THREADS" in env and env["RAILS_MAX_THREADS"].strip().isdigit():
            concurrency = Quantity(int(env["RAILS_MAX_THREADS"]), Origin(OriginKind.FILE, location,
                                                                         "$RAILS_MAX_THREADS (no -c, no concurrency in the config)"),
                                   env_var="RAILS_MAX_THREADS")
        if concurrency is None:
            value, detail = version_default(app.version("sidekiq"))
            concurrency = Quantity(value, Origin(OriginKind.DEFAULT, None, detail + "; $RAILS_MAX_THREADS overrides it when set"),
                                   env_var="RAILS_MAX_THREADS")
        in_code = _code_capsules(project, env)
        if in_code is not None and in_code.value and concurrency.value is not None:
            concurrency = Quantity(concurrency.value + in_code.value,
                                   Origin(concurrency.origin.kind if concurrency.origin.is_assumption else OriginKind.FILE, in_code.origin.location,
                                          f"{concurrency.origin.detail} + {in_code.value} in capsules declared in code"),
                                   env_var=concurrency.env_var)
        server = Server(ServerKind.SIDEKIQ, location, forks=False,
                        loads_app_in_parent=Flag(False, Origin(OriginKind.DEFAULT, None, "Sidekiq does not fork")),
                        processes=Quantity.default(1, "one Sidekiq process"), threads=concurrency, worker_class="threads",
                        config_path=rel if loaded is not None else None)
        server.settings["language"] = "ruby"
        server.parent_effects = master_effects(app, False, None, "Sidekiq")
        attach(model, ruby_launch, server)
