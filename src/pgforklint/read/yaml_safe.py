"""The YAML reader: PyYAML's safe loader with line numbers, an alias cap and an expansion cap.

Imported only when a YAML file is read (through `structured.load_yaml_documents`).
"""

from __future__ import annotations

from typing import Any

import yaml

from pgforklint.errors import ReadError
from pgforklint.read.structured import (
    MAX_YAML_ALIASES,
    ComposeReset,
    MAX_YAML_EXPANDED_NODES,
    LineDict,
    LineList,
    _short,
    _template_hint,
)


class _LineLoader(yaml.SafeLoader):
    def __init__(self, stream):
        super().__init__(stream)
        self._alias_count = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._alias_count += 1
            if self._alias_count > MAX_YAML_ALIASES:
                event = self.peek_event()
                raise yaml.YAMLError(
                    f"more than {MAX_YAML_ALIASES} YAML aliases (line {event.start_mark.line + 1}); refusing to expand"
                )
        return super().compose_node(parent, index)

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, OverflowError, AttributeError) as exc:
            # a scalar its tag cannot hold (`!!int many`, `!!timestamp 2020-13-01`, `!!timestamp 17`): say where
            raise yaml.constructor.ConstructorError(
                None, None, f"invalid {node.tag.rsplit(':', 1)[-1]} value {_short(repr(getattr(node, 'value', '')), 40)}: "
                f"{_short(exc)}", node.start_mark,
            ) from None

    def get_node(self):
        node = super().get_node()
        if node is not None and self._alias_count:
            size = expanded_size(node, MAX_YAML_EXPANDED_NODES)
            if size > MAX_YAML_EXPANDED_NODES:
                raise yaml.YAMLError(
                    f"aliases expand to more than {MAX_YAML_EXPANDED_NODES} nodes (line {node.start_mark.line + 1}); "
                    "refusing to expand (billion laughs)"
                )
        return node


def expanded_size(root: yaml.Node, limit: int) -> int:
    """How many nodes the document has once every alias is expanded (capped just above `limit`).

    Iterative (no recursion on deep documents); a node that contains itself counts once (the
    constructor refuses such recursive nodes).
    """
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            visiting.discard(key)
            total = 1
            for child in children:
                total += sizes.get(id(child), 0)
                if total > limit:
                    break
            sizes[key] = min(total, limit + 1)
            continue
        if key in sizes or key in visiting:
            continue
        visiting.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes and id(child) not in visiting)
    return sizes.get(id(root), 1)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> LineDict:
    # Keys written in this mapping: a repeat among them is an error (YAML 1.2, Compose and kubectl refuse
    # it); keys merged in with `<<: *anchor` may be overridden, that is what merging is for.
    explicit = {id(key_node) for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge"}
    loader.flatten_mapping(node)
    result = LineDict()
    result.lines = {}
    result.line = node.start_mark.line + 1
    written: dict[Any, int] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, "found unhashable key", key_node.start_mark
            ) from None
        line = key_node.start_mark.line + 1
        if id(key_node) in explicit:
            if key in written:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"found duplicate key {key!r} (first at line {written[key]})", key_node.start_mark,
                )
            written[key] = line
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = line
    return result


def _construct_sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _construct_untagged(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return _construct_mapping(loader, node)
    if isinstance(node, yaml.SequenceNode):
        return _construct_sequence(loader, node)
    return loader.construct_scalar(node)


def _construct_compose_reset(loader: yaml.SafeLoader, node: yaml.Node) -> ComposeReset:
    reset = ComposeReset()
    reset.line = node.start_mark.line + 1
    return reset


def _construct_compose_override(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    value = _construct_untagged(loader, node)
    if isinstance(value, (LineDict, LineList)):
        value.compose_override = True
    return value


# Compose's merge tags (docs.docker.com/reference/compose-file/merge/#reset-value): plain data, no code.
_LineLoader.add_constructor("!reset", _construct_compose_reset)
_LineLoader.add_constructor("!override", _construct_compose_override)


def load_documents(text: str) -> list[Any]:
    """All documents of a YAML stream, through the safe loader only."""
    try:
        return [doc for doc in yaml.load_all(text, Loader=_LineLoader) if doc is not None]  # noqa: S506 - safe subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        column = mark.column + 1 if mark else 1
        reason = f"invalid YAML: {exc.problem or exc.context or 'syntax error'}"
        raise ReadError(reason + _template_hint(text), line=line, column=column) from None
    except yaml.YAMLError as exc:
        raise ReadError(f"invalid YAML: {exc}" + _template_hint(text)) from None
    except (RecursionError, MemoryError):
        raise ReadError("YAML too deeply nested to parse") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a scalar its tag cannot hold: `!!int x`, `!!timestamp 2020-13-01`
        raise ReadError(f"invalid YAML value: {_short(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - PyYAML's own failures on odd input (`!!timestamp 17`: AttributeError)
        raise ReadError(f"invalid YAML: the parser failed ({type(exc).__name__}: {_short(exc)})") from None
