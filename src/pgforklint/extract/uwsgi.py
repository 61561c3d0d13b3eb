"""uWSGI: `.ini`, `.yaml`/`.yml`, `.xml`, `.json` configs and command lines.

Facts (https://uwsgi-docs.readthedocs.io/en/latest/articles/TheArtOfGracefulReloading.html#preforking-vs-lazy-apps-vs-lazy,
https://uwsgi-docs.readthedocs.io/en/latest/PythonDecorators.html, unbit/uwsgi source):
- By default uWSGI loads the app in the master (or first process) and then forks the workers;
  `lazy-apps` (or `lazy`) loads it in each worker after the fork.
- Workers are forked from C: `os.register_at_fork` hooks run only with `py-call-osafterfork` or
  `py-call-uwsgi-fork-hooks` (2.0.21+). `uwsgidecorators.postfork` / `uwsgi.post_fork_hook` run in
  every worker after the fork.
- Option names are matched exactly (core/config.c `uwsgi_opt_get`: `strcmp`), so `lazy_apps` is not
  `lazy-apps`; environment variables `UWSGI_<NAME>` become options with the name lower-cased and
  `_` turned into `-` (core/utils.c `env_to_arg`, `parse_sys_envs`).
"""

from __future__ import annotations

import re
from dataclasses import field

from pgforklint.diagnostics import Location
from pgforklint.discover import FileKind
from pgforklint.extract.forking import (
    load_app,
    make_interpreter,
    parse_app_ref,
    registered_hooks,
    run_phase,
)
from pgforklint.launch import Launch
from pgforklint.extract.pyvalues import to_bool
from pgforklint.launch.paths import describe_place, module_roots, repo_dir, repo_file
from pgforklint.model import AppRef, DeploymentModel, Flag, Hook, Origin, OriginKind, ProcessEffects, Quantity, Server, ServerKind
from pgforklint.project import Project
from pgforklint.read.command import Command, Word, python_module_invocation
from pgforklint.records import record

FLAGS = {"master", "lazy-apps", "lazy", "enable-threads", "py-call-osafterfork", "py-call-uwsgi-fork-hooks", "die-on-term",
         "vacuum", "single-interpreter", "need-app", "strict", "thunder-lock", "no-orphans", "http-websockets",
         "log-master", "memory-report", "disable-logging", "cheap", "honour-stdin", "auto-procname", "harakiri-verbose",
         "catch-exceptions", "no-default-app", "manage-script-name", "lazy-apps", "py-autoreload", "reload-on-exception",
         "enable-metrics", "close-on-exec", "close-on-exec2", "reuse-port", "master-as-root", "worker-exec"}
SHORT = {"-M": "master", "-p": "processes", "-T": "enable-threads", "-w": "module", "-s": "socket", "-R": "max-requests",
         "-t": "harakiri", "-z": "socket-timeout", "-b": "buffer-size", "-L": "disable-logging", "-H": "home",
         "-d": "daemonize", "-C": "chmod-socket", "-l": "listen", "-x": "xmlconfig"}
SHORT_FLAGS = {"-M", "-T", "-L"}
ALIASES = {"workers": "processes", "wsgi": "module", "file": "wsgi-file", "python-path": "pythonpath", "pp": "pythonpath",
           "xmlconfig": "xml"}
CONFIG_OPTIONS = {"ini": "ini", "yaml": "yaml", "yml": "yaml", "json": "json", "js": "json", "xml": "xml"}
MAX_INCLUDES = 10


@record
class Option:
    value: str
    location: Location
    source: str = "file"  # "file", "cli", "env", "image" (a base image's default, `launch.base_images`)
    raw: str = ""  # as written, before `$(VAR)` and `%(option)` were expanded
    detail: str = ""  # "image": which image and where its FROM line is


