"""Well-known Python server base images: what their `ENTRYPOINT`/`CMD` start when the repository does not say.

`FROM tiangolo/uwsgi-nginx-flask` with no `CMD` of its own (or with the image's `CMD ["/usr/bin/supervisord"]`)
runs uWSGI under the image's supervisord, configured by the image's `/etc/uwsgi/uwsgi.ini`, the `/app/uwsgi.ini`
the repository copies in, and the image's `ENV UWSGI_PROCESSES`/`UWSGI_CHEAPER`. None of those files is in the
repository, so the image's facts are written here, each cited (repository, path, commit), and its process becomes
an ordinary launch: the server command, the image's `ENV` (values still equal to the image's are labelled as its
defaults in messages), working directory `/app` and the repository files the `COPY` lines put there.

A repository file at the same container path replaces the image's (its own `/entrypoint.sh`, `/start.sh`,
`/app/uwsgi.ini`, `/app/gunicorn_conf.py`), and a repository `CMD`/`ENTRYPOINT` replaces the image's, as in Docker.
See docs/base-images.md.
"""

from __future__ import annotations

import posixpath

from pgforklint.diagnostics import Location
from pgforklint.launch.base import Launch, copy_launch, shell_quote
from pgforklint.records import record
from pgforklint.read.command import Command, parse_commands

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pgforklint.launch.dockerfile import Image
    from pgforklint.project import Project

UWSGI_NGINX = "https://github.com/tiangolo/uwsgi-nginx-docker"
UWSGI_NGINX_FLASK = "https://github.com/tiangolo/uwsgi-nginx-flask-docker"
UVICORN_GUNICORN = "https://github.com/tiangolo/uvicorn-gunicorn-docker"
UVICORN_GUNICORN_FASTAPI = "https://github.com/tiangolo/uvicorn-gunicorn-fastapi-docker"
MEINHELD_GUNICORN = "https://github.com/tiangolo/meinheld-gunicorn-docker"
MEINHELD_GUNICORN_FLASK = "https://github.com/tiangolo/meinheld-gunicorn-flask-docker"


@record(frozen=True)
class BaseImage:
    name: str  # as `FROM` writes it, without tag or registry
    server: str  # "uwsgi" (supervisord runs uWSGI) or "gunicorn" (/start.sh runs gunicorn)
    env: tuple[tuple[str, str], ...]  # the image's ENV
    entrypoint: tuple[str, ...]  # exec form; () when the image has none
    cmd: tuple[str, ...]
    app_ini: tuple[tuple[str, str], ...] = ()  # uWSGI: the image's own /app/uwsgi.ini
    worker_class: str = ""  # gunicorn: `-k` of the image's /start.sh
    entrypoint_sets_app: bool = False  # gunicorn: the /entrypoint.sh (not /start.sh) exports APP_MODULE, GUNICORN_CONF
    workdir: str = "/app"


