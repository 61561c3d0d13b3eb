"""gunicorn: launch commands, `gunicorn.conf.py` (or any `-c` target), GUNICORN_CMD_ARGS, hooks.

Precedence is gunicorn's own: built-in defaults, then the configuration file, then
GUNICORN_CMD_ARGS, then the command line (https://docs.gunicorn.org/en/stable/configure.html).
With `preload_app` the arbiter imports the app before `os.fork()`; without it each worker imports
the app after the fork. The configuration file itself is always imported by the master, so
whatever it imports runs in the parent too. Child-side hooks: `post_fork(server, worker)` and
`post_worker_init(worker)`; parent-side: `on_starting`, `when_ready`, `pre_fork`.
"""

from __future__ import annotations

import shlex
from dataclasses import field

from pgforklint.diagnostics import Location
from pgforklint.extract.forking import (
    add_at_fork_hooks,
    call_hook,
    load_app,
    make_interpreter,
    merge_effects,
    parse_app_ref,
    run_phase,
)
from pgforklint.extract.importtime import Frame, Interpreter, ModuleVal
from pgforklint.launch import Launch
from pgforklint.extract.positions import char_column
from pgforklint.extract.pyvalues import StaticValue, module_assignments, to_bool
from pgforklint.launch.paths import describe_place, module_roots, repo_dir, repo_file, repo_path
from pgforklint.model import (
    Flag,
    Hook,
    Origin,
    OriginKind,
    ProcessEffects,
    Quantity,
    Server,
    ServerKind,
)
from pgforklint.project import Project
from pgforklint.read.command import Command, Word, python_module_invocation
from pgforklint.records import record
from pgforklint.safeio import parse_count

NO_VALUE_FLAGS = {
    "--preload", "--reload", "-D", "--daemon", "--spew", "--check-config", "--print-config", "--capture-output",
    "--enable-stdio-inheritance", "--reuse-port", "--no-sendfile", "--log-syslog", "--strip-header-spaces",
    "--disable-redirect-access-to-syslog", "--suppress-ragged-eofs", "--do-handshake-on-connect", "--proxy-protocol",
    "--version", "-v", "--help", "-h", "--paste-global", "--dev",
}
OPTION_SETTINGS = {
    "-w": "workers", "--workers": "workers", "-k": "worker_class", "--worker-class": "worker_class",
    "--threads": "threads", "-c": "config", "--config": "config", "--chdir": "chdir", "--pythonpath": "pythonpath",
    "--worker-connections": "worker_connections", "--max-requests": "max_requests", "-b": "bind", "--bind": "bind",
    "--preload": "preload_app", "--paste": "paste", "--paster": "paste",
}
CHILD_HOOKS = ("post_fork", "post_worker_init")
PARENT_HOOKS_BEFORE_APP = ("on_starting",)
PARENT_HOOKS_AFTER_APP = ("when_ready", "pre_fork")
CONFIG_DEFAULT = "gunicorn.conf.py"


@record
class Setting:
    value: object  # str, int, bool
    location: Location
    origin: OriginKind = OriginKind.FILE
    env_var: str | None = None
    symbolic: str | None = None


@record
class GunicornInvocation:
    launch: Launch | None
    command: Command | None
    settings: dict[str, Setting] = field(default_factory=dict)
    app_text: Setting | None = None


def is_gunicorn(command: Command) -> list[Word] | None:
    """The arguments after `gunicorn` (also `python -m gunicorn`), or None."""
    if command.program == "gunicorn":
        return command.argv[1:]
    module = python_module_invocation(command)
    if module and module[0] == "gunicorn":
        return module[1]
    return None


def _word_setting(word: Word, location: Location) -> Setting:
    origin = OriginKind.FILE
    env_var = None
    symbolic = None
    for ref in word.refs:
        env_var = ref.name
        if ref.source == "default":
            origin = OriginKind.ENV_DEFAULT
        elif ref.source == "unset":
            origin = OriginKind.ENV_UNSET
            symbolic = word.raw
    return Setting(word.text, location, origin, env_var, symbolic)


