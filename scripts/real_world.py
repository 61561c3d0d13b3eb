#!/usr/bin/env python3
"""Run pgforklint on a corpus of real repositories pinned by commit and compare with the ground truth.

    python scripts/real_world.py [--corpus scripts/corpus.toml] [--mirrors /work/.mirror]
                                 [--pgforklint PATH] [--only NAME ...] [--timeout S] [--no-probe]
    python scripts/real_world.py --sources      # the fetch source of every repository, missing ones marked

The corpus (scripts/corpus.toml) lists public repositories that keep their deployment files in the
repository, each at a pinned commit, with the ground truth established by reading their code: the
process types that run in production, which of them fork, and the findings pgforklint should give.

For each entry the pinned commit is exported from a local bare mirror
(`git --git-dir=<mirrors>/<owner>+<name>/repo archive <commit> | tar -x`) into scripts/.cache/trees/
(ignored by git) and made the top of its own empty git repository (pgforklint honours the .gitignore
of the repository around the linted folder; without a boundary of its own the tree would be skipped).
A missing mirror is reported with the `fetch` source that brings it (the search tool's `fetch`), and
the entry is skipped. Upstream code is never copied into this repository.

pgforklint runs as `pgforklint --format json --no-cache .` in the tree. What it linked is read from
the JSON's `coverage` object when the version under test writes one (process types, server, whether
the app was resolved and to which file, engines, the failed step; other key names are tolerated).
When it does not, and PATH is a checkout (its `src` or an executable in its `.venv`), a probe
imports that checkout's pgforklint and reads the same from its deployment model (marked "probe").

Output: a per-repository table, per-rule counts (right / wrong / missed against the ground truth),
launches linked / forking launches, runs that printed no findings while linking nothing, and
scripts/.cache/summary.json with everything.

--pgforklint PATH: an executable (default: `pgforklint` on PATH, else this checkout's .venv), or a
checkout's `src` folder (run as `python -m pgforklint` with that folder on PYTHONPATH).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(__file__).resolve().parent / ".cache"
CORPUS = Path(__file__).resolve().parent / "corpus.toml"

# Rules scored against the ground truth. Budget rules are scored only for entries whose ground truth
# says the budget was judged (`budget_judged = true`); PGF100/PGF101/PGF102 are listed, not scored.
FORK_RULES = ("PGF001", "PGF002", "PGF003", "PGF007", "PGF009", "PGF010")
BUDGET_RULES = ("PGF004", "PGF005", "PGF006", "PGF008", "PGF011")
LINE_TOLERANCE = 2

PROBE = r"""
import json, sys
from pathlib import Path
from pgforklint.analyze import lint_project
from pgforklint.cli import _load_config
class A: config = None
root = Path(sys.argv[1]).resolve()
result = lint_project(root, _load_config(A, root))
model, project = result.model, result.project
try:
    roots = project.default_module_roots()
except Exception:
    roots = [""]
out = []
attached = {id(pt.server) for pt in model.process_types if pt.server is not None}
rows = [(pt.name, pt.command, pt.location, pt.server) for pt in model.process_types]
rows += [(f"(no launch) {s.location.path}", "", s.location, s) for s in model.servers if id(s) not in attached]
for name, command, location, s in rows:
    row = {"name": name, "command": command, "location": f"{location.path}:{location.line}",
           "unattached": name.startswith("(no launch)")}
    if s is not None:
        app = s.app
        resolved = None
        if app is not None:
            try:
                resolved = project.module_file(app.module, roots)
            except Exception:
                resolved = None
        eff = s.parent_effects
        row.update({
            "server": s.kind.value if hasattr(s.kind, "value") else str(s.kind),
            "forks": bool(s.forks),
            "loads_app_in_parent": bool(s.loads_app_in_parent.value) if s.loads_app_in_parent is not None else None,
            "app": (app.module + (":" + app.attribute if app.attribute else "")) if app is not None else None,
            "resolved_file": resolved,
            "engines": [e.symbol for e in eff.engines],
            "opens": len(eff.opens),
        })
    out.append(row)
