"""`record`: `dataclasses.dataclass` with the same meaning, cheaper to define.

`dataclass` compiles new methods for every class it decorates (`__init__`, `__repr__`, `__eq__`, and for
frozen classes `__hash__`, `__setattr__`, `__delattr__`), each through `exec`: about 0.3 ms a class, a
quarter of a small project's whole run over pgforklint's ~80 classes. `record` lets `dataclass` compile
only `__init__` (and the frozen guards) and gives `__repr__`, `__eq__` and `__hash__` from shared
functions that read the class's field names. What they do is what dataclass's would do: equality of
the compared fields between instances of the same class, a hash of them for frozen classes, none
(unhashable) for other classes with equality, and the same repr. `order=True` goes to `dataclass`.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields

_repr_running: set[int] = set()


def record(cls=None, /, *, repr: bool = True, eq: bool = True, frozen: bool = False, order: bool = False, **options):
    def wrap(cls):
        if order:
            return dataclass(cls, repr=repr, eq=eq, frozen=frozen, order=order, **options)
        own = cls.__dict__
        made = dataclass(cls, repr=False, eq=False, frozen=frozen, **options)
        every = fields(made)
        made.__record_shown__ = tuple(f.name for f in every if f.repr)
        made.__record_compared__ = tuple(f.name for f in every if f.compare)
        if repr and "__repr__" not in own:
            made.__repr__ = _repr
        if eq:
            if "__eq__" not in own:
                made.__eq__ = _eq
            # dataclass's rule: a __hash__ the class body wrote is kept (Python's implicit None for a body
            # that defines __eq__ does not count)
            written = own.get("__hash__", MISSING)
            if written is MISSING or (written is None and "__eq__" in own):
                made.__hash__ = _hash if frozen else None
        return made

    return wrap if cls is None else wrap(cls)


def _repr(self) -> str:
    key = id(self)
    if key in _repr_running:
        return "..."
    _repr_running.add(key)
    try:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__record_shown__)
    finally:
        _repr_running.discard(key)
    return f"{type(self).__qualname__}({shown})"


def _eq(self, other) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented
    names = self.__record_compared__
    return tuple(getattr(self, name) for name in names) == tuple(getattr(other, name) for name in names)


def _hash(self) -> int:
    return hash(tuple(getattr(self, name) for name in self.__record_compared__))


__all__ = ["record"]
