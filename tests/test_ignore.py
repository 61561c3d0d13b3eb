"""The gitignore matcher (`pgforklint.ignore`) rule by rule, and discovery checked against real git.

The differential tests build throwaway repositories with nothing committed and compare the Python files
`discover()` lists with what `git ls-files --others --exclude-standard` considers not ignored.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgforklint.discover import FileKind, IgnoreRules, discover
from pgforklint.ignore import PatternFile, compile_line


def verdict(patterns: list[str], path: str, is_dir: bool = False) -> bool | None:
    return PatternFile(patterns).match_path(path, is_dir)


# -- the rules, one by one ------------------------------------------------------------------------

def test_blank_lines_and_comments_are_not_patterns():
    assert not PatternFile(["", "   ", "# *.py", "#"])
    assert verdict(["#x.py"], "#x.py") is None
    assert verdict(["\\#x.py"], "#x.py") is True
    assert verdict(["x.py", "# x.py"], "x.py") is True


def test_trailing_spaces_trimmed_unless_escaped():
    assert verdict(["a.py   "], "a.py") is True
    assert verdict(["a.py\\ "], "a.py ") is True
    assert verdict(["a.py\\ "], "a.py") is None
    assert verdict(["a.py\\  "], "a.py ") is True  # the escaped space stays, the one after it goes
    assert verdict(["a.py\t"], "a.py") is None  # only spaces are trimmed
    assert verdict([" a.py"], "a.py") is None  # leading spaces are part of the pattern
    assert verdict(["a.py\r"], "a.py") is True  # a CRLF file


def test_backslash_escapes():
    assert verdict(["\\!x.py"], "!x.py") is True
    assert verdict(["\\*.py"], "*.py") is True
    assert verdict(["\\*.py"], "a.py") is None
    assert verdict(["\\[a].py"], "[a].py") is True
    assert verdict(["\\[a].py"], "a.py") is None
    assert verdict(["a\\?"], "a?") is True
    assert compile_line("a.py\\") is None  # a trailing lone backslash: matches nothing (as in git)


def test_negation_last_matching_line_wins():
    assert verdict(["*.py", "!keep.py"], "keep.py") is False
    assert verdict(["*.py", "!keep.py"], "drop.py") is True
    assert verdict(["!keep.py", "*.py"], "keep.py") is True
    assert verdict(["!keep.py"], "other.py") is None
    assert compile_line("!") is None


def test_trailing_slash_matches_folders_only():
    assert verdict(["build/"], "build", is_dir=True) is True
    assert verdict(["build/"], "build", is_dir=False) is None
    assert verdict(["build/"], "src/build", is_dir=True) is True  # no other slash: any depth
    assert verdict(["/build/"], "src/build", is_dir=True) is None
    assert verdict(["src/build/"], "src/build", is_dir=True) is True
    assert verdict(["build"], "build", is_dir=False) is True


def test_slash_at_start_or_middle_anchors():
    assert verdict(["/a.py"], "a.py") is True
    assert verdict(["/a.py"], "x/a.py") is None
    assert verdict(["x/a.py"], "x/a.py") is True
    assert verdict(["x/a.py"], "y/x/a.py") is None
    assert verdict(["a.py"], "y/x/a.py") is True


def test_star_and_question_mark_never_match_a_slash():
    assert verdict(["x/*.py"], "x/a.py") is True
    assert verdict(["x/*.py"], "x/y/a.py") is None
    assert verdict(["*.py"], "x/y/a.py") is True  # a name pattern: matched against the name
    assert verdict(["?.py"], "a.py") is True
    assert verdict(["?.py"], "ab.py") is None
    assert verdict(["a?b/c"], "a/b/c") is None
    assert verdict(["a*b/c"], "a/b/c") is None


def test_character_classes():
    assert verdict(["[ab].py"], "a.py") is True
    assert verdict(["[ab].py"], "c.py") is None
    assert verdict(["[!a].py"], "a.py") is None
    assert verdict(["[!a].py"], "b.py") is True
    assert verdict(["[^a].py"], "b.py") is True
    assert verdict(["[a-c].py"], "b.py") is True
    assert verdict(["[a-c].py"], "d.py") is None
    assert verdict(["[]a].py"], "].py") is True  # `]` first is a member
    assert verdict(["[a-].py"], "-.py") is True  # `-` last is a member
    assert verdict(["[[:digit:]].py"], "7.py") is True
    assert verdict(["[[:digit:]].py"], "x.py") is None
    assert verdict(["[[:upper:][:digit:]]x"], "Qx") is True
    assert verdict(["[\\]].py"], "].py") is True
    assert verdict(["x[/]y"], "x/y") is None  # never a slash
    assert verdict(["x[!a]y"], "x/y") is None
    # git's reading: `z` is a member before the (empty) range z-a
    assert verdict(["[z-a].py"], "z.py") is True
    assert verdict(["[z-a].py"], "m.py") is None
    # what git's wildmatch gives up on matches nothing
    assert compile_line("[a.py") is None
    assert compile_line("[[:nope:]].py") is None


def test_double_star():
    for path in ("gen", "a/gen", "a/b/gen"):
        assert verdict(["**/gen"], path) is True
    assert verdict(["**/a/gen"], "a/gen") is True
    assert verdict(["**/a/gen"], "x/y/a/gen") is True
    assert verdict(["foo/**"], "foo/a") is True
    assert verdict(["foo/**"], "foo/a/b") is True
    assert verdict(["foo/**"], "foo", is_dir=True) is None  # everything inside, not the folder itself
    for path in ("a/b", "a/x/b", "a/x/y/b"):
        assert verdict(["a/**/b"], path) is True
    assert verdict(["a/**/b"], "a/xb") is None
    assert verdict(["**"], "any/thing") is True
    assert verdict(["/**"], "any/thing") is True
    # other runs of stars are a single star
    assert verdict(["a**b"], "axyb") is True
    assert verdict(["a/**b"], "a/xb") is True
    assert verdict(["a/**b"], "a/x/b") is None
    assert verdict(["a/*x**/b"], "a/yx/z/b") is None
    assert verdict(["***/b"], "x/y/b") is True
    # git compares the literal text before the first wildcard on its own, so a `**` right after it
    # counts as bounded
    assert verdict(["a/b**"], "a/bc/d") is True
    assert verdict(["a/x**/b"], "a/xy/z/b") is True


def test_combined_alternations_agree_with_single_patterns():
    lines = ["*.pyc", "build/", "/dist", "docs/_build/", "**/node_modules/", "x/**/y.py", "[ab]?.py", "lit.py"]
    paths = ["a.pyc", "x/a.pyc", "build", "x/build", "dist", "x/dist", "docs/_build", "a/node_modules",
             "x/y.py", "x/1/2/y.py", "ab.py", "ax.py", "c1.py", "lit.py", "q/lit.py", "other.py"]
    combined = PatternFile(lines)
    for path in paths:
        for is_dir in (False, True):
            one_by_one = [PatternFile([line]).match_path(path, is_dir) for line in lines]
            assert combined.match_path(path, is_dir) is (True if any(one_by_one) else None), (path, is_dir)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="ab/*?[]!^-:\\ #\r\t.é", max_size=12), max_size=4),
       st.text(alphabet="ab/.*?[]!-: é", min_size=1, max_size=10))
def test_any_line_compiles_and_matches_without_error(lines, path):
    patterns = PatternFile(lines)
    path = path.strip("/") or "a"
    for is_dir in (False, True):
        assert patterns.match_path(path, is_dir) in (True, False, None)


def test_excludes_a_file_below_an_excluded_folder():
    assert PatternFile(["migrations/"]).excludes("app/migrations/0001.py")
    assert PatternFile(["migrations"]).excludes("app/migrations/0001.py")
    assert PatternFile(["tests/**"]).excludes("tests/a/b.py")
    assert PatternFile(["*.py", "!keep.py"]).excludes("a/drop.py")
    assert not PatternFile(["*.py", "!keep.py"]).excludes("a/keep.py")
    assert PatternFile(["build/", "!build/keep.py"]).excludes("build/keep.py")  # no re-include below it
    assert not PatternFile(["/scripts/*.py"]).excludes("scripts/sub/a.py")
    assert not PatternFile(["migrations/"]).excludes("app/migrations")  # a file of that name


def test_ignore_rules_public_verdicts(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / ".gitignore").write_text("*.py\n!keep.py\n", encoding="utf-8")
    (tmp_path / "sub" / ".gitignore").write_text("!again.py\n", encoding="utf-8")
    rules = IgnoreRules(tmp_path, [(tmp_path, ["generated/", "/top.yaml"])], respect_gitignore=True)
    rules.enter_directory("", tmp_path)
    rules.enter_directory("sub", tmp_path / "sub")
    assert rules.ignored("drop.py", False) and rules.ignored("sub/drop.py", False)
    assert not rules.ignored("keep.py", False)
    assert not rules.ignored("sub/again.py", False) and rules.ignored("again.py", False)
    assert rules.ignored("x/generated", True) and not rules.ignored("x/generated", False)
    assert rules.ignored("top.yaml", False) and not rules.ignored("x/top.yaml", False)


def test_comment_only_pattern_files_are_skipped(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, env=_git_env(tmp_path))
    (tmp_path / ".git" / "info").mkdir(exist_ok=True)
    (tmp_path / ".git" / "info" / "exclude").write_text("# nothing here\n\n", encoding="utf-8")
    (tmp_path / ".gitignore").write_text("# just a comment\n", encoding="utf-8")
    rules = IgnoreRules(tmp_path, [], respect_gitignore=True)
    assert rules.gitignores == []


# -- discovery against git ------------------------------------------------------------------------

def _git_env(home: Path) -> dict[str, str]:
    """No global or system configuration (core.excludesFile, core.ignoreCase) can leak in."""
    return {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".no-config")}


def make_repo(top: Path, files: list[str], ignore_files: dict[str, str], info_exclude: str | None = None) -> None:
    """A repository at `top` with nothing committed. `ignore_files`: folder ("" for the top) -> text."""
    subprocess.run(["git", "init", "-q", str(top)], check=True, env=_git_env(top.parent))
    for rel in files:
        path = top / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    for folder, text in ignore_files.items():
        (top / folder).mkdir(parents=True, exist_ok=True)
        (top / folder / ".gitignore").write_bytes(text.encode("utf-8"))
    if info_exclude is not None:
        (top / ".git" / "info").mkdir(exist_ok=True)
        (top / ".git" / "info" / "exclude").write_bytes(info_exclude.encode("utf-8"))


def git_lists(folder: Path, home: Path) -> list[str]:
    """The untracked, not ignored Python files under `folder`, relative to it, as git sees them."""
    out = subprocess.run(["git", "ls-files", "--others", "--exclude-standard", "-z"], cwd=folder,
                         env=_git_env(home), check=True, capture_output=True).stdout
    names = [os.fsdecode(name) for name in out.split(b"\0") if name]
    return sorted(name for name in names if name.endswith(".py"))


def discover_lists(folder: Path) -> list[str]:
    # exclude=[]: none of pgforklint's own default excludes (build/, dist/ ...), only git's files
    return sorted(f.rel for f in discover(folder, exclude=[]).files if f.kind is FileKind.PYTHON)


TRICKY_CASES = {
    "negation": ({"": "*.py\n!keep.py\n"}, ["keep.py", "drop.py", "sub/keep.py", "sub/drop.py"]),
    "no re-include under an excluded folder": (
        {"": "build/\n!build/x.py\n", "sub": "!*.py\n"}, ["build/x.py", "x/build.py", "sub/build/y.py"]),
    "excluded folder, negated folder": ({"": "gen\n!gen/\n"}, ["gen/a.py", "x/gen/b.py"]),
    "anchored at the top": ({"": "/top.py\n"}, ["top.py", "sub/top.py"]),
    "anchored in the middle": ({"": "sub/*.py\n"}, ["sub/a.py", "sub/deeper/a.py", "other/sub/a.py"]),
    "leading double star": ({"": "**/gen/\n"}, ["gen/a.py", "a/gen/b.py", "a/b/gen/c.py", "gen.py"]),
    "trailing double star": ({"": "lib/**\n!lib/keep.py\n"}, ["lib/a.py", "lib/keep.py", "lib/x/keep.py"]),
    "middle double star": ({"": "a/**/z.py\n"}, ["a/z.py", "a/b/z.py", "a/b/c/z.py", "b/a/z.py"]),
    "unbounded stars": ({"": "a**b.py\nx/**y.py\n"}, ["ab.py", "aqqb.py", "x/y.py", "x/qy.py", "x/q/y.py"]),
    "literal prefix then stars": ({"": "a/b**\n!a/bc/\n"}, ["a/bc/d.py", "a/bx.py", "a/c.py"]),
    "classes": ({"": "[a-c]*.py\n[!x]?.py\n[]q].py\n[z-a].py\n"},
                ["a1.py", "d.py", "xy.py", "ab.py", "z.py", "q.py", "].py", "m.py"]),
    "named classes": ({"": "[[:digit:]]*.py\n[[:upper:]].py\n[[:bogus:]].py\n"}, ["1a.py", "a1.py", "Q.py", "b.py"]),
    "unterminated class": ({"": "[a.py\n"}, ["[a.py", "a.py"]),
    "escapes": ({"": "\\#hash.py\n\\!bang.py\n#comment.py\n\\*.py\n"},
                ["#hash.py", "!bang.py", "#comment.py", "*.py", "star.py"]),
    "trailing spaces": ({"": "d\\ \ne  \n"}, ["d /a.py", "d/a.py", "e/a.py", "e /a.py"]),
    "crlf": ({"": "crlf.py\r\nother/\r\n"}, ["crlf.py", "other/a.py", "keep.py"]),
    "deeper files override": ({"": "*.py\n", "sub": "!*.py\n", "sub/deeper": "x.py\n"},
                              ["x.py", "sub/x.py", "sub/deeper/x.py", "sub/deeper/y.py"]),
    "nested anchors are relative to their file": ({"sub": "/a.py\ndoc/*.py\n**/z.py\n"},
                                                 ["a.py", "sub/a.py", "sub/x/a.py", "sub/doc/b.py",
                                                  "sub/x/doc/b.py", "z.py", "sub/z.py", "sub/q/z.py"]),
    "double star alone": ({"sub": "**\n!keep.py\n"}, ["a.py", "sub/a.py", "sub/keep.py", "sub/x/keep.py"]),
    "folder-only never matches a file": ({"": "a.py/\n"}, ["a.py", "b/a.py", "x/a.py/c.py"]),
    "empty and odd lines": ({"": "\n \n!\n/\n\\\n#\n"}, ["a.py"]),
}


@pytest.mark.parametrize("case", sorted(TRICKY_CASES))
def test_tricky_cases_agree_with_git(tmp_path, case):
    ignore_files, files = TRICKY_CASES[case]
    top = tmp_path / "repo"
    make_repo(top, files, ignore_files)
    listed = git_lists(top, tmp_path)
    assert discover_lists(top) == listed
    if list(ignore_files) == [""]:  # one pattern file: the path-at-a-time verdict agrees too
        patterns = PatternFile(ignore_files[""].split("\n"))
        assert sorted(rel for rel in files if not patterns.excludes(rel)) == listed


def test_info_exclude_and_subfolder_roots_agree_with_git(tmp_path):
    top = tmp_path / "repo"
    make_repo(top, ["secret.py", "svc/app.py", "svc/secret.py", "svc/scratch.py", "svc/tmp/x.py",
                    "svc/other/tmp/y.py", "svc/kept.py"],
              {"": "/svc/tmp/\nscratch.py\n!kept.py\n"}, info_exclude="secret.py\nkept.py\n")
    assert discover_lists(top) == git_lists(top, tmp_path)
    assert discover_lists(top / "svc") == git_lists(top / "svc", tmp_path) == ["app.py", "kept.py", "other/tmp/y.py"]


# Random repositories: a few folders, Python files, and pattern files with lines made of pieces that
# exercise every rule (and raw characters, for malformed patterns).
FOLDER_NAMES = st.sampled_from(["a", "b", "ab", "c", "a.py"])
FILE_NAMES = st.sampled_from(["a.py", "b.py", "ab.py", "c.py", "[a].py"])
PIECES = st.sampled_from(["a", "b", "c", "*", "?", "**", "[ab]", "[!a]", "[a-b]", ".py", "\\a", "[[:alpha:]]"])
# whole names and plain stars often, so that many examples do ignore something
SEGMENT = st.one_of(st.sampled_from(["a", "ab", "a.py", "b.py", "*", "**", "*.py", "a*"]),
                    st.lists(PIECES, min_size=1, max_size=3).map("".join))
SOMETIMES = st.sampled_from([False, False, False, True])
STRUCTURED_LINE = st.builds(
    lambda negated, leading, segments, trailing: ("!" if negated else "") + ("/" if leading else "")
    + "/".join(segments) + ("/" if trailing else ""),
    SOMETIMES, SOMETIMES, st.lists(SEGMENT, min_size=1, max_size=3), SOMETIMES)
RAW_LINE = st.text(alphabet="ab*?[]!/\\. #-", max_size=8)
PATTERN_TEXT = st.lists(st.one_of(STRUCTURED_LINE, STRUCTURED_LINE, RAW_LINE), min_size=1, max_size=5).map(
    lambda lines: "".join(line + "\n" for line in lines))


@st.composite
def repositories(draw):
    folders = draw(st.lists(st.lists(FOLDER_NAMES, max_size=3).map("/".join), min_size=1, max_size=6))
    placed = draw(st.lists(st.tuples(st.sampled_from(folders), FILE_NAMES), min_size=1, max_size=12))
    files = {f"{folder}/{name}" if folder else name for folder, name in placed}
    # `a.py` is also a folder name: a path cannot be both
    in_use = {folder for folder in folders if folder} | {rel.rpartition("/")[0] for rel in files}
    in_use = {"/".join(folder.split("/")[:depth]) for folder in in_use for depth in range(1, folder.count("/") + 2)}
    files = sorted(files - in_use)
    folders = [folder for folder in folders if not any(folder == f or folder.startswith(f + "/") for f in files)]
    with_ignore = draw(st.lists(st.sampled_from(["", *folders]), min_size=1, max_size=3, unique=True))
    ignore_files = {folder: draw(PATTERN_TEXT) for folder in with_ignore}
    info_exclude = draw(st.one_of(st.none(), PATTERN_TEXT))
    return files, ignore_files, info_exclude


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(repositories())
def test_random_repositories_agree_with_git(repository):
    files, ignore_files, info_exclude = repository
    with tempfile.TemporaryDirectory() as scratch:
        top = Path(scratch) / "repo"
        make_repo(top, files, ignore_files, info_exclude)
        assert discover_lists(top) == git_lists(top, Path(scratch))