print(json.dumps({"process_types": out}))
"""


# -- corpus -----------------------------------------------------------------------------------------

def load_corpus(path: Path) -> list[dict]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    entries = data.get("repo", [])
    names = set()
    for entry in entries:
        for key in ("name", "repo", "commit", "language"):
            if key not in entry:
                raise SystemExit(f"{path}: entry {entry.get('name', entry.get('repo'))!r} has no {key!r}")
        if len(entry["commit"]) != 40:
            raise SystemExit(f"{path}: {entry['name']}: commit must be 40 hex digits")
        if entry["name"] in names:
            raise SystemExit(f"{path}: duplicate name {entry['name']!r}")
        names.add(entry["name"])
    return entries


def mirror_dir(mirrors: Path, repo: str) -> Path | None:
    owner, name = repo.split("/", 1)
    base = mirrors / f"{owner}+{name}"
    for candidate in (base / "repo", base / "repo" / ".git", base):  # some snapshots are clones with a work tree
        if (candidate / "HEAD").is_file() or (candidate / "objects").is_dir():
            return candidate
    return None


def export(mirror: Path, entry: dict) -> Path:
    """The pinned tree under scripts/.cache/trees/NAME-SHORTSHA, exported once, top of its own git repository."""
    target = CACHE / "trees" / f"{entry['name']}-{entry['commit'][:10]}"
    if (target / ".git").exists():
        return target
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    archive = subprocess.Popen(["git", f"--git-dir={mirror}", "archive", "--format=tar", entry["commit"]],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    untar = subprocess.run(["tar", "-x", "-C", str(tmp)], stdin=archive.stdout, capture_output=True)
    archive.stdout.close()
    if archive.wait() != 0 or untar.returncode != 0:
        # Snapshots lack their largest files (and Git LFS content): `git archive` stops at the first
        # missing blob. Export blob by blob instead and leave the missing ones out (listed in MISSING).
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        missing = _export_blobs(mirror, entry["commit"], tmp)
        if missing is None:
            shutil.rmtree(tmp, ignore_errors=True)
            raise RuntimeError(f"cannot read commit {entry['commit']} in {mirror}")
        (tmp / ".git-export-missing").write_text("".join(p + "\n" for p in missing))
        (tmp / ".gitignore").write_text(".git-export-missing\n") if not (tmp / ".gitignore").exists() else None
    subprocess.run(["git", "init", "-q", str(tmp)], check=True)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def _export_blobs(mirror: Path, commit: str, dest: Path) -> list[str] | None:
    """Write every blob of `commit` under `dest`; return the paths whose blob the mirror lacks."""
    listing = subprocess.run(["git", f"--git-dir={mirror}", "ls-tree", "-r", "-z", commit], capture_output=True)
    if listing.returncode != 0:
        return None
    entries = []
    for record in listing.stdout.split(b"\0"):
        if not record:
            continue
        meta, _, path = record.partition(b"\t")
        mode, kind, sha = meta.split()
        if kind == b"blob":
            entries.append((mode.decode(), sha.decode(), path.decode("utf-8", "surrogateescape")))
    batch = subprocess.Popen(["git", f"--git-dir={mirror}", "cat-file", "--batch"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE)
    missing = []
    for mode, sha, path in entries:
        batch.stdin.write(sha.encode() + b"\n")
        batch.stdin.flush()
        header = batch.stdout.readline().split()
        if len(header) < 3 or header[1] != b"blob":
            missing.append(path)
            continue
        data = batch.stdout.read(int(header[2]))
        batch.stdout.read(1)  # the newline after the content
        out = dest / path
        out.parent.mkdir(parents=True, exist_ok=True)
        if mode == "120000":
            try:
                out.symlink_to(data.decode("utf-8", "surrogateescape"))
            except OSError:
                missing.append(path)
            continue
        out.write_bytes(data)
        if mode == "100755":
            out.chmod(0o755)
    batch.stdin.close()
    batch.wait()
    return missing


# -- running pgforklint -----------------------------------------------------------------------------

def command_for(pgforklint: str) -> tuple[list[str], dict, str | None]:
    """(argv prefix, extra environment, python for the probe or None)."""
    path = Path(pgforklint)
    if path.is_dir():  # a checkout's src folder
        src = path.resolve()
        python = src.parent / ".venv" / "bin" / "python"
        python_exe = str(python) if python.exists() else sys.executable
        env = {"PYTHONPATH": str(src) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        return [python_exe, "-m", "pgforklint"], env, python_exe
    exe = shutil.which(pgforklint) or pgforklint
    if Path(exe).exists():
        exe = str(Path(exe).absolute())  # it runs with the tree as its working directory
    python = Path(exe).absolute().parent / "python"
    return [exe], {}, (str(python) if python.exists() else None)


def run_pgforklint(argv: list[str], env: dict, tree: Path, timeout: float) -> dict:
    start = time.monotonic()
    try:
        proc = subprocess.run([*argv, "--format", "json", "--no-cache", "."], cwd=tree, capture_output=True,
                              text=True, timeout=timeout, env={**os.environ, **env})
    except subprocess.TimeoutExpired:
        return {"exit": None, "seconds": round(time.monotonic() - start, 2), "timeout": True, "diagnostics": None,
                "coverage": None, "stderr": [f"timed out after {timeout} s"]}
    elapsed = time.monotonic() - start
    diagnostics = coverage = None
    try:
        data = json.loads(proc.stdout)
        diagnostics = data.get("diagnostics")
        coverage = data.get("coverage")
    except ValueError:
        pass
    return {"exit": proc.returncode, "seconds": round(elapsed, 2), "timeout": False, "diagnostics": diagnostics,
            "coverage": coverage, "stderr": proc.stderr.strip().splitlines()[-3:]}


def run_probe(python: str, env: dict, tree: Path, timeout: float) -> dict | None:
    try:
        proc = subprocess.run([python, "-c", PROBE, str(tree)], cwd=tree, capture_output=True, text=True,
                              timeout=timeout, env={**os.environ, **env})
        return json.loads(proc.stdout) if proc.returncode == 0 else {"error": proc.stderr.strip().splitlines()[-1:]}
    except (subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        return {"error": [str(exc)]}


def _get(row: dict, *keys, default=None):
    for key in keys:
        if key in row:
            return row[key]
    return default


def launches(coverage: dict | None, probe: dict | None) -> tuple[list[dict], str]:
    """Process types as pgforklint understood them: name, server, forks, linked, file, failed step."""
    source, rows = "none", []
    if isinstance(coverage, dict):
        source = "coverage"
        rows = _get(coverage, "process_types", "processes", "launches", default=[]) or []
    elif isinstance(probe, dict) and "process_types" in probe:
        source = "probe"
        rows = probe["process_types"]
    out = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        server = _get(row, "server", "server_kind", "kind")
        if isinstance(server, dict):
            server = _get(server, "kind", "name", default=str(server))
        forks = _get(row, "forks", "forking")
        if forks is None:
            forks = server not in (None, "", "none", "unknown", "uvicorn", "runserver", "flask")
        resolved = _get(row, "resolved_file", "app_file", "file")
        app = _get(row, "app", "app_module", "entry")
        if isinstance(app, dict):
            resolved = resolved or _get(app, "resolved_file", "file", "path")
            app = _get(app, "module", "name", default=str(app))
        linked = _get(row, "linked", "resolved")
        if not isinstance(linked, bool):
            linked = bool(resolved) or (isinstance(app, str) and bool(app) and source == "coverage"
                                        and not _get(row, "failed_step", "failure", "unresolved"))
        engines = _get(row, "engines", default=[]) or []
        out.append({"name": _get(row, "name", "process", default="?"), "server": server, "forks": bool(forks),
                    "app": app, "resolved_file": resolved, "linked": bool(linked),
                    "engines": len(engines) if isinstance(engines, list) else engines,
                    "failed_step": _get(row, "failed_step", "failure", "unresolved"),
                    "location": _get(row, "location", "source"),
                    "unattached": bool(row.get("unattached"))})
    return out, source


# -- comparison -------------------------------------------------------------------------------------

SERVER_KINDS = ("gunicorn", "uwsgi", "celery", "rq", "unicorn", "puma", "resque", "sidekiq", "solid_queue", "good_job")
_APP_FILE = re.compile(r"[\w./-]+\.(?:py|wsgi|ru|rb)\b")


def _truth_kind(text: str) -> str | None:
    words = re.findall(r"[a-z_]+", text.lower())
    return next((word for word in words if word in SERVER_KINDS), None)


def matched_links(entry: dict, found: list[dict]) -> int:
    """Forking processes of the ground truth that a linked process type of the run matches: for gunicorn and uWSGI
    the same app file (one of the files the truth's `app` names); for workers (whose "app" the truth may name by the
    tasks module and the run by the Celery app module) and where the run names no file (Ruby), the same server.
    Each linked row of the run counts once, so a run that links one process twice does not stand in for another."""
    rows = [p for p in found if p["forks"] and p["linked"] and not p["unattached"]]
    used: set[int] = set()
    matched = 0
    for process in entry.get("process", []):
        if not process.get("forks"):
            continue
        wanted = [f.lstrip("./") for f in _APP_FILE.findall(str(process.get("app", "")))]  # `wsgi.py -> app/server.py`
        kind = _truth_kind(str(process.get("server", "")))
        for _ in range(int(process.get("count", 1))):
            for index, row in enumerate(rows):
                if index in used:
                    continue
                have = (row.get("resolved_file") or "").lstrip("./")
                by_file = have and any(have == w or have.endswith("/" + w) or w.endswith("/" + have) for w in wanted)
                by_kind = ((not have or kind not in ("gunicorn", "uwsgi") or not wanted) and kind
                           and str(row.get("server") or "").lower().startswith(kind))
                if by_file or by_kind:
                    used.add(index)
                    matched += 1
                    break
    return matched

def _anchors(item: dict) -> list[tuple[str, int | None]]:
    out = []
    if item.get("path"):
        out.append((item["path"], item.get("line")))
    for anchor in item.get("anchors", []):
        path, _, line = anchor.rpartition(":")
        if path and line.isdigit():
            out.append((path, int(line)))
        else:
            out.append((anchor, None))
    return out


def _matches(finding: dict, item: dict) -> bool:
    if finding["code"] != item["code"]:
        return False
    anchors = _anchors(item)
    if not anchors:  # any location (budget findings of a repository)
        return True
    for path, line in anchors:
        if finding["path"] == path and (line is None or abs(finding["line"] - line) <= LINE_TOLERANCE):
            return True
    return False


def compare(entry: dict, diagnostics: list[dict]) -> dict:
    expected = entry.get("expected", [])
    acceptable = entry.get("acceptable", [])
    scored = set(FORK_RULES) | (set(BUDGET_RULES) if entry.get("budget_judged") else set())
    right, wrong, missed, unscored = [], [], [], []
    hit = [False] * len(expected)
    for d in diagnostics:
        matched = False
        for i, item in enumerate(expected):
            if _matches(d, item):
                hit[i] = matched = True
        if not matched and any(_matches(d, item) for item in acceptable):
            matched = True
        if matched:
            right.append(d)
        elif d["code"] in scored:
            wrong.append(d)
        else:
            unscored.append(d)
    missed = [item for item, was_hit in zip(expected, hit) if not was_hit]
    return {"right": right, "wrong": wrong, "missed": missed, "unscored": unscored}


# -- main -------------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_exe = shutil.which("pgforklint") or str(ROOT / ".venv" / "bin" / "pgforklint")
    parser.add_argument("--pgforklint", default=default_exe, help="executable, or a checkout's src folder")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"), help="folder of bare mirrors (fetch)")
    parser.add_argument("--only", nargs="*", help="entry names (or owner/name) to run")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per repository (default 600)")
    parser.add_argument("--no-probe", action="store_true", help="never import the checkout to read its model")
    parser.add_argument("--output", type=Path, default=CACHE / "summary.json")
    parser.add_argument("--sources", action="store_true",
                        help="print the fetch source of every repository of the corpus (marking missing mirrors) and exit")
    args = parser.parse_args()

    entries = load_corpus(args.corpus)
    if args.sources:
        for repo in sorted({e["repo"] for e in entries}, key=str.lower):
            missing = "" if mirror_dir(args.mirrors, repo) else "   # no mirror yet"
            print(f"github:{repo}{missing}")
        return 0
    if args.only:
        entries = [e for e in entries if e["name"] in args.only or e["repo"] in args.only]
    argv, env, probe_python = command_for(args.pgforklint)
    results, missing = [], []
    for entry in entries:
        mirror = mirror_dir(args.mirrors, entry["repo"])
        if mirror is None:
            missing.append(entry)
            print(f"== {entry['name']}: no mirror of {entry['repo']} under {args.mirrors}; "
                  f"bring it with fetch(\"github:{entry['repo']}\")  [skipped]")
            continue
        try:
            tree = export(mirror, entry)
        except RuntimeError as exc:
            print(f"== {entry['name']}: {exc}  [skipped]")
            missing.append(entry)
            continue
        run = run_pgforklint(argv, env, tree, args.timeout)
        probe = None
        if run["coverage"] is None and probe_python and not args.no_probe and not run["timeout"]:
            probe = run_probe(probe_python, env, tree, args.timeout)
        found, source = launches(run["coverage"], probe)
        diags = run["diagnostics"] or []
        verdict = compare(entry, diags)
        forking = [p for p in found if p["forks"] and not p["unattached"]]  # launches, not configs no launch names
        truth_forking = sum(int(p.get("count", 1)) for p in entry.get("process", []) if p.get("forks"))
        result = {
            "name": entry["name"], "repo": entry["repo"], "commit": entry["commit"], "language": entry["language"],
            "seconds": run["seconds"], "exit": run["exit"], "timeout": run["timeout"], "stderr": run["stderr"],
            "json": run["diagnostics"] is not None, "launch_source": source,
            "process_types": found, "probe_error": (probe or {}).get("error"),
            "truth_forking": truth_forking, "forking": len(forking),
            "linked": sum(1 for p in forking if p["linked"]),
            "linked_capped": min(truth_forking, sum(1 for p in forking if p["linked"])),
            "linked_matched": matched_links(entry, found),
            "diagnostics": diags,
            "right": [_short(d) for d in verdict["right"]], "wrong": [_short(d) for d in verdict["wrong"]],
            "missed": [f"{m['code']} {m.get('path', '')}:{m.get('line', '')}" for m in verdict["missed"]],
            "unscored": [_short(d) for d in verdict["unscored"]],
            "expected_clean": not entry.get("expected"),
        }
        results.append(result)
        _print_repo(result)
    summary = _summarise(results, missing)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"pgforklint": args.pgforklint, "summary": summary, "repos": results}, indent=2))
    (args.output.parent / "table.md").write_text(_markdown_table(entries, results))
    _print_summary(summary, results)
    print(f"\nfull results: {args.output}")
    return 0


def _markdown_table(entries: list[dict], results: list[dict]) -> str:
    """The corpus table of docs/real-world.md with this run's results (scripts/.cache/table.md)."""
    by_name = {r["name"]: r for r in results}
    rows = ["| entry | repository | commit | stack | ground truth | linked / forking | findings (right, wrong, missed) |",
            "|---|---|---|---|---|---|---|"]
    for e in entries:
        r = by_name.get(e["name"])
        truth = ", ".join(f"{x['code']} `{x.get('path', '')}:{x.get('line', '')}`" for x in e.get("expected", [])) or "clean"
        if r is None:
            result, linked = "not run", "-"
        else:
            linked = f"{r['linked_capped']} / {r['truth_forking']}"
            result = f"{len(r['right'])}, {len(r['wrong'])}, {len(r['missed'])}"
            if r["wrong"]:
                result += " (wrong: " + "; ".join(f"`{w}`" for w in r["wrong"][:4]) + ")"
        rows.append(f"| {e['name']} | {e['repo']} | {e['commit'][:10]} | {e.get('stack', '')} | {truth} | {linked} | {result} |")
    return "\n".join(rows) + "\n"


