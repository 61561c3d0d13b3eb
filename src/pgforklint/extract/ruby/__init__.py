"""Ruby apps: the facts every Ruby server adapter shares (gem versions, Active Record pools, what the app does
to PostgreSQL while it boots) and the Ruby launch lines. Facts and sources: reference/ruby.md.

Nothing here runs when a project has no Ruby file: `ruby_app` returns None before importing a parser.
"""

from __future__ import annotations

from dataclasses import field

from pgforklint.diagnostics import Location
from pgforklint.discover import FileKind
from pgforklint.model import DeploymentModel, Engine, Origin, OriginKind, ProcessEffects, Quantity, Reset, ResetKind
from pgforklint.project import Project
from pgforklint.records import record

# Active Record from 5.2: forked children discard inherited connections (f32cff5) and the master's idle
# connections are flushed after boot (9027faf); 6.1 adds ForkTracker. reference/ruby.md §2.5.
AR_FORK_SAFE = (5, 2)
BOOT_FILES = ("config/application.rb", "config/environment.rb", "config/environments/production.rb")
BOOT_NEEDLES = (b"Sequel", b"PG.connect", b"PG::Connection", b"ActiveRecord", b".count", b".first", b".find",
                b".pluck", b".exists?", b".each", b".last", b".all", b".ids", b".connection")
MAX_REQUIRED_FILES = 200
PG_GEMS = ("pg", "activerecord-postgis-adapter", "activerecord-jdbcpostgresql-adapter", "jdbc-postgres", "sequel_pg")


@record(eq=False)
class RubyApp:
    gems: object | None  # pgforklint.read.gemfile_lock.GemVersions
    lock_rel: str | None
    rails: bool
    ar_engines: list[Engine]
    reader: object  # extract.ruby.code.CodeReader
    boot: ProcessEffects
    boot_end: int  # sequence number after the boot code
    config_ru: str | None = None
    notes: list[str] = field(default_factory=list)

    def version(self, gem: str) -> tuple | None:
        return self.gems.version(gem) if self.gems is not None else None

    def gem_location(self, gem: str) -> Location | None:
        if self.gems is None or self.lock_rel is None or self.gems.line(gem) is None:
            return None
        return Location(self.lock_rel, self.gems.line(gem))

    def has_gem(self, gem: str) -> bool:
        return self.gems is not None and gem in self.gems.versions

    @property
    def ar_version(self) -> tuple | None:
        return self.version("activerecord") or self.version("rails")

    @property
    def ar_fork_safe(self) -> bool | None:
        """True on Active Record >= 5.2, False before, None when the version is unknown."""
        version = self.ar_version
        return None if version is None else version >= AR_FORK_SAFE

    def version_text(self, gem: str) -> str:
        version = self.version(gem)
        return ".".join(str(p) for p in version) if version else "unknown"


def has_ruby(project: Project) -> bool:
    return bool(project.files(FileKind.RUBY, FileKind.GEMFILE_LOCK)) or project.exists("config/database.yml")


def ruby_app(project: Project, model: DeploymentModel) -> RubyApp | None:
    cached = model.facts.get("ruby_app", False)
    if cached is not False:
        return cached
    app = _build(project) if has_ruby(project) else None
    model.facts["ruby_app"] = app
    return app


def _build(project: Project) -> RubyApp:
    from pgforklint.extract.ruby.active_record import database_engines
    from pgforklint.extract.ruby.code import CodeReader

    locks = sorted(project.files(FileKind.GEMFILE_LOCK), key=lambda s: (s.rel.count("/"), s.rel))
    gems = project.gemfile_lock(locks[0].rel) if locks else None
    lock_rel = locks[0].rel if locks else None
    rails = project.exists("config/application.rb") or (gems is not None and "railties" in gems.versions)
    app = RubyApp(gems, lock_rel, rails, [], None, ProcessEffects(), 0)
    # A lock file without a PostgreSQL driver (mysql2, sqlite3 only): the app's database is not PostgreSQL.
    postgres = gems is None or any(name in gems.versions for name in PG_GEMS)
    uses_ar = postgres and (project.exists("config/database.yml") or (gems is not None and "activerecord" in gems.versions))
    if uses_ar:
        app.ar_engines = database_engines(project, app)
    reader = CodeReader(app.ar_engines)
    app.reader = reader
    for rel in boot_files(project, app):
        source = project.ruby(rel)
        if source is not None:
            reader.read_program(source, rel, app.boot)
    if app.ar_engines and app.ar_fork_safe is not False:
        # Rails 5.2+ returns and physically closes what boot checked out (`active_record.clear_active_connections`
        # in after_initialize); unknown versions are not assumed to be hazards.
        where = app.gem_location("activerecord") or app.gem_location("rails") or app.ar_engines[0].location
        for engine in app.ar_engines:
            app.boot.resets.append((reader.next_seq(), Reset(ResetKind.CLOSE, engine, where)))
    app.boot_end = reader.seq
    return app


