"""Where a process runs: container paths mapped to repository paths, and the module roots it imports from.

A Dockerfile's `COPY`/`ADD` from the build context put repository folders at container paths
(`COPY service/ /app` puts `service/x.py` at `/app/x.py`); `WORKDIR` is where the process starts.
`COPY --from=<stage>` copies from another image, not from the repository. Compose bind mounts
(`./:/code`) map the same way. Every server adapter resolves its app module, configuration file,
`--chdir`/`chdir`/`wsgi-file` through `repo_file`, `repo_dir` and `module_roots` here, so a path means
the same thing wherever it is written.
"""

from __future__ import annotations

import posixpath
from dataclasses import field

from pgforklint.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pgforklint.launch.base import Launch
    from pgforklint.project import Project


@record
class ContainerPaths:
    origin: str  # the Dockerfile (or Compose file) that says so
    context: str  # the build context, a repository folder ("" is the root)
    workdir: str = "/"  # the container's working directory
    copies: list[tuple[str, str, bool]] = field(default_factory=list)  # (container path, repository path, is a folder)
    env: dict[str, str] = field(default_factory=dict)

    def add(self, container: str, repo: str, folder: bool) -> None:
        self.copies.append((_norm(container), _norm_rel(repo), folder))

    def container_path(self, path: str, cwd: str | None = None) -> str:
        return _norm(posixpath.join(cwd or self.workdir or "/", path))

    def to_repo(self, path: str, cwd: str | None = None) -> str | None:
        """The repository path that lands at `path` (absolute, or relative to `cwd`/WORKDIR), if any."""
        target = self.container_path(path, cwd)
        best: tuple[int, str] | None = None
        for container, repo, folder in self.copies:  # the last COPY to a path wins, as in the image
            if target == container:
                best = (len(container), repo)
            elif folder and (container == "/" or target.startswith(container + "/")):
                if best is None or len(container) >= best[0]:
                    rest = target[len(container):].lstrip("/")
                    best = (len(container), _norm_rel(posixpath.join(repo, rest)))
        return best[1] if best else None

    def holds(self, container: str) -> str:
        """In words, what the repository puts at a container folder (for messages)."""
        for path, repo, folder in self.copies:
            if path == _norm(container) and folder:
                return f"{repo or 'the build context'}/" if repo else "the build context"
        return "nothing copied from the repository"


def _norm(path: str) -> str:
    path = posixpath.normpath("/" + path.strip().lstrip("/"))
    return "/" + path.lstrip("/")


def _norm_rel(path: str) -> str:
    path = posixpath.normpath(path.strip() or ".")
    return "" if path in (".", "/") else path.lstrip("/")


def folder_exists(project: Project, rel: str) -> bool:
    rel = _norm_rel(rel)
    return rel == "" or project.is_package_dir("", [rel])


def repo_path(launch: Launch | None, path: str, cwd: str | None = None) -> str | None:
    """Where a path written in a launch (relative to the process's folder, or absolute in the image) is in
    the repository, without checking that it exists. None: a container path the repository does not fill."""
    path = path.strip()
    if not path:
        return None
    if path.startswith("file:"):
        path = path[len("file:"):]
    if launch is not None and launch.paths is not None:
        container_cwd = cwd if cwd and cwd.startswith("/") else launch.paths.container_path(cwd or ".", launch.extra.get("container_cwd"))
        return launch.paths.to_repo(path, container_cwd)
    base = launch.workdir if launch is not None else ""
    if path.startswith("/"):
        return None
    if cwd:
        base = posixpath.join(base, cwd)
    rel = _norm_rel(posixpath.join(base, path))
    return None if rel.startswith("..") else rel


def _candidates(launch: Launch | None, path: str, cwd: str | None):
    """Repository paths a written path may mean, best first: the image's mapping (or the process's
    folder), then, for a path no image explains, the same path from the repository root, and the tails
    of an absolute host path (`/srv/app/current/service/wsgi.py` -> `service/wsgi.py`)."""
    rel = repo_path(launch, path, cwd)
    if rel is not None:
        yield rel
    mapped = launch is not None and launch.paths is not None
    full = posixpath.join(cwd, path) if cwd else path
    if full.startswith("/"):
        if not mapped:
            parts = [p for p in full.split("/") if p]
            for start in range(len(parts)):
                tail = "/".join(parts[start:])
                if launch is not None and launch.workdir:
                    yield _norm_rel(posixpath.join(launch.workdir, tail))
                yield tail
        return
    for base in dict.fromkeys((launch.workdir if launch is not None else "", "")):
        candidate = _norm_rel(posixpath.join(base, full))
        if not candidate.startswith(".."):
            yield candidate


def repo_file(project: Project, launch: Launch | None, path: str, cwd: str | None = None) -> str | None:
    """The repository file a path written in a launch or a server's configuration means, if it exists.
    `cwd` is a folder as written (uWSGI `chdir`), relative paths are relative to it."""
    path = path.strip().removeprefix("file:")
    if not path:
        return None
    for candidate in _candidates(launch, path, cwd):
        if candidate and project.exists(candidate):
            return candidate
    return None


def repo_dir(project: Project, launch: Launch | None, path: str, cwd: str | None = None) -> str | None:
    path = path.strip()
    if not path:
        return None
    for candidate in _candidates(launch, path, cwd):
        if folder_exists(project, candidate):
            return candidate
    return None


def module_roots(project: Project, launch: Launch | None, first: list[str] | tuple[str, ...] = (),
                 extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The repository folders a process imports from, most specific first: folders an option names
    (`--chdir`, uWSGI `chdir`), the process's working folder, `--pythonpath`-like additions, then the
    project's defaults (the root and `src/`)."""
    roots: list[str] = []
    for root in (*first, launch.workdir if launch is not None else "", *extra):
        root = _norm_rel(root)
        if root not in roots:
            roots.append(root)
    if launch is not None and launch.workdir:
        src = posixpath.join(launch.workdir, "src")
        if folder_exists(project, src) and src not in roots:
            roots.append(src)
    if launch is not None and launch.paths is not None:
        # The image's PYTHONPATH, and the src layout of the project installed in its WORKDIR (`COPY src /app/src`
        # then `pip install .` / `uv sync`), as repository folders.
        for container in (*launch.env.get("PYTHONPATH", "").split(":"), posixpath.join(launch.paths.workdir, "src")):
            repo = launch.paths.to_repo(container) if container.startswith("/") else None
            if repo and repo not in roots and folder_exists(project, repo):
                roots.append(repo)
    for root in project.default_module_roots():
        if root not in roots:
            roots.append(root)
    return roots


def describe_roots(roots: list[str]) -> str:
    return ", ".join(f"`{root}/`" if root else "the repository root" for root in roots)


def describe_place(launch: Launch | None) -> str:
    """Where the process runs, in words: `/app, the Dockerfile's WORKDIR, which holds service/`."""
    if launch is None:
        return "the repository root"
    if launch.paths is not None:
        cwd = launch.extra.get("container_cwd") or launch.paths.workdir
        holds = launch.paths.to_repo(cwd)
        what = f"{holds}/" if holds else ("the build context" if holds == "" else "nothing from the repository")
        return f"{cwd}, the working directory of the image built by {launch.paths.origin}, which holds {what}"
    return f"`{launch.workdir}/`" if launch.workdir else "the repository root"