def _short(d: dict) -> str:
    return f"{d['code']} {d['path']}:{d['line']}"


def _print_repo(r: dict) -> None:
    status = "TIMEOUT" if r["timeout"] else f"exit {r['exit']}"
    print(f"== {r['name']} ({r['repo']}@{r['commit'][:10]})  {r['seconds']} s, {status}")
    if not r["json"]:
        print("   no JSON output:", *r["stderr"])
    for p in r["process_types"]:
        mark = "linked" if p["linked"] else ("NOT linked" if p["forks"] else "-")
        print(f"   process {p['name']}: {p['server'] or 'no server'}{' (forks)' if p['forks'] else ''}, {mark}"
              f"{' -> ' + str(p['resolved_file']) if p['resolved_file'] else ''}"
              f"{' [' + str(p['failed_step']) + ']' if p['failed_step'] else ''}")
    if not r["process_types"]:
        print(f"   no process types ({r['launch_source']})" + (f"; probe: {r['probe_error']}" if r["probe_error"] else ""))
    for label in ("right", "wrong", "missed", "unscored"):
        for item in r[label]:
            print(f"   {label:8} {item}")


def _summarise(results: list[dict], missing: list[dict]) -> dict:
    per_rule: dict[str, dict[str, int]] = {}
    for r in results:
        for label in ("right", "wrong", "missed"):
            for item in r[label]:
                code = item.split()[0]
                per_rule.setdefault(code, {"right": 0, "wrong": 0, "missed": 0})[label] += 1
    silent_unlinked = [r["name"] for r in results
                       if r["json"] and not [d for d in r["diagnostics"] if d["code"] not in ("PGF101",)]
                       and r["linked"] == 0]
    by_language: dict[str, dict] = {}
    for r in results:
        lang = by_language.setdefault(r["language"], {"repositories": 0, "truth_forking": 0, "linked": 0,
                                                      "matched": 0, "right": 0, "wrong": 0, "missed": 0})
        lang["repositories"] += 1
        lang["truth_forking"] += r["truth_forking"]
        lang["linked"] += r["linked_capped"]
        lang["matched"] += r["linked_matched"]
        for label in ("right", "wrong", "missed"):
            lang[label] += len(r[label])
    return {
        "by_language": by_language,
        "repositories": len(results), "skipped": [e["name"] for e in missing],
        "seconds": round(sum(r["seconds"] for r in results), 1),
        "truth_forking_launches": sum(r["truth_forking"] for r in results),
        "tool_forking_launches": sum(r["forking"] for r in results),
        "tool_linked_launches": sum(r["linked"] for r in results),
        "linked_of_truth": sum(r["linked_capped"] for r in results),
        "linked_matched": sum(r["linked_matched"] for r in results),
        # Ground-truth forking processes no linked process type matches, in runs that give no PGF102 at all.
        "unlinked_without_pgf102": [f"{r['name']} ({r['truth_forking'] - r['linked_matched']})" for r in results
                                    if r["linked_matched"] < r["truth_forking"]
                                    and not any(d.get("code") == "PGF102" for d in r["diagnostics"])],
        "per_rule": dict(sorted(per_rule.items())),
        "silent_and_unlinked": silent_unlinked,
        "timeouts": [r["name"] for r in results if r["timeout"]],
    }


