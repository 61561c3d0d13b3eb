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
        loaded = project.erb_yaml(rel) if rel and project.exists(rel) else None
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
        server = Server(ServerKind.SIDEKIQ, location, forks=False,
                        loads_app_in_parent=Flag(False, Origin(OriginKind.DEFAULT, None, "Sidekiq does not fork")),
                        processes=Quantity.default(1, "one Sidekiq process"), threads=concurrency, worker_class="threads",
                        config_path=rel if loaded is not None else None)
        server.settings["language"] = "ruby"
        server.parent_effects = master_effects(app, False, None, "Sidekiq")
        attach(model, ruby_launch, server)
