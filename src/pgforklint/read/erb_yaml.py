"""YAML with ERB (`config/database.yml`, `config/sidekiq.yml`, `config/queue.yml`), read without Ruby.

tree-sitter-embedded-template splits the file into text and `<% ... %>` tags. Each `<%= ... %>` is evaluated
by the Ruby value evaluator (`pgforklint.read.ruby.evaluate`) and replaced by its value, or by a placeholder
when it cannot be known; control tags (`<% if ... %>`, `<% end %>`, `<%- ... %>`, comments) are dropped, so
both branches of an `if` stay in the text (a sound over-approximation for finding `pool:`). The result goes
through the safe YAML loader (`read/yaml_safe.py`): anchors and `<<:` merges work as they do in Rails.

The grammar parses `<%-` as an output tag (EJS); in ERB trim mode it is a control tag: only `<%=` outputs.
"""

from __future__ import annotations

from pgforklint.errors import ReadError
from pgforklint.records import record
from pgforklint.read.text import read_text

UNKNOWN_PLACEHOLDER = "__pgforklint_unknown__"


@record(eq=False)
class ErbYaml:
    documents: list
    values: dict  # line -> RValue of the `<%= %>` tag on that line (the last one when several)


def render(text: str, env: dict[str, str] | None = None) -> tuple[str, dict]:
    from pgforklint.read.ruby import Scope, evaluate, parse_ruby, tree_sitter_parser

    if "<%" not in text:
        return text, {}
    data = text.encode("utf-8", errors="surrogateescape")
    tree = tree_sitter_parser("embedded_template").parse(data)
    scope = Scope(env=dict(env or {}))
    out: list[str] = []
    values: dict = {}
    for node in tree.root_node.children:
        chunk = node.text.decode("utf-8", errors="surrogateescape")
        if node.type == "content":
            out.append(chunk)
            continue
        newlines = "\n" * chunk.count("\n")  # keep the line numbers of what follows
        opener = node.children[0].type if node.children else ""
        if node.type == "output_directive" and opener == "<%=":
            code = next((c for c in node.children if c.type == "code"), None)
            code_text = code.text.decode("utf-8", errors="surrogateescape") if code is not None else ""
            value = None
            try:
                program = parse_ruby(code_text).root
                statements = [c for c in program.named_children if c.type != "comment"]
                if len(statements) == 1:
                    value = evaluate(statements[-1], scope)
            except ReadError:
                value = None
            line = node.start_point[0] + 1
            if value is not None:
                values[line] = value
            if value is not None and value.known and not isinstance(value.value, bool):
                out.append(str(value.value) + newlines)
            else:
                out.append(UNKNOWN_PLACEHOLDER + newlines)
            continue
        out.append(newlines)
    return "".join(out), values


def load(text: str, env: dict[str, str] | None = None) -> ErbYaml:
    from pgforklint.read.structured import load_yaml_documents

    rendered, values = render(text, env)
    return ErbYaml(load_yaml_documents(rendered), values)


def read_erb_yaml(path) -> ErbYaml:
    return load(read_text(path))