def parse_arguments(words: list[Word], location: Location) -> tuple[dict[str, Setting], Setting | None]:
    settings: dict[str, Setting] = {}
    app: Setting | None = None
    index = 0
    while index < len(words):
        word = words[index]
        text = word.text
        if text.startswith("--") and "=" in text:
            option, value = text.split("=", 1)
            if option in OPTION_SETTINGS:
                settings[OPTION_SETTINGS[option]] = _word_setting(Word(value, word.raw.split("=", 1)[-1], word.refs), location)
            index += 1
            continue
        if text.startswith("-") and len(text) > 1:
            if text in NO_VALUE_FLAGS:
                if text == "--preload":
                    settings["preload_app"] = Setting(True, location)
                index += 1
                continue
            if len(text) > 2 and not text.startswith("--") and text[:2] in OPTION_SETTINGS:  # -w4
                settings[OPTION_SETTINGS[text[:2]]] = _word_setting(Word(text[2:], word.raw[2:], word.refs), location)
                index += 1
                continue
            if index + 1 < len(words):
                if text in OPTION_SETTINGS:
                    settings[OPTION_SETTINGS[text]] = _word_setting(words[index + 1], location)
                index += 2
                continue
            index += 1
            continue
        if app is None:
            app = _word_setting(word, location)
        index += 1
    return settings, app


def invocations(launches: list[Launch]) -> list[GunicornInvocation]:
    found = []
    for launch in launches:
        for command in launch.commands:
            words = is_gunicorn(command)
            if words is None:
                continue
            settings, app = parse_arguments(words, launch.location)
            env = {**launch.env, **command.env}
            if "GUNICORN_CMD_ARGS" in env:
                try:
                    env_words = [Word(w, w) for w in shlex.split(env["GUNICORN_CMD_ARGS"])]
                except ValueError:
                    env_words = []
                env_location = launch.env_locations.get("GUNICORN_CMD_ARGS", launch.location)
                env_settings, env_app = parse_arguments(env_words, env_location)
                settings = {**env_settings, **settings}
            found.append(GunicornInvocation(launch, command, settings, app))
    return found


def _config_rel(project: Project, invocation: GunicornInvocation, roots: list[str]) -> str | None:
    launch = invocation.launch
    config = invocation.settings.get("config")
    if config is not None and isinstance(config.value, str) and config.value:
        # gunicorn accepts `PATH`, `file:PATH` or `python:MODULE_NAME` (docs: settings.html#config).
        value = config.value.strip()
        if value.startswith("python:"):
            return project.module_file(value[len("python:"):], roots)
        found = repo_file(project, launch, value)
        if found is None and launch is not None:
            launch.failed.append(f"gunicorn -c {value}: no such file in {describe_place(launch)}")
        return found
    # gunicorn reads ./gunicorn.conf.py from the folder it starts in.
    return repo_file(project, launch, CONFIG_DEFAULT) if launch is not None else (
        CONFIG_DEFAULT if project.exists(CONFIG_DEFAULT) else None)


def _static_setting(values: dict[str, StaticValue], name: str) -> Setting | None:
    value = values.get(name)
    if value is None:
        return None
    origin = OriginKind.FILE
    if value.env_var and value.env_default_used:
        origin = OriginKind.ENV_DEFAULT
    elif value.env_var and not value.known:
        origin = OriginKind.ENV_UNSET
    return Setting(value.value if value.known else None, value.location, origin, value.env_var, value.symbolic)


def _quantity(setting: Setting | None, default: Quantity) -> Quantity:
    if setting is None:
        return default
    number = None
    if isinstance(setting.value, bool):
        number = int(setting.value)
    elif isinstance(setting.value, int):
        number = setting.value
    elif isinstance(setting.value, str):
        try:
            number = int(setting.value.strip())
        except ValueError:
            number = None
    detail = ""
    if setting.origin is OriginKind.ENV_DEFAULT:
        detail = f"${setting.env_var} not set in the repo; its default is used"
    elif setting.origin is OriginKind.ENV_UNSET:
        detail = f"${setting.env_var} has no value in the repo"
    return Quantity(number, Origin(setting.origin, setting.location, detail), symbolic=setting.symbolic,
                    env_var=setting.env_var)