@record
class UwsgiConfig:
    options: dict[str, list[Option]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    location: Location | None = None
    ignored: list[tuple[str, Option]] = field(default_factory=list)  # underscore spellings uWSGI does not know
    failed: list[str] = field(default_factory=list)  # resolution steps that failed
    launch: Launch | None = None  # where the process runs: paths are resolved through pgforklint.launch.paths
    expanded: int = 0  # characters produced by `%(option)` references so far (bounded: MAX_EXPANDED_CHARS)

    def add(self, name: str, option: Option) -> None:
        name = name.strip()
        if "_" in name and name.replace("_", "-") in _RELEVANT:
            self.ignored.append((name, option))
            return
        name = ALIASES.get(name, name)
        self.options.setdefault(name, []).append(option)

    def last(self, name: str) -> Option | None:
        values = self.options.get(name)
        return values[-1] if values else None

    def flag(self, name: str) -> tuple[bool, Option | None]:
        option = self.last(name)
        if option is None:
            return False, None
        # A bare option (`master` in an .ini, `--master` on a command line) switches it on.
        value = option.value
        return (True if isinstance(value, str) and not value.strip() else bool(to_bool(value))), option


_RELEVANT = {"lazy-apps", "py-call-osafterfork", "py-call-uwsgi-fork-hooks", "enable-threads", "wsgi-file"}


# --- readers ---------------------------------------------------------------------------------


# `%(option)` references can grow a value tenfold per line (`b = %(a)%(a)...`, `c = %(b)%(b)...`): a value
# that would grow past MAX_VALUE_CHARS, or any past the config's MAX_EXPANDED_CHARS in all, is kept as
# written (its references unexpanded: not a number, so an unknown value, reported as such).
MAX_VALUE_CHARS = 64 * 1024
MAX_EXPANDED_CHARS = 4 * 1024 * 1024


def _substitute(value: str, env: dict[str, str], config: UwsgiConfig, path: str | None = None) -> str:
    if path is not None and "%" in value:
        # Magic variables of the file being read: %d its folder (with a trailing slash), %p its path,
        # %n its name without extension, %s its name (uwsgi-docs Configuration.html#magic-variables).
        folder, _, name = path.rpartition("/")
        value = (value.replace("%d", f"{folder}/" if folder else "./").replace("%p", path)
                 .replace("%n", name.rsplit(".", 1)[0]).replace("%s", name))

    def env_ref(match: re.Match) -> str:
        return env.get(match.group(1), "")

    def opt_ref(match: re.Match) -> str:
        option = config.last(match.group(1))
        return option.value if option else match.group(0)

    if "$(" in value:
        expanded = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", env_ref, value)
        if len(expanded) <= MAX_VALUE_CHARS:
            value = expanded
    if "%(" not in value:
        return value
    references = [config.last(name) for name in re.findall(r"%\(([A-Za-z0-9_-]+)\)", value)]
    grown = sum(len(option.value) for option in references if option is not None)
    if len(value) + grown > MAX_VALUE_CHARS or config.expanded + grown > MAX_EXPANDED_CHARS:
        return value
    config.expanded += grown
    return re.sub(r"%\(([A-Za-z0-9_-]+)\)", opt_ref, value)


def read_config(project: Project, spec: str, kind: str | None, env: dict[str, str], config: UwsgiConfig,
                depth: int = 0) -> None:
    if depth > MAX_INCLUDES:
        return
    section = "uwsgi"
    path = spec
    if ":" in spec and not spec.startswith(("http:", "https:")):
        path, _, section = spec.rpartition(":")
        section = section or "uwsgi"
    found = repo_file(project, config.launch, path)
    if found is None:
        if config.launch is not None:
            config.launch.failed.append(f"uWSGI config {path}: no such file in {describe_place(config.launch)}")
        return
    path = found
    kind = kind or _kind_from_name(path)
    config.files.append(path)
    if kind == "ini":
        ini = project.ini(path)
        entries = ini.section(section) if ini else None
        if entries is None:
            return
        if config.location is None:
            config.location = Location(path, max(1, (entries[0][2] - 1) if entries else 1))
        for key, value, line in entries:
            key = key.strip()
            option = Option(_substitute(value, env, config, path), Location(path, line), raw=value)
            if key in CONFIG_OPTIONS:
                read_config(project, option.value, CONFIG_OPTIONS[key], env, config, depth + 1)
                continue
            config.add(key, option)
    elif kind == "yaml":
        documents = project.yaml_documents(path) or []
        for document in documents:
            if isinstance(document, dict) and isinstance(document.get(section), dict):
                mapping = document[section]
                if config.location is None:
                    config.location = Location(path, document.line_of(section) or 1)
                for key, value in mapping.items():
                    line = mapping.line_of(key) if hasattr(mapping, "line_of") else 1
                    for item in (value if isinstance(value, list) else [value]):
                        text = "true" if item is True else "false" if item is False else str(item)
                        config.add(str(key), Option(_substitute(text, env, config, path), Location(path, line or 1), raw=text))
                break
    elif kind == "json":
        data = project.json(path)
        if isinstance(data, dict) and isinstance(data.get(section), dict):
            if config.location is None:
                config.location = Location(path, 1)
            lines = _json_key_lines(project.text(path) or "")
            for key, value in data[section].items():
                line = lines.get(str(key), 1)
                for item in (value if isinstance(value, list) else [value]):
                    rendered = "true" if item is True else "false" if item is False else str(item)
                    config.add(str(key), Option(_substitute(rendered, env, config, path), Location(path, line), raw=rendered))
    elif kind == "xml":
        text = project.text(path)
        if text is None:
            return
        for name, value, line in _xml_options(text, section):
            if config.location is None:
                config.location = Location(path, line)
            config.add(name, Option(_substitute(value, env, config, path), Location(path, line), raw=value))


def _kind_from_name(path: str) -> str | None:
    lower = path.lower()
    for suffix, kind in ((".ini", "ini"), (".yaml", "yaml"), (".yml", "yaml"), (".json", "json"), (".js", "json"),
                         (".xml", "xml")):
        if lower.endswith(suffix):
            return kind
    return None


_JSON_KEY = re.compile(r'"((?:[^"\\\n]|\\.)*)"')


def _json_key_lines(text: str) -> dict[str, int]:
    """The line of each string's first occurrence (keys among them), in one pass over the text."""
    lines: dict[str, int] = {}
    line, counted = 1, 0
    for match in _JSON_KEY.finditer(text):
        if match.group(1) not in lines:
            line += text.count("\n", counted, match.start())
            counted = match.start()
            lines[match.group(1)] = line
    return lines


# A start tag, end tag or empty-element tag; attributes never span a `<` (so an unclosed `<a ...` costs one
# scan to the next tag, not one to the end of the file).
_XML_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9_.-]*)(?:\s[^<>]*?)?(/?)>")