# tiangolo/uwsgi-nginx: docker-images/python3.12.dockerfile (ENV UWSGI_INI /app/uwsgi.ini, UWSGI_CHEAPER 2,
# UWSGI_PROCESSES 16; ENTRYPOINT ["/entrypoint.sh"]; WORKDIR /app; CMD ["/start.sh"]), docker-images/start.sh
# (`. /app/prestart.sh` if present, then `exec /usr/bin/supervisord`), docker-images/supervisord-debian.conf
# ([program:uwsgi] command=/usr/local/bin/uwsgi --ini /etc/uwsgi/uwsgi.ini), docker-images/uwsgi.ini (socket,
# chown-socket, chmod-socket, hook-master-start, need-app, die-on-term, show-config: no `master`, no `lazy-apps`),
# docker-images/app/uwsgi.ini (`wsgi-file=/app/main.py`), docker-images/entrypoint.sh (writes Nginx's config,
# `exec "$@"`) [src: tiangolo/uwsgi-nginx-docker@afe929aba32ab29cdb784cf370e396130ab4ae30].
# Version-dependent: before 303460f5 (2019-05-10) the CMD was ["/usr/bin/supervisord"] and there was no
# /start.sh; the python2.7 and alpine tags set the same ENV and run the same uWSGI program (alpine: /usr/sbin/uwsgi,
# python3.6-alpine3.7/supervisord.ini) [src: tiangolo/uwsgi-nginx-docker@870a7a01e3c5b2b57c204f8ade822bcca9495fd8
# python3.6/Dockerfile, python2.7/Dockerfile, python3.6-alpine3.7/Dockerfile]. Both CMDs end in the same supervisord.
_UWSGI_ENV = (("UWSGI_INI", "/app/uwsgi.ini"), ("UWSGI_CHEAPER", "2"), ("UWSGI_PROCESSES", "16"))
# tiangolo/uwsgi-nginx-flask: docker-images/python3.12.dockerfile (FROM tiangolo/uwsgi-nginx; ENV PYTHONPATH=/app;
# its own /entrypoint.sh runs the parent's, moved to /uwsgi-nginx-entrypoint.sh, then `exec "$@"`; CMD ["/start.sh"]),
# docker-images/app/uwsgi.ini (`module = main`, `callable = app`)
# [src: tiangolo/uwsgi-nginx-flask-docker@282392a26ba12230738f0da770f3a1e37b02a667]; the 2018 python3.6 tag: the same
# ENV and /app/uwsgi.ini, CMD ["/start.sh"] whose last line is `exec /usr/bin/supervisord`
# [src: tiangolo/uwsgi-nginx-flask-docker@3583f8f4ba07e02d8c9a3fab151c9db33fd89efb python3.6/Dockerfile, start.sh].
# tiangolo/uvicorn-gunicorn: docker-images/python3.11.dockerfile (COPY gunicorn_conf.py /gunicorn_conf.py, WORKDIR
# /app/, ENV PYTHONPATH=/app, CMD ["/start.sh"], no ENTRYPOINT), docker-images/start.sh (APP_MODULE from
# MODULE_NAME (app.main if /app/app/main.py exists, else main) and VARIABLE_NAME (app); GUNICORN_CONF: /app/gunicorn_conf.py,
# else /app/app/gunicorn_conf.py, else /gunicorn_conf.py; `exec gunicorn -k "$WORKER_CLASS" -c "$GUNICORN_CONF"
# "$APP_MODULE"` with WORKER_CLASS default uvicorn.workers.UvicornWorker), docker-images/gunicorn_conf.py (workers =
# $WEB_CONCURRENCY, else max(int(WORKERS_PER_CORE (default 1) x cores), 2), capped by MAX_WORKERS; no preload_app),
# docker-images/start-reload.sh (`uvicorn --reload`) [src: tiangolo/uvicorn-gunicorn-docker@cb5abd5fddd4faa8b8a7c4765f8ed267b567476f].
# Version-dependent: until 875d727a (2019-03-04) WORKERS_PER_CORE defaulted to 2 and there was no minimum of 2, and
# the first tags (835d80fa) started gunicorn from ENTRYPOINT ["/entrypoint.sh"] instead of CMD ["/start.sh"]
# [src: tiangolo/uvicorn-gunicorn-docker@875d727a4af8488e125f91d7cfd4b9d87b51d034,
# @835d80faafcccf5b38857cc083de6bab873e52cc python3.7/entrypoint.sh]. No version sets preload_app.
# tiangolo/uvicorn-gunicorn-fastapi: docker-images/python3.11.dockerfile (FROM tiangolo/uvicorn-gunicorn, COPY ./app /app)
# [src: tiangolo/uvicorn-gunicorn-fastapi-docker@072ed47b707297526c1de46a51a18b0da6f79b82].
# tiangolo/meinheld-gunicorn: docker-images/python3.9.dockerfile (ENTRYPOINT ["/entrypoint.sh"], CMD ["/start.sh"],
# WORKDIR /app/, ENV PYTHONPATH=/app), docker-images/entrypoint.sh (APP_MODULE and GUNICORN_CONF as above, then
# `exec "$@"`), docker-images/start.sh (`exec gunicorn -k egg:meinheld#gunicorn_worker -c "$GUNICORN_CONF"
# "$APP_MODULE"`), docker-images/gunicorn_conf.py (workers = $WEB_CONCURRENCY, else int(WORKERS_PER_CORE (default 2)
# x cores); no preload_app) [src: tiangolo/meinheld-gunicorn-docker@70cb7974f40ee6719e429bc4485d4f92c6f65ed4];
# tiangolo/meinheld-gunicorn-flask: FROM tiangolo/meinheld-gunicorn, COPY ./app /app
# [src: tiangolo/meinheld-gunicorn-flask-docker@e871de6864887a7b3efba026cc935880a00485cb docker-images/python3.9.dockerfile].
KNOWN: dict[str, BaseImage] = {image.name: image for image in (
    BaseImage("tiangolo/uwsgi-nginx", "uwsgi", _UWSGI_ENV, ("/entrypoint.sh",), ("/start.sh",),
              app_ini=(("wsgi-file", "/app/main.py"),)),
    BaseImage("tiangolo/uwsgi-nginx-flask", "uwsgi", (*_UWSGI_ENV, ("PYTHONPATH", "/app")), ("/entrypoint.sh",),
              ("/start.sh",), app_ini=(("module", "main"), ("callable", "app"))),
    BaseImage("tiangolo/uvicorn-gunicorn", "gunicorn", (("PYTHONPATH", "/app"),), (), ("/start.sh",),
              worker_class="uvicorn.workers.UvicornWorker"),
    BaseImage("tiangolo/uvicorn-gunicorn-fastapi", "gunicorn", (("PYTHONPATH", "/app"),), (), ("/start.sh",),
              worker_class="uvicorn.workers.UvicornWorker"),
    BaseImage("tiangolo/meinheld-gunicorn", "gunicorn", (("PYTHONPATH", "/app"),), ("/entrypoint.sh",), ("/start.sh",),
              worker_class="egg:meinheld#gunicorn_worker", entrypoint_sets_app=True),
    BaseImage("tiangolo/meinheld-gunicorn-flask", "gunicorn", (("PYTHONPATH", "/app"),), ("/entrypoint.sh",),
              ("/start.sh",), worker_class="egg:meinheld#gunicorn_worker", entrypoint_sets_app=True),
)}

