"""Dockerfiles: the image's filesystem (`WORKDIR`, `COPY`/`ADD`, `ENV`, stages) and its `ENTRYPOINT`/`CMD`.

The command a container runs is `ENTRYPOINT` + `CMD` in exec form (a shell-form `ENTRYPOINT` ignores
`CMD`; a shell-form `CMD` runs under `/bin/sh -c`). A stage `FROM` another stage of the same file starts
from that stage's files, directory, environment and command; `COPY --from=...` copies from another
image, never from the repository. [src: docs.docker.com/reference/dockerfile]
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import field

from pgforklint.diagnostics import Location
from pgforklint.launch.base import shell_quote
from pgforklint.launch.paths import ContainerPaths, _norm_rel, folder_exists
from pgforklint.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pgforklint.project import Project


@record
class ImageCommand:
    words: list[str] | None  # exec form
    shell: str | None  # shell form
    location: Location

    def argv_text(self) -> str:
        if self.words is not None:
            return " ".join(shell_quote(w) for w in self.words)
        return self.shell or ""


@record
class Image:
    dockerfile: str
    paths: ContainerPaths
    entrypoint: ImageCommand | None = None
    cmd: ImageCommand | None = None
    env_locations: dict[str, Location] = field(default_factory=dict)
    from_image: str = ""  # the outside image the first stage starts from (`pgforklint.launch.base_images`)

    def command(self, entrypoint: ImageCommand | None = None, cmd: ImageCommand | None = None,
                *, override_entrypoint: bool = False, override_cmd: bool = False) -> tuple[str, Location] | None:
        """The container's command line: ENTRYPOINT + CMD, each possibly replaced (Compose, Kubernetes)."""
        entry = entrypoint if override_entrypoint else self.entrypoint
        # Docker: setting ENTRYPOINT resets the CMD inherited from the image.
        command = cmd if override_cmd else (None if override_entrypoint else self.cmd)
        if entry is not None and entry.shell is not None:
            return entry.shell, entry.location
        if entry is None and command is None:
            return None
        words = list(entry.words or []) if entry is not None else []
        if command is not None:
            if command.words is not None:
                words.extend(command.words)
            elif entry is None:
                return command.shell or "", command.location
            else:
                words.extend(["/bin/sh", "-c", command.shell or ""])
        where = (entry or command).location
        return " ".join(shell_quote(w) for w in words), where


def logical_lines(text: str) -> list[tuple[int, str]]:
    escape = "\\"
    match = re.search(r"^#\s*escape\s*=\s*(\S)", text, re.MULTILINE)
    if match:
        escape = match.group(1)
    logical: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.rstrip()
        if buffer and stripped.lstrip().startswith("#"):
            continue  # comment lines inside a continued instruction are dropped by Docker
        if not buffer:
            start = number
        if stripped.endswith(escape):
            buffer += stripped[:-1] + " "
            continue
        buffer += stripped
        if buffer.strip() and not buffer.lstrip().startswith("#"):
            logical.append((start, buffer.strip()))
        buffer = ""
    if buffer.strip():
        logical.append((start, buffer.strip()))
    return logical


def _command(rest: str, location: Location) -> ImageCommand:
    rest = rest.strip()
    if rest.startswith("["):
        try:
            words = json.loads(rest)
            if isinstance(words, list):
                return ImageCommand([str(w) for w in words], None, location)
        except ValueError:
            pass
    return ImageCommand(None, rest, location)


def _expand(value: str, env: dict[str, str]) -> str:
    def sub(match: re.Match) -> str:
        name = match.group(1) or match.group(3)
        default = match.group(2)
        return env.get(name, default if default is not None else "")

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)", sub, value)