def _xml_options(text: str, section: str) -> list[tuple[str, str, int]]:
    """`<uwsgi><master/><processes>4</processes></uwsgi>`: a small reader, no entity expansion, linear in the
    text whatever it holds (unclosed elements and comments are read once, in one pass)."""
    parts, position = [], 0
    while True:  # comments blanked (their newlines kept, for line numbers)
        start = text.find("<!--", position)
        if start < 0:
            parts.append(text[position:])
            break
        end = text.find("-->", start + 4)
        parts.append(text[position:start])
        stop = len(text) if end < 0 else end + 3
        parts.append("\n" * text.count("\n", start, stop))
        position = stop
        if end < 0:
            break
    text = "".join(parts)
    out: list[tuple[str, str, int]] = []
    inside = False  # within the section element
    stack: list[tuple[str, int, int]] = []  # open elements below the section: (name, content start, line)
    open_names: dict[str, int] = {}  # how many of each name are on the stack
    line, counted = 1, 0
    for tag in _XML_TAG.finditer(text):
        closing, name, empty = tag.group(1), tag.group(2), tag.group(3)
        if not inside:
            if name == section and not closing and not empty:
                inside = True
            continue
        if closing:
            if name == section and not stack:
                break
            if open_names.get(name):  # unclosed children inside it are dropped
                while True:
                    opened, content, at = stack.pop()
                    open_names[opened] -= 1
                    if opened == name:
                        break
                if not stack:
                    out.append((name, text[content:tag.start()].strip(), at))
            continue
        line += text.count("\n", counted, tag.start())
        counted = tag.start()
        if empty:
            if not stack:
                out.append((name, "true", line))
        else:
            stack.append((name, tag.end(), line))
            open_names[name] = open_names.get(name, 0) + 1
    else:
        return []  # the section never closed
    return out