# The image's scripts, by container path: entry scripts end in `exec "$@"`; start scripts start the server.
ENTRY_SCRIPTS = ("/entrypoint.sh", "/uwsgi-nginx-entrypoint.sh")
START_SCRIPT = "/start.sh"
RELOAD_SCRIPT = "/start-reload.sh"  # tiangolo/uvicorn-gunicorn: `uvicorn --reload` (development)
SUPERVISORD_CONF = "/etc/supervisor/conf.d/supervisord.conf"
IMAGE_GUNICORN_CONF = "/gunicorn_conf.py"


def known(name: str) -> BaseImage | None:
    """The base image `FROM` names (`tiangolo/uwsgi-nginx-flask:python3.6`, `docker.io/tiangolo/...`), if known."""
    bare = name.strip().lower().split("@", 1)[0]
    if ":" in bare.rpartition("/")[2]:
        bare = bare.rsplit(":", 1)[0]
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        bare = bare.removeprefix(prefix)
    bare = bare.removeprefix("library/")
    return KNOWN.get(bare)


def start_image(rel: str, context: str, base: str, location: Location) -> Image:
    """The first stage of an image `FROM` an image of no stage or build of this repository: a known base image
    starts with its directory, environment and command; any other starts empty (its name kept)."""
    from pgforklint.launch.dockerfile import Image, ImageCommand
    from pgforklint.launch.paths import ContainerPaths

    image = Image(rel, ContainerPaths(rel, context))
    image.from_image = base
    found = known(base)
    if found is None:
        return image
    image.paths.workdir = found.workdir
    for name, value in found.env:
        image.paths.env[name] = value
        image.env_locations[name] = location
    image.entrypoint = ImageCommand(list(found.entrypoint), None, location) if found.entrypoint else None
    image.cmd = ImageCommand(list(found.cmd), None, location)
    return image


def image_of(project: Project, launch: Launch) -> tuple[BaseImage, Location] | None:
    """The known base image a launch's container comes from, and the `FROM` line that names it."""
    if launch.paths is None or not launch.paths.origin:
        return None
    from pgforklint.launch.dockerfile import read_image

    origin = launch.paths.origin
    if not project.exists(origin) or project.discovery.get(origin) is None:
        return None
    image = read_image(project, origin, launch.paths.context)
    if image is None or not image.from_image:
        return None
    found = known(image.from_image)
    if found is None:
        return None
    text = project.text(origin) or ""
    line = next((n for n, raw in enumerate(text.splitlines(), start=1)
                 if raw.strip().upper().startswith("FROM") and image.from_image in raw), 1)
    return found, Location(origin, line)