def boot_files(project: Project, app: RubyApp) -> list[str]:
    """The Ruby files a preloading server's master runs while it loads the app."""
    out: list[str] = []
    if project.exists("config.ru"):
        app.config_ru = "config.ru"
        out.extend(_required(project, "config.ru"))
    for rel in BOOT_FILES:
        if project.exists(rel) and rel not in out and project.contains(rel, *BOOT_NEEDLES):
            out.append(rel)
    for source in project.files(FileKind.RUBY):
        if source.rel.startswith("config/initializers/") and source.rel.endswith(".rb") and source.rel not in out:
            if project.contains(source.rel, *BOOT_NEEDLES):
                out.append(source.rel)
    return out


def _required(project: Project, start: str) -> list[str]:
    """`start` and the project files it requires (`require_relative`, `require "./x"`), transitively, in order."""
    from pgforklint.read.ruby import calls_in, string_value

    order: list[str] = []
    pending = [start]
    while pending and len(order) < MAX_REQUIRED_FILES:
        rel = pending.pop(0)
        if rel in order:
            continue
        order.append(rel)
        if not project.contains(rel, b"require"):
            continue
        source = project.ruby(rel)
        if source is None:
            continue
        folder = rel.rsplit("/", 1)[0] if "/" in rel else ""
        for call in calls_in(source.root):
            if call.receiver_text.lstrip(":") == "Padrino" and call.method == "load!":
                pending.extend(f for f in _padrino_dependencies(project) if f not in order and f not in pending)
                continue
            if call.receiver is not None or call.method not in ("require_relative", "require", "load") or not call.args:
                continue
            target = string_value(call.args[0])
            expanded = _expand_path(call.args[0], rel)
            if not target and not expanded:
                continue
            if expanded:
                candidate = expanded
            elif call.method == "require_relative":
                candidate = _join(folder, target)
            elif target.startswith("./"):
                candidate = _join(folder, target[2:])
            else:
                candidate = None
                for base in ("", "lib/", "app/"):
                    if project.exists(base + target + ".rb"):
                        candidate = base + target
                        break
            if candidate is None:
                continue
            if not candidate.endswith((".rb", ".ru")):
                candidate += ".rb"
            if project.exists(candidate) and candidate not in order:
                pending.append(candidate)
    return order


def _padrino_dependencies(project: Project) -> list[str]:
    """What `Padrino.load!` loads in the process that calls it: `config/database.rb`, then the models (project
    level `models/`, and the app's `app/models/`)."""
    out = ["config/database.rb"] if project.exists("config/database.rb") else []
    models = sorted(s.rel for s in project.files(FileKind.RUBY)
                    if s.rel.startswith(("models/", "app/models/")) and s.rel.endswith(".rb"))
    return out + models[:MAX_REQUIRED_FILES]


def _expand_path(node, rel: str) -> str | None:
    """`File.expand_path("../config/boot", __FILE__)` (relative to the file itself, so one more `..`) or
    `File.expand_path("boot", File.dirname(__FILE__))`: the project path it names, else None."""
    from pgforklint.read.ruby import as_call, string_value, text_of

    call = as_call(node)
    if call is None or call.receiver_text.lstrip(":") != "File" or call.method != "expand_path" or len(call.args) != 2:
        return None
    target = string_value(call.args[0])
    base = text_of(call.args[1]).replace(" ", "")
    if not target or target.startswith("/"):
        return None
    if base == "__FILE__":
        return _join(rel, target)
    if base in ("File.dirname(__FILE__)", "::File.dirname(__FILE__)", "__dir__"):
        return _join(rel.rsplit("/", 1)[0] if "/" in rel else "", target)
    return None


def _join(folder: str, target: str) -> str:
    parts = [p for p in folder.split("/") if p] if folder else []
    for piece in target.split("/"):
        if piece == "..":
            if parts:
                parts.pop()
        elif piece and piece != ".":
            parts.append(piece)
    return "/".join(parts)


def copy_effects(effects: ProcessEffects) -> ProcessEffects:
    return ProcessEffects(list(effects.engines), list(effects.opens), list(effects.resets), list(effects.open_seq),
                          list(effects.escapes))


def word_quantity(word, location: Location, detail: str) -> Quantity | None:
    """A number from a launch-line word (`-w 3`, `-w ${WEB_CONCURRENCY:-2}`, `-c $SIDEKIQ_CONCURRENCY`)."""
    text = word.text.strip()
    ref = word.refs[0] if word.refs else None
    if ref is not None and ref.source == "default" and text.isdigit():
        return Quantity(int(text), Origin(OriginKind.ENV_DEFAULT, location,
                                          f"{detail}: ${ref.name} not set in the repo; its default is used"), env_var=ref.name)
    if ref is not None and ref.source == "unset":
        return Quantity(None, Origin(OriginKind.ENV_UNSET, location, f"{detail}: ${ref.name} has no value in the repo"),
                        symbolic=word.raw, env_var=ref.name)
    if text.isdigit():
        return Quantity(int(text), Origin(OriginKind.FILE, location, detail), env_var=ref.name if ref else None)
    return None