def read_command(project: Project, words: list[Word], location: Location, env: dict[str, str], config: UwsgiConfig) -> None:
    index = 0
    while index < len(words):
        text = words[index].text
        value: str | None = None
        if text.startswith("--"):
            name = text[2:]
            if "=" in name:
                name, value = name.split("=", 1)
            elif name not in FLAGS and index + 1 < len(words) and not words[index + 1].text.startswith("-"):
                value = words[index + 1].text
                index += 1
            if name in CONFIG_OPTIONS and value:
                read_config(project, value, CONFIG_OPTIONS[name], env, config)
            else:
                config.add(name, Option(value if value is not None else "true", location, "cli"))
        elif text.startswith("-") and len(text) >= 2:
            name = SHORT.get(text[:2])
            if name is None:
                index += 1
                continue
            if text[:2] in SHORT_FLAGS:
                value = "true"
            elif len(text) > 2:
                value = text[2:]
            elif index + 1 < len(words):
                value = words[index + 1].text
                index += 1
            if name == "xml" and value:
                read_config(project, value, "xml", env, config)
            elif value is not None:
                config.add(name, Option(value, location, "cli"))
        elif _kind_from_name(text):
            read_config(project, text, None, env, config)  # `uwsgi app.ini`: type from the extension
        index += 1


def env_options(project: Project, env: dict[str, str], location: Location, config: UwsgiConfig) -> None:
    image_defaults = config.launch.extra.get("image_defaults", {}) if config.launch is not None else {}
    for key, value in env.items():
        if key.startswith("UWSGI_") and key not in ("UWSGI_RELOADS", "UWSGI_ORIGINAL_PROC_NAME"):
            name = key[len("UWSGI_"):].lower().replace("_", "-")
            if name in CONFIG_OPTIONS:
                read_config(project, value, CONFIG_OPTIONS[name], env, config)
                continue
            option = Option(value, location, "env")
            if key in image_defaults:
                option = Option(value, config.launch.env_locations.get(key, location), "image", detail=image_defaults[key])
            config.options.setdefault(ALIASES.get(name, name), []).insert(0, option)


# --- the server ------------------------------------------------------------------------------


def uwsgi_arguments(command: Command) -> list[Word] | None:
    if command.program in ("uwsgi", "uwsgi-core", "pyuwsgi"):
        return command.argv[1:]
    module = python_module_invocation(command)
    if module and module[0] == "pyuwsgi":
        return module[1]
    return None


def _app_ref(project: Project, config: UwsgiConfig, roots: list[str], chdir: str | None) -> AppRef | None:
    module = config.last("module")
    callable_ = config.last("callable")
    default_callable = callable_.value if callable_ else "application"
    if module is not None:
        text = module.value
        if ":" not in text and "." not in text.split("/")[-1] and text.endswith(".py") or "/" in text:
            return _file_ref(project, config, "module", text, module.location, default_callable, roots, chdir)
        return parse_app_ref(text, module.location, default_callable)
    wsgi_file = config.last("wsgi-file")
    if wsgi_file is not None:
        return _file_ref(project, config, "wsgi-file", wsgi_file.value, wsgi_file.location, default_callable, roots, chdir)
    mount = config.last("mount")
    if mount is not None and "=" in mount.value:
        target = mount.value.split("=", 1)[1]
        if target.endswith((".py", ".wsgi")) or "/" in target:
            return _file_ref(project, config, "mount", target, mount.location, default_callable, roots, chdir)
        return parse_app_ref(target, mount.location, default_callable)
    return None


def _file_ref(project: Project, config: UwsgiConfig, option: str, path: str, location: Location, attribute: str,
              roots: list[str], chdir: str | None) -> AppRef | None:
    """`wsgi-file = ./wsgi.py` (relative to uWSGI's working folder: `chdir`, else where it starts)."""
    launch = config.launch
    rel = repo_file(project, launch, path, chdir)
    if rel is None and chdir is None:
        for root in roots:
            candidate = f"{root}/{path.removeprefix('./')}" if root else path.removeprefix("./")
            if project.exists(candidate):
                rel = candidate
                break
    if rel is None:
        place = describe_place(launch) if chdir is None else f"{chdir} (uWSGI chdir)"
        step = f"uWSGI {option} = {path}: no such file in {place}"
        config.failed.append(step)
        return None
    directory, _, filename = rel.rpartition("/")
    if directory not in roots:
        roots.insert(0, directory)
    name = filename.rsplit(".", 1)[0]
    if not filename.endswith(".py"):
        # a `.wsgi` file: imported by path, under its own name
        project._module_files[(name, *roots)] = rel
    return AppRef(name, attribute, False, location)