def resolve(project: Project, launches: list[Launch]) -> list[Launch]:
    """Launches whose container runs the base image's own scripts (or its supervisord) with those replaced by
    the server command the image runs. Called before start scripts are followed (the image's `/entrypoint.sh
    /start.sh`) and after (a repository entrypoint that ends in `exec "$@"` with the image's supervisord)."""
    out = []
    for launch in launches:
        found = image_of(project, launch) if launch.paths is not None else None
        if found is None:
            out.append(launch)
            continue
        out.append(_resolve_launch(project, launch, *found))
    return out


def _image_provides(project: Project, launch: Launch, container: str) -> bool:
    """The container path holds the image's file: the repository puts none there."""
    return launch.paths is not None and not _repo_has(project, launch, container)


def _resolve_launch(project: Project, launch: Launch, base: BaseImage, where: Location) -> Launch:
    commands: list[Command] = []
    env = dict(launch.env)
    derived: dict[str, str] = {}  # values the image's scripts or its /app/uwsgi.ini fill in
    extra: dict = {}
    steps: list[str] = []
    pending = list(launch.commands)
    changed = False
    for _ in range(8):  # /entrypoint.sh /start.sh -> /start.sh -> gunicorn
        if not pending:
            break
        command = pending.pop(0)
        path = command.argv[0].text if command.argv else ""
        args = [w.text for w in command.argv[1:]]
        if path in ENTRY_SCRIPTS and _image_provides(project, launch, path):
            changed = True
            steps.append(f"{path} (the image's, `exec \"$@\"`)")
            if base.entrypoint_sets_app:
                _set_derived(env, derived, _gunicorn_app_env(project, launch, base, env))
            if args:
                pending[:0] = parse_commands(" ".join(shell_quote(a) for a in args), env)
            continue
        if path == START_SCRIPT and _image_provides(project, launch, path):
            changed = True
            steps.append(f"{path} (the image's)")
            if base.server == "gunicorn":
                _set_derived(env, derived, _gunicorn_app_env(project, launch, base, env))
                commands.extend(_gunicorn(project, launch, base, env, where, extra))
            else:
                pending[:0] = parse_commands("/usr/bin/supervisord", env)
            continue
        if path == RELOAD_SCRIPT and base.server == "gunicorn" and _image_provides(project, launch, path):
            changed = True
            steps.append(f"{path} (the image's)")
            _set_derived(env, derived, _gunicorn_app_env(project, launch, base, env))
            commands.extend(parse_commands(f"uvicorn --reload {shell_quote(env['APP_MODULE'])}", env))
            continue
        if (command.program in ("supervisord", "supervisor") and base.server == "uwsgi"
                and not any(a in ("-c", "--configuration") or a.startswith("--configuration=") for a in args)):
            changed = True
            if not _image_provides(project, launch, SUPERVISORD_CONF):
                # the repository's own supervisord.conf at the image's path: its programs are read as usual
                commands.extend(parse_commands(f"supervisord -c {SUPERVISORD_CONF}", env))
                continue
            steps.append(f"supervisord, the image's [program:uwsgi] `uwsgi --ini /etc/uwsgi/uwsgi.ini`")
            ini = env.get("UWSGI_INI", "")
            if ini == "/app/uwsgi.ini" and _image_provides(project, launch, ini):
                # no /app/uwsgi.ini from the repository: the image's own (its options as UWSGI_* variables)
                env.pop("UWSGI_INI")
                _set_derived(env, derived, {f"UWSGI_{option.upper().replace('-', '_')}": value
                                            for option, value in base.app_ini})
            # The image's /etc/uwsgi/uwsgi.ini sets nothing about loading or forking: `uwsgi` in the image's env.
            commands.extend(parse_commands("uwsgi", env))
            continue
        commands.append(command)
    commands.extend(pending)
    if not changed:
        return launch
    resolved = copy_launch(launch, commands=commands, env=env)
    if steps:
        resolved.text = f"{launch.text} ({base.name}: {'; '.join(steps)})"
    resolved.extra.update(extra)
    resolved.extra["base_image"] = base.name
    defaults = {name: f"{base.name} default (ENV {name}={value})" for name, value in base.env if env.get(name) == value}
    defaults.update({name: f"{base.name} default ({name}={value}, set by the image's scripts)"
                     for name, value in derived.items() if env.get(name) == value})
    resolved.extra["image_defaults"] = {**launch.extra.get("image_defaults", {}), **defaults}
    _workdir_of_app_file(project, resolved)
    return resolved


