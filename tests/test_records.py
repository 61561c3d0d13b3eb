"""`record` behaves as `dataclass`: same constructor, equality, hashing, repr, frozenness."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest

from pgforklint.records import record

OPTIONS = [{}, {"eq": False}, {"frozen": True}, {"frozen": True, "eq": False}, {"repr": False}, {"order": True},
           {"frozen": True, "order": True}]


def _pair(options: dict):
    def body(decorator):
        @decorator(**options)
        class Point:
            x: int
            y: list = field(default_factory=list)
            label: str = field(default="", compare=False)
        return Point

    return body(dataclass), body(record)


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_record_behaves_as_dataclass(options: dict) -> None:
    reference, made = _pair(options)
    for cls in (reference, made):
        assert [f.name for f in dataclasses.fields(cls)] == ["x", "y", "label"]
    a, b, c = made(1, [2], "a"), made(1, [2], "b"), made(2)
    ra, rb, rc = reference(1, [2], "a"), reference(1, [2], "b"), reference(2)
    assert (a == b, a == c, a != b) == (ra == rb, ra == rc, ra != rb)
    assert (a == ra) is False  # another class: never equal
    hashable = reference.__hash__ is not None
    assert (made.__hash__ is not None) == hashable
    if hashable and options.get("frozen"):
        made_b = made(1, (2,), "z")
        ref_b = reference(1, (2,), "z")
        assert (hash(made(1, (2,))) == hash(made_b)) == (hash(reference(1, (2,))) == hash(ref_b))
    assert repr(a).replace("made", "") == repr(ra).replace("reference", "") or not options.get("repr", True)
    assert (made.__repr__ is object.__repr__) == (reference.__repr__ is object.__repr__)
    if options.get("frozen"):
        with pytest.raises(dataclasses.FrozenInstanceError):
            a.x = 5
    else:
        a.x = 5
        assert a.x == 5
    assert (dataclasses.replace(c, x=3) == made(3)) == (dataclasses.replace(rc, x=3) == reference(3))
    assert dataclasses.asdict(c) == dataclasses.asdict(rc)


def test_repr_of_a_cycle_ends() -> None:
    @record
    class Node:
        child: object = None

    node = Node()
    node.child = node
    assert repr(node) == "test_repr_of_a_cycle_ends.<locals>.Node(child=...)"


def test_methods_written_in_the_class_are_kept() -> None:
    @record(frozen=True)
    class Named:
        name: str

        def __eq__(self, other):
            return isinstance(other, Named) and self.name.lower() == other.name.lower()

    @dataclass(frozen=True)
    class Reference:
        name: str

        def __eq__(self, other):
            return isinstance(other, Reference) and self.name.lower() == other.name.lower()

    assert Named("A") == Named("a") and Reference("A") == Reference("a")
    # dataclass's rule: the implicit __hash__ = None of a body with __eq__ does not count as written
    assert Reference.__hash__ is not None and Named.__hash__ is not None
    assert hash(Named("A")) == hash(Named("A"))