def build_server(project: Project, invocation: GunicornInvocation, env: dict[str, str]) -> Server:
    launch = invocation.launch
    roots = module_roots(project, launch)
    config_rel = _config_rel(project, invocation, roots)
    file_values: dict[str, StaticValue] = {}
    if config_rel is not None:
        source = project.python(config_rel)
        if source is not None:
            file_values = module_assignments(source.tree, config_rel, env, source.text)[0]
    merged: dict[str, Setting] = {}
    for name in ("workers", "threads", "worker_class", "preload_app", "wsgi_app", "chdir", "pythonpath",
                 "worker_connections", "max_requests", "bind"):
        setting = _static_setting(file_values, name)
        if setting is not None:
            merged[name] = setting
    merged.update(invocation.settings)
    app_setting = invocation.app_text or merged.get("wsgi_app")
    if app_setting is None and isinstance(getattr(merged.get("paste"), "value", None), str):
        app_setting = _paste_app(project, launch, merged["paste"].value)

    chdir = merged.get("chdir")
    first: list[str] = []
    if chdir is not None and isinstance(chdir.value, str) and chdir.value not in ("", "."):
        folder = repo_dir(project, launch, chdir.value)
        if folder is None:
            step = f"gunicorn --chdir {chdir.value}: no such folder in {describe_place(launch)}"
            if launch is not None:
                launch.failed.append(step)
        else:
            first.append(folder)
    extra: list[str] = []
    pythonpath = merged.get("pythonpath")
    if pythonpath is not None and isinstance(pythonpath.value, str):
        for entry in (p.strip() for p in pythonpath.value.split(",") if p.strip()):
            folder = repo_dir(project, launch, entry, first[0] if first and launch is None else None)
            extra.append(folder if folder is not None else entry.strip("./"))
    if first or extra:
        roots = module_roots(project, launch, first, extra)

    location = invocation.launch.location if invocation.launch else (
        merged["wsgi_app"].location if "wsgi_app" in merged else Location(config_rel or CONFIG_DEFAULT, 1))
    preload_setting = merged.get("preload_app")
    preload_value = to_bool(preload_setting.value) if preload_setting else False
    if preload_setting is not None and preload_value is not None:
        preload = Flag(preload_value, Origin(preload_setting.origin, preload_setting.location,
                                             "--preload" if preload_setting.value is True and invocation.settings.get("preload_app") is preload_setting else "preload_app"))
    else:
        preload = Flag(False, Origin(OriginKind.DEFAULT, None, "gunicorn's default preload_app = False"))

    image_workers = launch.extra.get("image_workers") if launch is not None and config_rel is None else None
    if image_workers is not None and "WEB_CONCURRENCY" not in env:
        # a base image's gunicorn_conf.py (`launch.base_images`): workers from the CPU count, unknown here
        detail, where = image_workers
        default_workers = Quantity(None, Origin(OriginKind.DEFAULT, where, detail), symbolic=detail.split(": ", 1)[-1],
                                   env_var="WEB_CONCURRENCY")
    elif "WEB_CONCURRENCY" in env:
        default_workers = Quantity(parse_count(env["WEB_CONCURRENCY"]),
                                   Origin(OriginKind.FILE, None, "$WEB_CONCURRENCY (gunicorn's default for workers)"),
                                   env_var="WEB_CONCURRENCY")
    else:
        default_workers = Quantity(1, Origin(OriginKind.DEFAULT, None, "gunicorn's default: $WEB_CONCURRENCY or 1"),
                                   env_var="WEB_CONCURRENCY")
    workers = _quantity(merged.get("workers"), default_workers)
    threads = _quantity(merged.get("threads"), Quantity.default(1, "gunicorn's default threads = 1"))
    worker_class_setting = merged.get("worker_class")
    worker_class = str(worker_class_setting.value) if worker_class_setting and worker_class_setting.value else "sync"
    if worker_class == "sync" and (threads.value or 1) > 1:
        worker_class = "gthread"  # gunicorn switches sync to gthread when threads > 1

    app = None
    failed: list[str] = []
    if app_setting is not None and isinstance(app_setting.value, str):
        app = parse_app_ref(app_setting.value, app_setting.location)
        if app is None and app_setting.env_var and not app_setting.value:
            failed.append(f"gunicorn app `{app_setting.symbolic or '$' + app_setting.env_var}`: "
                          f"${app_setting.env_var} has no value in the repository")
    server = Server(ServerKind.GUNICORN, location, forks=True, loads_app_in_parent=preload, processes=workers,
                    threads=threads, worker_class=worker_class, app=app, config_path=config_rel)
    server.failed.extend(failed)
    server.settings = {name: setting for name, setting in merged.items()}
    if config_rel is None and launch is not None and "chdir" not in merged and "config" not in merged:
        # Where a new `gunicorn.conf.py` would have to be for this process to read it: its working directory.
        server.settings["default_config_at"] = repo_path(launch, CONFIG_DEFAULT)
        server.settings["runs_in"] = describe_place(launch)
    if merged.get("worker_connections"):
        server.settings["worker_connections_quantity"] = _quantity(merged["worker_connections"], Quantity.default(1000, ""))
    _walk(project, server, config_rel, roots, env)
    return server