def _env_pairs(rest: str) -> list[tuple[str, str]]:
    """`ENV A=1 B="two words"` or the legacy `ENV A value with spaces`."""
    parts = rest.split(None, 1)
    if not parts:
        return []
    if "=" not in parts[0]:
        return [(parts[0], parts[1].strip().strip('"'))] if len(parts) == 2 else []
    import shlex

    try:
        words = shlex.split(rest)
    except ValueError:
        words = rest.split()
    return [(w.split("=", 1)[0], w.split("=", 1)[1]) for w in words if "=" in w]


def read_image(project: Project, rel: str, context: str | None = None, target: str | None = None,
               bases: dict[str, Image] | None = None) -> Image | None:
    """The final stage (or `target`) of a Dockerfile built with `context` (default: its folder). `bases`: images
    other builds of the repository make, by name (`FROM shop/base` where Compose builds `image: shop/base`)."""
    text = project.text(rel)
    if context is None:
        context = _guess_context(project, rel, text or "")
    key = ("launch-image", rel, context, target or "", tuple(sorted((n, id(i)) for n, i in (bases or {}).items())))
    if key in project._cache:
        return project._cache[key]
    image = None if text is None else _read(project, rel, text, _norm_rel(context), target, bases or {})
    project._cache[key] = image
    return image


_COPY_LINE = re.compile(r"^[ \t]*(?:COPY|ADD)[ \t]+(?!.*--from)(.+)$", re.IGNORECASE | re.MULTILINE)


def _guess_context(project: Project, rel: str, text: str) -> str:
    """The build context when nothing names it: the Dockerfile's folder, or the folder above it whose files the
    COPY/ADD lines name (`docker build -f docker/Dockerfile .` from the repository root is as common as building
    in the Dockerfile's own folder)."""
    folder = rel.rpartition("/")[0]
    sources = []
    for match in _COPY_LINE.finditer(text[:200_000]):
        words = [w for w in match.group(1).split() if not w.startswith("--")]
        sources.extend(w.strip('"[],') for w in words[:-1] if w and not any(ch in w for ch in "*?[$:"))
    if not sources:
        return folder
    candidates = [folder]
    while folder:
        folder = folder.rpartition("/")[0]
        candidates.append(folder)

    def found(context: str) -> int:
        return sum(1 for source in sources
                   if project.exists(_norm_rel(posixpath.join(context, source)))
                   or folder_exists(project, _norm_rel(posixpath.join(context, source))))

    return max(candidates, key=found)  # the first (the Dockerfile's folder) wins a tie


def image_names(name: str) -> list[str]:
    """The names `FROM` may give an image: as written, and without its tag (`shop/base:${TAG:-latest}`)."""
    name = name.strip().lower()
    bare = re.sub(r":[^/]*$", "", name)
    return [name, bare] if bare != name else [name]


def _read(project: Project, rel: str, text: str, context: str, target: str | None,
          bases: dict[str, Image]) -> Image | None:
    stages: dict[str, Image] = {}
    current: Image | None = None
    args: dict[str, str] = {}
    for number, line in logical_lines(text):
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        rest = rest.strip()
        location = Location(rel, number)
        if instruction == "ARG":
            pairs = _env_pairs(rest) if "=" in rest else [(rest.split()[0], "")] if rest.split() else []
            for name, value in pairs:
                args.setdefault(name, value.strip('"'))
            continue
        if instruction == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            base = words[0] if words else ""
            name = words[2].lower() if len(words) >= 3 and words[1].upper() == "AS" else None
            parent = stages.get(base.lower())
            if parent is None:
                # another image this repository builds: the child starts from its files, directory and command
                parent = next((bases[n] for n in image_names(base) if n in bases and bases[n].dockerfile != rel), None)
            if parent is not None:
                current = Image(rel, ContainerPaths(rel, context, parent.paths.workdir, list(parent.paths.copies),
                                                    dict(parent.paths.env)),
                                parent.entrypoint, parent.cmd, dict(parent.env_locations), parent.from_image)
            else:
                from pgforklint.launch.base_images import start_image  # a known base image's WORKDIR, ENV and command

                current = start_image(rel, context, base, location)
            stages[name or f"#{len(stages)}"] = current
            continue
        if current is None:
            continue
        env = {**args, **current.paths.env}
        if instruction == "WORKDIR":
            current.paths.workdir = posixpath.normpath(posixpath.join(current.paths.workdir,
                                                                      _expand(_unquoted(rest.strip()), env) or "/"))
        elif instruction == "ENV":
            for name, value in _env_pairs(rest):
                current.paths.env[name] = _expand(value.strip('"'), env)
                current.env_locations[name] = location
        elif instruction in ("COPY", "ADD"):
            _copy(project, current, rest, env, stages)
        elif instruction == "CMD":
            current.cmd = _command(rest, location)
        elif instruction == "ENTRYPOINT":
            current.entrypoint = _command(rest, location)
            current.cmd = None  # an ENTRYPOINT resets the CMD inherited from the base image
    if target is not None and target.lower() in stages:
        return stages[target.lower()]
    return current