# --- launch lines ------------------------------------------------------------------------------------


@record(eq=False)
class RubyLaunch:
    launch: object  # pgforklint.launch.Launch
    kind: str  # "puma", "unicorn", "sidekiq", "resque", "good_job", "solid_queue"
    words: list  # the arguments after the program (read.command.Word)
    env: dict


def _strip_bundle(words: list) -> list:
    texts = [w.text for w in words]
    if len(texts) >= 2 and texts[0].rsplit("/", 1)[-1] == "bundle" and texts[1] == "exec":
        return words[2:]
    return words


def ruby_launches(launches: list, app: RubyApp | None) -> list[RubyLaunch]:
    out: list[RubyLaunch] = []
    for launch in launches:
        seen: set[tuple] = set()
        for command in launch.commands:
            key = (tuple(w.text for w in command.argv), tuple(sorted(command.env.items())))
            if key in seen:
                continue  # the same command reached twice in one script (a helper function called on several paths)
            seen.add(key)
            words = _strip_bundle(list(command.argv))
            if not words:
                continue
            program = words[0].text.rsplit("/", 1)[-1]
            rest = words[1:]
            texts = [w.text for w in rest]
            env = {**launch.env, **command.env}
            kind = None
            if program == "puma":
                kind = "puma"
            elif program in ("unicorn", "unicorn_rails"):
                kind = "unicorn"
            elif program == "sidekiq":
                kind = "sidekiq"
            elif program == "good_job" and "start" in texts:
                kind = "good_job"
            elif program == "jobs" and words[0].text.endswith("bin/jobs"):
                kind = "solid_queue"
            elif program == "rackup" and _option(texts, "-s", "--server") == "puma":
                kind = "puma"
            elif program == "rails" and texts[:1] and texts[0] in ("s", "server"):
                server = _option(texts, "-u", "--using")
                kind = server if server in ("puma", "unicorn") else "puma"
            elif program in ("rails", "rake") and any(t in ("resque:work", "resque:workers", "environment resque:work")
                                                      for t in texts):
                kind = "resque"
            elif program in ("rails", "rake") and "solid_queue:start" in texts:
                kind = "solid_queue"
            if kind is not None:
                out.append(RubyLaunch(launch, kind, rest, env))
    return out


def _option(texts: list[str], *names: str) -> str | None:
    for index, text in enumerate(texts):
        for name in names:
            if text == name and index + 1 < len(texts):
                return texts[index + 1]
            if name.startswith("--") and text.startswith(name + "="):
                return text.split("=", 1)[1]
            if not name.startswith("--") and text.startswith(name) and len(text) > len(name):
                return text[len(name):]
    return None


def option_word(words: list, *names: str):
    """The Word after `-x`/`--xx` (or glued `-x3`, `--xx=3`)."""
    from pgforklint.read.command import Word

    for index, word in enumerate(words):
        text = word.text
        for name in names:
            if text == name and index + 1 < len(words):
                return words[index + 1]
            if name.startswith("--") and text.startswith(name + "="):
                return Word(text.split("=", 1)[1], word.raw.split("=", 1)[-1], word.refs)
            if not name.startswith("--") and text.startswith(name) and len(text) > len(name) and text[1:2] == name[1:2]:
                return Word(text[len(name):], word.raw[len(name):], word.refs)
    return None


def has_flag(words: list, *names: str) -> bool:
    return any(w.text in names for w in words)


def attach(model: DeploymentModel, ruby_launch: RubyLaunch | None, server) -> None:
    from pgforklint.launch import attach_process_type

    model.servers.append(server)
    if ruby_launch is not None:
        attach_process_type(model, ruby_launch.launch, server)


__all__ = ["RubyApp", "ruby_app", "ruby_launches", "RubyLaunch", "attach", "copy_effects", "word_quantity",
           "option_word", "has_flag", "AR_FORK_SAFE"]


def lazy(module: str):
    """An adapter that imports `pgforklint.extract.ruby.<module>` only when the project has Ruby files: a
    Python-only run pays nothing for the Ruby adapters."""

    def adapter(project: Project, launches: list, model: DeploymentModel) -> None:
        present = model.facts.get("has_ruby")
        if present is None:
            present = model.facts["has_ruby"] = has_ruby(project)
        if present:
            _adapters()[module](project, launches, model)

    adapter.__name__ = adapter.__qualname__ = f"ruby_{module}"
    return adapter


def _adapters() -> dict:
    from pgforklint.extract.ruby import good_job, newrelic, puma, resque, sidekiq, solid_queue, unicorn

    return {"unicorn": unicorn.adapt, "puma": puma.adapt, "resque": resque.adapt, "sidekiq": sidekiq.adapt,
            "solid_queue": solid_queue.adapt, "good_job": good_job.adapt, "newrelic": newrelic.adapt}