def _paste_app(project: Project, launch: Launch | None, value: str) -> Setting | None:
    """`--paste conf/app.ini[#name]`: the `use = call:module:factory` of the app PasteDeploy loads (the section
    `[app:name]`, `[composite:name]` is not followed, a `[pipeline:name]` ends with its app). [src: PasteDeploy
    docs, "call:" and pipeline sections]"""
    import configparser

    path, _, name = value.partition("#")
    rel = repo_file(project, launch, path)
    text = project.text(rel) if rel is not None else None
    if text is None:
        return None
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    name = name or "main"
    for _ in range(4):
        if parser.has_section(f"pipeline:{name}"):
            steps = parser.get(f"pipeline:{name}", "pipeline", fallback="").split()
            if not steps:
                return None
            name = steps[-1]
            continue
        use = parser.get(f"app:{name}", "use", fallback="") if parser.has_section(f"app:{name}") else ""
        if not use.startswith("call:"):
            return None
        line = next((number for number, raw in enumerate(text.splitlines(), start=1)
                     if raw.strip().startswith("use") and use in raw), 1)
        return Setting(use.removeprefix("call:").strip(), Location(rel, line))
    return None


def _walk(project: Project, server: Server, config_rel: str | None, roots: list[str],
          env: dict[str, str] | None = None) -> None:
    interp = make_interpreter(project, roots, env)
    parent = server.parent_effects
    config_module: ModuleVal | None = None
    if config_rel is not None and project.python(config_rel) is not None:
        config_module = ModuleVal("__config__", {}, config_rel)
        source = project.python(config_rel)

        def import_config() -> None:
            try:
                interp.walk_body(source.tree.body, Frame(config_module, None))
            except RecursionError:  # nested deeper than the walk can follow: PGF100; the app is still analysed
                project.report_too_deep(config_rel)

        run_phase(interp, parent, import_config)

    def hook(name: str):
        if config_module is None:
            return None
        return config_module.namespace.get(name)

    def run_parent_hooks(names: tuple[str, ...]) -> None:
        for name in names:
            function = hook(name)
            if function is not None:
                effects = call_hook(interp, function, _hook_location(function, config_rel, interp), args=2)
                merge_effects(parent, effects)

    run_parent_hooks(PARENT_HOOKS_BEFORE_APP)
    registered_before = len(interp.registered)
    if server.loads_app_in_parent.value and server.app is not None:
        run_phase(interp, parent, lambda: load_app(interp, server.app))
    run_parent_hooks(PARENT_HOOKS_AFTER_APP)
    for name in CHILD_HOOKS:
        function = hook(name)
        if function is not None:
            loc = _hook_location(function, config_rel, interp)
            server.hooks.append(Hook(name, loc, True, call_hook(interp, function, loc, args=2)))
    add_at_fork_hooks(interp, server, 0)
    if not server.loads_app_in_parent.value and server.app is not None:
        child = ProcessEffects()
        run_phase(interp, child, lambda: load_app(interp, server.app))
        server.hooks.append(Hook("worker imports the app", server.app.location, True, child))
        add_at_fork_hooks(interp, server, registered_before)


def _hook_location(function, config_rel: str | None, interp: Interpreter) -> Location:
    node = getattr(function, "node", None)
    module = getattr(function, "module", None)
    path = getattr(module, "path", None) or config_rel or CONFIG_DEFAULT
    source = interp.source_text(path)
    return Location(path, getattr(node, "lineno", 1), char_column(source, getattr(node, "lineno", 1), getattr(node, "col_offset", 0)) or 1)


def gunicorn_servers(project: Project, launches: list[Launch], env: dict[str, str]) -> list[tuple[Launch | None, Server]]:
    found = invocations(launches)
    if not found and project.exists(CONFIG_DEFAULT):
        found = [GunicornInvocation(None, None)]
    # The environment the server starts with: app.json's, the launch's (Compose, Kubernetes), then the
    # `VAR=value` prefixes of the command itself.
    return [(inv.launch, build_server(project, inv, {**env, **(inv.launch.env if inv.launch else {}),
                                                     **(inv.command.env if inv.command else {})}))
            for inv in found]