def _unquoted(word: str) -> str:
    """`COPY . "${APP_DIR}"`: BuildKit reads quoted paths as the path inside the quotes."""
    return word[1:-1] if len(word) >= 2 and word[0] == word[-1] and word[0] in "\"'" else word


def _copy(project: Project, image: Image, rest: str, env: dict[str, str], stages: dict[str, Image]) -> None:
    origin = re.search(r"(?:^|\s)--from[= ](\S+)", rest)
    body = re.sub(r"^(?:--\S+(?:\s+|$))+", "", rest.strip())
    words = body.split()
    if body.startswith("["):
        try:
            words = [str(w) for w in json.loads(body)]
        except ValueError:
            return
    if len(words) < 2:
        return
    *sources, dest = [_expand(_unquoted(w), env) for w in words]
    dest_abs = posixpath.join(image.paths.workdir, dest)
    if origin is not None:
        # From another image: only a stage of this Dockerfile holds repository files, those it copied in.
        stage = stages.get(origin.group(1).lower()) or stages.get(f"#{origin.group(1)}")
        if stage is not None:
            for source in sources:
                _copy_from_stage(image, stage, posixpath.join(stage.paths.workdir, source), dest_abs)
        return
    into_folder = dest.endswith("/") or len(sources) > 1
    for source in sources:
        if "://" in source:
            continue
        if any(ch in source for ch in "*?["):
            # A glob: each match lands in the destination folder under its own name.
            folder = posixpath.dirname(source)
            image.paths.add(dest_abs, posixpath.join(image.paths.context, folder), True)
            continue
        repo = _norm_rel(posixpath.join(image.paths.context, source))
        if folder_exists(project, repo) and not project.exists(repo):
            image.paths.add(dest_abs, repo, True)  # a folder's contents go into the destination
        elif into_folder or _is_existing_container_folder(image, dest_abs):
            image.paths.add(posixpath.join(dest_abs, posixpath.basename(repo)), repo, False)
        else:
            image.paths.add(dest_abs, repo, False)


def _copy_from_stage(image: Image, stage: Image, source: str, dest: str) -> None:
    from pgforklint.launch.paths import _norm

    source, dest = _norm(source), _norm(dest)
    for container, repo, folder in stage.paths.copies:
        if container == source or source == "/":
            image.paths.add(dest if container == source else posixpath.join(dest, container.lstrip("/")), repo, folder)
        elif container.startswith(source + "/"):
            image.paths.add(posixpath.join(dest, container[len(source) + 1:]), repo, folder)
        elif folder and source.startswith(container + "/"):
            image.paths.add(dest, posixpath.join(repo, source[len(container) + 1:]), True)


def _is_existing_container_folder(image: Image, container: str) -> bool:
    container = posixpath.normpath(container)
    return container == posixpath.normpath(image.paths.workdir) or any(
        path == container and folder for path, _, folder in image.paths.copies)
