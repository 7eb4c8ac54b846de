"""Records: plain data classes for the core, without the cost of ``@dataclass``.

``@dataclass`` builds each class's methods with ``exec`` (~0.7 ms a class) and imports
inspect; the ~15 data classes on ``create``'s path cost ~10 ms that way. A :class:`Record`
subclass declares its fields as annotated class attributes, exactly as a dataclass does
(``field(default_factory=...)`` for mutable defaults), and gets the same ``__init__``
(positional or keyword arguments, in declaration order), ``__eq__`` and ``__repr__``. Type
checkers read it as a dataclass (``dataclass_transform``, PEP 681).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, ClassVar, TypeVar, dataclass_transform

    _T = TypeVar("_T")
else:
    def dataclass_transform(**_options):
        return lambda cls: cls

_NO_DEFAULT = object()


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


def field(*, default_factory: Callable[[], _T]) -> _T:
    """A field whose default is made afresh for each record (``dataclasses.field``)."""
    return _Factory(default_factory)  # type: ignore[return-value]


@dataclass_transform(field_specifiers=(field,))
class Record:
    """Base of the core's data classes (see the module docstring)."""

    _record_fields: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls) -> None:
        names = list(cls._record_fields)
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():
            if name not in names and not str(annotation).startswith("ClassVar"):
                names.append(name)
        cls._record_fields = tuple(names)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        if len(args) > len(cls._record_fields):
            raise TypeError(f"{cls.__name__}() takes {len(cls._record_fields)} arguments")
        for name, value in zip(cls._record_fields, args, strict=False):
            if name in kwargs:
                raise TypeError(f"{cls.__name__}() got two values for {name!r}")
            kwargs[name] = value
        for name in cls._record_fields:
            if name in kwargs:
                value = kwargs.pop(name)
            else:
                value = getattr(cls, name, _NO_DEFAULT)
                if value is _NO_DEFAULT:
                    raise TypeError(f"{cls.__name__}() missing argument {name!r}")
                if isinstance(value, _Factory):
                    value = value.make()
            object.__setattr__(self, name, value)
        if kwargs:
            raise TypeError(f"{cls.__name__}() got unexpected arguments: {', '.join(kwargs)}")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(
            getattr(self, n) == getattr(other, n) for n in self._record_fields)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._record_fields)
        return f"{type(self).__name__}({shown})"


class FrozenRecord(Record):
    """A :class:`Record` that cannot change after ``__init__`` and hashes by value, as
    ``@dataclass(frozen=True)`` (assigning a field raises AttributeError)."""

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def __hash__(self) -> int:  # type: ignore[override]  # Record sets __hash__ = None
        return hash(tuple(getattr(self, n) for n in self._record_fields))