def _print_summary(s: dict, results: list[dict]) -> None:
    print("\n| repository | s | forking (truth) | forking (tool) | linked (matched) | right | wrong | missed |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['name']} | {r['seconds']} | {r['truth_forking']} | {r['forking']} | {r['linked']} ({r['linked_matched']}) | "
              f"{len(r['right'])} | {len(r['wrong'])} | {len(r['missed'])} |")
    print(f"\nrepositories run: {s['repositories']}; skipped (no mirror): {len(s['skipped'])}; total {s['seconds']} s")
    print(f"forking launches: {s['truth_forking_launches']} in the ground truth; pgforklint saw "
          f"{s['tool_forking_launches']} forking process types and linked {s['tool_linked_launches']} to app code "
          f"(per repository at most the ground truth's count: {s['linked_of_truth']} of {s['truth_forking_launches']};"
          f" matched process by process, by app file or server: {s['linked_matched']} of {s['truth_forking_launches']})")
    for name, lang in s["by_language"].items():
        print(f"  {name}: {lang['repositories']} repositories, linked {lang['linked']} of {lang['truth_forking']} "
              f"forking launches ({lang['matched']} matched); findings right {lang['right']}, wrong {lang['wrong']}, "
              f"missed {lang['missed']}")
    print(f"repositories with forking processes not linked and no PGF102: {len(s['unlinked_without_pgf102'])}"
          + (f" ({', '.join(s['unlinked_without_pgf102'])})" if s["unlinked_without_pgf102"] else ""))
    print("per rule (right / wrong / missed):")
    for code, c in s["per_rule"].items():
        print(f"  {code}: {c['right']} / {c['wrong']} / {c['missed']}")
    print(f"runs with no finding (other than PGF101) that linked nothing: {len(s['silent_and_unlinked'])}"
          + (f" ({', '.join(s['silent_and_unlinked'])})" if s["silent_and_unlinked"] else ""))
    if s["timeouts"]:
        print("timeouts:", ", ".join(s["timeouts"]))


if __name__ == "__main__":
    sys.exit(main())