def build_server(project: Project, config: UwsgiConfig, location: Location, env: dict[str, str],
                 vassal: bool = False) -> Server | None:
    """`vassal`: a config an Emperor runs is the whole configuration of its instance, so one that names no
    app loads none (it serves static files or routes)."""
    launch = config.launch
    no_app = vassal and not _app_options(config)
    first: list[str] = []
    chdir_option = config.last("chdir")
    chdir = None
    if chdir_option is not None and chdir_option.value.strip():
        chdir = repo_dir(project, launch, chdir_option.value.strip())
        if chdir is not None:
            first.append(chdir)
    extra: list[str] = []
    for option in config.options.get("pythonpath", []):
        folder = repo_dir(project, launch, option.value.strip(), chdir_option.value.strip() if chdir_option else None)
        if folder is not None:
            extra.append(folder)
    roots = module_roots(project, launch, first, extra)
    for option in config.options.get("env", []):
        if "=" in option.value:
            key, value = option.value.split("=", 1)
            env = {**env, key.strip(): value.strip()}
    app = _app_ref(project, config, roots, chdir_option.value.strip() if chdir_option is not None else None)
    if chdir_option is not None and chdir is None and not no_app and (app is None or not (
            project.module_file(app.module, roots) or project.is_package_dir(app.module, roots))):
        # Only a failure when the app is not found without it either.
        config.failed.insert(0, f"uWSGI chdir = {chdir_option.value.strip()}: no such folder in {describe_place(launch)}")
    master, master_option = config.flag("master")
    lazy_apps, lazy_option = config.flag("lazy-apps")
    lazy, lazy_only_option = config.flag("lazy")
    processes_option = config.last("processes")
    processes = _quantity(processes_option, Quantity.default(1, "uWSGI's default processes = 1"))
    threads_option = config.last("threads")
    threads = _quantity(threads_option, Quantity.default(1, "uWSGI runs one thread per worker unless `threads` is set"))
    async_option = config.last("gevent") or config.last("async")
    if async_option is not None:
        threads = _quantity(async_option, threads)
    forks = master or processes.value is None or (processes.value or 1) > 1
    if lazy_apps or lazy:
        option = lazy_option if lazy_apps else lazy_only_option
        loads = Flag(False, Origin(OriginKind.FILE, option.location if option else None,
                                   "lazy-apps" if lazy_apps else "lazy"))
    else:
        loads = Flag(True, Origin(OriginKind.DEFAULT, config.location or location,
                                  "uWSGI's default (no `lazy-apps`): the master loads the app, then forks"))
    osafterfork = config.flag("py-call-osafterfork")[0] or config.flag("py-call-uwsgi-fork-hooks")[0]
    worker_class = "gevent" if config.last("gevent") else ("threads" if (threads.value or 1) > 1 else "sync")
    server = Server(ServerKind.UWSGI, location, forks=forks, loads_app_in_parent=loads, processes=processes,
                    threads=threads, worker_class=worker_class, app=app,
                    config_path=config.files[0] if config.files else None)
    server.settings = {name: values[-1].value for name, values in config.options.items()}
    server.settings["py_call_osafterfork"] = osafterfork
    server.settings["ignored_options"] = [(name, option.location) for name, option in config.ignored]
    server.failed.extend(config.failed)
    if no_app:
        server.settings["no_app"] = True
    if app is None:
        return server
    interp = make_interpreter(project, roots, env)
    fork_hooks = {"uwsgi_postfork": "@postfork", "setattr:uwsgi.post_fork_hook": "uwsgi.post_fork_hook"}
    if loads.value:
        run_phase(interp, server.parent_effects, lambda: load_app(interp, app))
        server.hooks.extend(registered_hooks(interp, fork_hooks))
        for hook in registered_hooks(interp, {"at_fork_child": "os.register_at_fork"}):
            hook.effective = osafterfork
            server.hooks.append(hook)
    else:
        child = ProcessEffects()
        run_phase(interp, child, lambda: load_app(interp, app))
        server.hooks.append(Hook("worker imports the app (lazy-apps)", app.location, True, child))
    return server


_LEADING_INT = re.compile(r"[ \t]*([+-]?[0-9]{1,9})(?![0-9])")
_ENV_WORD = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)|\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