def _set_derived(env: dict[str, str], derived: dict[str, str], values: dict[str, str]) -> None:
    for name, value in values.items():
        if name not in env:
            env[name] = value
            derived[name] = value


def _repo_has(project: Project, launch: Launch, container: str) -> bool:
    rel = launch.paths.to_repo(container) if launch.paths is not None else None
    return rel is not None and project.exists(rel)


def _gunicorn_app_env(project: Project, launch: Launch, base: BaseImage, env: dict[str, str]) -> dict[str, str]:
    """APP_MODULE, GUNICORN_CONF and WORKER_CLASS as the image's start (or entry) script computes them."""
    out: dict[str, str] = {}
    if "APP_MODULE" not in env:
        module = env.get("MODULE_NAME") or ("app.main" if _repo_has(project, launch, "/app/app/main.py") else "main")
        out["APP_MODULE"] = f"{module}:{env.get('VARIABLE_NAME') or 'app'}"
    if "GUNICORN_CONF" not in env:
        out["GUNICORN_CONF"] = next((path for path in ("/app/gunicorn_conf.py", "/app/app/gunicorn_conf.py")
                                     if _repo_has(project, launch, path)), IMAGE_GUNICORN_CONF)
    return out


def _gunicorn(project: Project, launch: Launch, base: BaseImage, env: dict[str, str], where: Location, extra: dict) -> list[Command]:
    """The image's /start.sh: `exec gunicorn -k "$WORKER_CLASS" -c "$GUNICORN_CONF" "$APP_MODULE"`."""
    worker_class = base.worker_class if base.entrypoint_sets_app else env.get("WORKER_CLASS") or base.worker_class
    words = ["gunicorn", "-k", worker_class]
    config = env.get("GUNICORN_CONF", IMAGE_GUNICORN_CONF)
    if config == IMAGE_GUNICORN_CONF and _image_provides(project, launch, config):
        # The image's gunicorn_conf.py: only its worker count matters here (it sets no preload_app).
        extra["image_workers"] = (
            f"{base.name} default: $WEB_CONCURRENCY, else WORKERS_PER_CORE x CPU cores"
            + (", at least 2" if base.name.startswith("tiangolo/uvicorn") else "")
            + " (its /gunicorn_conf.py)", where)
    else:
        words += ["-c", config]
    words.append(env.get("APP_MODULE") or "main:app")
    return parse_commands(" ".join(shell_quote(w) for w in words), env)
def _workdir_of_app_file(project: Project, launch: Launch) -> None:
    """The image's WORKDIR (/app) holds single files the repository copies (`COPY ./app/main.py /app/main.py`),
    not a folder: the folder of the app file that lands there is where its module is imported from."""
    if launch.paths is None or launch.paths.to_repo(launch.paths.workdir) is not None:
        return
    for container, repo, folder in launch.paths.copies:
        if not folder and posixpath.dirname(container) == launch.paths.workdir and repo.endswith(".py") \
                and project.exists(repo) and posixpath.basename(container) == posixpath.basename(repo):
            launch.workdir = posixpath.dirname(repo)
            return


def unknown_base_step(project: Project, config_rel: str | None, launches: list[Launch]) -> str | None:
    """The failed step of a server configuration no launch names (a lone uwsgi.ini) that an image copies in while
    running no command of its own: the command is its base image's, and pgforklint does not know that image."""
    from pgforklint.discover import FileKind
    from pgforklint.launch.dockerfile import read_image

    if not config_rel:
        return None
    run = {launch.paths.origin for launch in launches if launch.paths is not None}
    for dockerfile in project.files(FileKind.DOCKERFILE):
        if dockerfile.rel in run:
            continue  # a launch runs this image (with a command of its own, or a known base image's)
        image = read_image(project, dockerfile.rel)
        if image is None or image.entrypoint is not None or image.cmd is not None or not image.from_image \
                or known(image.from_image) is not None:
            continue
        for container, repo, folder in image.paths.copies:
            if repo == config_rel or (folder and config_rel.startswith(f"{repo}/" if repo else "")):
                at = container if repo == config_rel else posixpath.join(container, config_rel[len(repo):].lstrip("/"))
                return (f"{dockerfile.rel} copies {config_rel} into its image (at {at}) and sets no CMD or ENTRYPOINT, "
                        f"so the image's command comes from the base image {image.from_image}, which pgforklint does "
                        f"not know")
    return None