def _quantity(option: Option | None, default: Quantity) -> Quantity:
    """A number as uWSGI reads it: its integer options go through atoi, so `16 ; comment` is 16 (uWSGI's INI
    reader takes `;` and `#` as comments only at the start of a line) [src: unbit/uwsgi core/ini.c]."""
    if option is None:
        return default
    raw = option.raw or option.value
    if len(raw) > 80:  # a value can be 64 KiB: messages show its start
        raw = raw[:77] + "..."
    reference = _ENV_WORD.search(raw)
    if reference is not None and not _LEADING_INT.match(option.value):
        name = reference.group(1) or reference.group(2)
        if reference.group(1):
            detail = f"$({name}) has no value in the repo"
        else:
            detail = (f"${name}: uWSGI does not expand `${name}` (only `$({name})`), so the file is filled in "
                      f"before uWSGI starts and ${name} has no value in the repo")
        return Quantity(None, Origin(OriginKind.ENV_UNSET, option.location, detail), symbolic=raw.strip(),
                        env_var=name)
    match = _LEADING_INT.match(option.value)
    if match and option.source == "image":
        return Quantity(int(match.group(1)), Origin(OriginKind.DEFAULT, option.location, option.detail))
    if match:
        rest = option.value[match.end():].strip()
        detail = "uWSGI option" + (f" (uWSGI reads the leading number and ignores `{rest}`)" if rest else "")
        return Quantity.from_file(int(match.group(1)), option.location, detail)
    if raw.lstrip().startswith("@("):
        return Quantity(None, Origin(OriginKind.FILE, option.location,
                                     f"uWSGI reads `{raw.strip()}` from a file when it starts"), symbolic=raw.strip())
    return Quantity(None, Origin(OriginKind.FILE, option.location, f"`{raw.strip()}` is not a number uWSGI reads"),
                    symbolic=raw.strip())


def standalone_configs(project: Project) -> list[tuple[str, str]]:
    """Config files with a uWSGI section that no launch line mentions (deployed by a unit file or the Emperor)."""
    found = []
    for source in project.files(FileKind.INI):
        if "uwsgi" not in source.name.lower() and not project.contains(source.rel, b"[uwsgi]"):
            continue  # not read at all: a broken INI file that is not a uWSGI config does not matter
        ini = project.ini(source.rel)
        if ini is not None and ini.section("uwsgi") is not None:
            found.append((source.rel, "ini"))
    for source in project.files(FileKind.YAML):
        if "uwsgi" not in source.name.lower() and not project.contains(source.rel, b"uwsgi:"):
            continue
        documents = project.yaml_documents(source.rel) or []
        if any(isinstance(d, dict) and isinstance(d.get("uwsgi"), dict) for d in documents):
            found.append((source.rel, "yaml"))
    for source in project.files(FileKind.XML):
        if "uwsgi" in source.name.lower() or project.contains(source.rel, b"<uwsgi"):
            found.append((source.rel, "xml"))
    for source in project.files(FileKind.JSON):
        if "uwsgi" not in source.name.lower():
            continue
        data = project.json(source.rel)
        if isinstance(data, dict) and isinstance(data.get("uwsgi"), dict):
            found.append((source.rel, "json"))
    return found


# Options that make uWSGI load a Python app; without any, an instance serves only what its routers, static
# maps and dynamic apps (`UWSGI_SCRIPT` per request, loaded in a worker) give it.
APP_OPTIONS = ("module", "wsgi-file", "wsgi", "file", "mount", "paste", "eval", "ini-paste", "ini-paste-logged",
               "pecan", "pyimport", "python-import", "import", "pymodule-alias", "spooler-import", "shared-import")
VASSAL_KINDS = (".ini", ".xml", ".yaml", ".yml", ".json", ".js")


def _app_options(config: UwsgiConfig) -> list[str]:
    return [name for name in APP_OPTIONS if config.options.get(name)]


def _vassal_files(project: Project, launch: Launch, config: UwsgiConfig) -> list[str]:
    """The vassal configs an Emperor runs: each `emperor = DIR` (or `dir://DIR`, `glob://DIR/*.ini`, a plain
    glob) names a folder whose config files are each started as a uWSGI instance of its own
    [src: uwsgi-docs.readthedocs.io/en/latest/Emperor.html]. Other imperial monitors (pg://, zmq://) are not
    in the repository."""
    import fnmatch

    from pgforklint.launch.managers import host_folder

    files: list[str] = []
    for option in config.options.get("emperor", []):
        value = option.value.strip()
        if "://" in value and not value.startswith(("dir://", "glob://")):
            config.failed.append(f"uWSGI emperor = {value}: vassals from an imperial monitor outside the repository")
            continue
        value = value.split("://", 1)[-1]
        pattern = "*"
        if any(c in value.rpartition("/")[2] for c in "*?["):
            value, _, pattern = value.rpartition("/")
        folder = repo_dir(project, launch, value)
        if folder is None:
            folder = host_folder(project, value, "\0")  # a host path whose tail is a repository folder
            folder = None if folder == "\0" else folder
        if folder is None:
            config.failed.append(f"uWSGI emperor = {option.value.strip()}: no such folder in {describe_place(launch)}")
            continue
        prefix = f"{folder}/" if folder else ""
        for source in project.files(FileKind.INI, FileKind.XML, FileKind.YAML, FileKind.JSON):
            name = source.rel[len(prefix):] if source.rel.startswith(prefix) else None
            if name and "/" not in name and name.lower().endswith(VASSAL_KINDS) and fnmatch.fnmatch(name, pattern):
                files.append(source.rel)
    return sorted(files)


def _vassals(project: Project, launch: Launch, emperor: UwsgiConfig, env: dict[str, str], model: DeploymentModel,
             used: set[str]) -> None:
    """An Emperor loads no app: each vassal is a uWSGI instance of its own (a process type named by its file),
    started in the Emperor's environment (its `env` options included)."""
    from pgforklint.launch import attach_process_type
    from pgforklint.launch.base import copy_launch

    for option in emperor.options.get("env", []):
        if "=" in option.value:
            key, value = option.value.split("=", 1)
            env = {**env, key.strip(): value.strip()}
    files = _vassal_files(project, launch, emperor)
    if not files:
        launch.failed.extend(emperor.failed or [f"uWSGI emperor: no vassal configs found in {describe_place(launch)}"])
        return
    for rel in files:
        stem = rel.rpartition("/")[2].rsplit(".", 1)[0]
        vassal = copy_launch(launch, name=f"{launch.name}/{stem}", location=Location(rel, 1),
                             via=[*launch.via, launch.location], env=env)
        config = UwsgiConfig(launch=vassal)
        read_config(project, rel, None, env, config)
        used.update(config.files)
        if config.location is None:
            continue  # not a uWSGI config
        vassal.location = config.location
        server = build_server(project, config, config.location, env, vassal=True)
        if server is None:
            continue
        model.servers.append(server)
        attach_process_type(model, vassal, server)
        launches_of(model).append(vassal)


def launches_of(model: DeploymentModel) -> list[Launch]:
    """Launches an adapter made (Emperor vassals), for the coverage record."""
    return model.facts.setdefault("derived_launches", [])


def adapt(project: Project, launches: list[Launch], model: DeploymentModel) -> None:
    from pgforklint.launch import attach_process_type

    used: set[str] = set()
    for launch in launches:
        for command in launch.commands:
            words = uwsgi_arguments(command)
            if words is None:
                continue
            env = {**launch.env, **command.env}
            config = UwsgiConfig(launch=launch)
            env_options(project, env, launch.location, config)
            read_command(project, words, launch.location, env, config)
            used.update(config.files)
            if config.last("emperor") is not None and _app_options(config) == []:
                _vassals(project, launch, config, env, model, used)
                continue
            server = build_server(project, config, launch.location, env)
            if server is None:
                continue
            model.servers.append(server)
            attach_process_type(model, launch, server)
    standalone = []
    for rel, kind in standalone_configs(project):
        if rel in used:
            continue
        config = UwsgiConfig()
        read_config(project, rel, kind, {}, config)
        if config.last("emperor") is not None and not _app_options(config) and config.location is not None:
            # an Emperor config no launch names (its start is outside the repository, e.g. a base image's CMD)
            emperor = Launch("uwsgi", "uwsgi", f"uwsgi --ini {rel}", config.location, [])
            config.launch = emperor
            _vassals(project, emperor, config, {}, model, used)
        else:
            standalone.append((rel, config))
    for rel, config in standalone:
        if rel in used:
            continue  # a vassal of an Emperor read above
        server = build_server(project, config, config.location or Location(rel, 1), {})
        if server is not None:
            model.servers.append(server)


__all__ = ["adapt", "UwsgiConfig", "read_config", "read_command", "build_server"]
