"""A safe CEL subset compiled to Python closures: the condition language of policy packs.

Why not ``eval``: rule text is data written by pack authors, so it is parsed here by a small
recursive-descent parser and turned into closures that can only read the variables they are
given and call the functions listed in ``FUNCTIONS``/``METHODS``. Why not cel-python: it evaluated
a three-clause condition at ~4,000/s, these closures at ~1.1 M/s (README, "Policy packs"), and
the issue asks for 20,000 event-rule evaluations/s with every shipped rule.

Supported: literals (int, double, string, bool, null, lists, maps), field access ``a.b`` and
``a["b"]``, ``has(a.b)``, ``in`` (list or map), ``== != < <= > >=``, ``&& || !``, ``+ - * / %``,
unary ``-``, ``c ? a : b``, the functions and string methods below.

Semantics differ from full CEL in one deliberate way: an expression never fails at run time.
A missing field or an impossible operation (``null * 2``, ``"a" - 1``, division by zero) yields
``null``; an ordering comparison with ``null`` or across types is false; ``&&``, ``||``, ``!``
and ``?:`` treat only ``true`` as true, so ``!event.context.consent`` holds when consent is false
*or absent*. What can fail (syntax, unknown top-level names, unknown functions, wrong argument
counts, a bad regex literal) fails at compile time, so ``riskwatch policies check`` catches it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, TypeGuard

from policies.patterns import find_abuse, find_injections, find_names, find_secrets

Env = dict[str, Any]
Compiled = Callable[[Env], Any]


class CelError(ValueError):
    """A condition does not compile; the message names the column."""


@dataclass(frozen=True, slots=True)
class Expression:
    """A compiled condition: ``fn(env)`` evaluates it; ``names`` are the top-level names used."""

    source: str
    fn: Compiled
    names: frozenset[str]

    def __call__(self, env: Env) -> Any:
        return self.fn(env)


# ----------------------------------------------------------------------------------- lexer
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<float>\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)
  | (?P<int>\d+)
  | (?P<str>[rR]?(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>&&|\|\||==|!=|<=|>=|[<>!+\-*/%().\[\]{},?:])
""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # int float str ident op end
    text: str
    pos: int
    value: Any = None


def _unescape(body: str, pos: int) -> str:
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]
            if nxt not in _ESCAPES:
                raise CelError(f"column {pos + i + 1}: unknown escape \\{nxt}")
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _lex(src: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if m is None:
            raise CelError(f"column {pos + 1}: unexpected character {src[pos]!r}")
        kind, text = m.lastgroup or "", m.group()
        if kind == "int":
            toks.append(_Tok("int", text, pos, int(text)))
        elif kind == "float":
            toks.append(_Tok("float", text, pos, float(text)))
        elif kind == "str":
            raw = text[0] in "rR"
            body = text[2:-1] if raw else text[1:-1]
            toks.append(_Tok("str", text, pos, body if raw else _unescape(body, pos + 1)))
        elif kind != "ws":
            toks.append(_Tok(kind, text, pos))
        pos = m.end()
    toks.append(_Tok("end", "", len(src)))
    return toks


# ----------------------------------------------------------------------------------- values
def _true(v: Any) -> bool:
    return v is True


def _num(v: Any) -> TypeGuard[int | float]:
    return type(v) is int or type(v) is float


def _eq(a: Any, b: Any) -> bool:
    if (type(a) is bool) != (type(b) is bool):  # CEL: true != 1
        return False
    try:
        return bool(a == b)
    except Exception:
        return False


def _ordered(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def cmp(a: Any, b: Any) -> bool:
        if a is None or b is None:
            return False
        try:
            return op(a, b)
        except TypeError:
            return False

    return cmp


def _arith(op: Callable[[Any, Any], Any], *, strings: bool = False) -> Callable[[Any, Any], Any]:
    def calc(a: Any, b: Any) -> Any:
        if _num(a) and _num(b):
            try:
                return op(a, b)
            except (ZeroDivisionError, OverflowError):
                return None
        if strings and (
            (type(a) is str and type(b) is str) or (type(a) is list and type(b) is list)
        ):
            return op(a, b)
        return None

    return calc


def _div(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int:
        if b == 0:
            raise ZeroDivisionError
        q = abs(a) // abs(b)  # CEL integer division truncates toward zero
        return q if (a >= 0) == (b >= 0) else -q
    return a / b


def _mod(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int:
        if b == 0:
            raise ZeroDivisionError
        return a - b * _div(a, b)
    return a % b


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "==": _eq,
    "!=": lambda a, b: not _eq(a, b),
    "<": _ordered(lambda a, b: a < b),
    "<=": _ordered(lambda a, b: a <= b),
    ">": _ordered(lambda a, b: a > b),
    ">=": _ordered(lambda a, b: a >= b),
    "+": _arith(lambda a, b: a + b, strings=True),
    "-": _arith(lambda a, b: a - b),
    "*": _arith(lambda a, b: a * b),
    "/": _arith(_div),
    "%": _arith(_mod),
}


def _in(a: Any, b: Any) -> bool:
    if type(b) is list or type(b) is dict:
        try:
            return any(_eq(a, x) for x in b) if type(b) is list else a in b
        except TypeError:
            return False
    return False


@lru_cache(maxsize=4096)
def _parse_time(text: str) -> datetime | None:
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        t = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _days_between(a: Any, b: Any) -> Any:
    """Days from ``a`` to ``b`` (ISO dates or RFC 3339 times), as a double; null if either is
    not."""
    if type(a) is not str or type(b) is not str:
        return None
    ta, tb = _parse_time(a), _parse_time(b)
    if ta is None or tb is None:
        return None
    return (tb - ta).total_seconds() / 86400.0


def _size(v: Any) -> Any:
    if type(v) in (str, list, dict):
        return len(v)
    return 0 if v is None else None


def _to_int(v: Any) -> Any:
    if type(v) is int:
        return v
    if type(v) is float and v == v and abs(v) != float("inf"):
        return int(v)
    if type(v) is str:
        try:
            return int(v)
        except ValueError:
            return None
    return None


def _to_double(v: Any) -> Any:
    if _num(v):
        return float(v)
    if type(v) is str:
        try:
            return float(v)
        except ValueError:
            return None
    return None


def _to_string(v: Any) -> Any:
    if v is None:
        return None
    if type(v) is bool:
        return "true" if v else "false"
    return v if type(v) is str else str(v)


def _str_only(fn: Callable[..., Any], otherwise: Any = False) -> Callable[..., Any]:
    """A string method: on anything but a string it returns ``otherwise`` (false for tests,
    null for transformations)."""

    def call(s: Any, *args: Any) -> Any:
        return fn(s, *args) if type(s) is str else otherwise

    return call


def _text_or_empty(fn: Callable[..., list[dict[str, Any]]]) -> Callable[..., list[dict[str, Any]]]:
    def call(text: Any, *args: Any) -> list[dict[str, Any]]:
        return fn(text, *args) if type(text) is str else []

    return call


def _names_in(text: Any, names: Any) -> list[dict[str, Any]]:
    if type(text) is not str or type(names) is not list:
        return []
    return find_names(text, tuple(n for n in names if type(n) is str and n))


#: function name → (callable, number of arguments)
FUNCTIONS: dict[str, tuple[Callable[..., Any], int]] = {
    "size": (_size, 1),
    "int": (_to_int, 1),
    "double": (_to_double, 1),
    "string": (_to_string, 1),
    "daysBetween": (_days_between, 2),
    "max": (lambda a, b: (a if a >= b else b) if _num(a) and _num(b) else None, 2),
    "min": (lambda a, b: (a if a <= b else b) if _num(a) and _num(b) else None, 2),
    # detectors in a function: pattern name and offsets, never the matched text
    "findSecrets": (_text_or_empty(find_secrets), 1),
    "findInjections": (_text_or_empty(find_injections), 1),
    "findAbuse": (_text_or_empty(find_abuse), 1),
    "findNames": (_names_in, 2),
}


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _matches_dynamic(s: str, pattern: Any) -> bool:
    rx = _regex(pattern) if type(pattern) is str else None
    return rx is not None and rx.search(s) is not None


#: method name → (callable(receiver, *args), number of arguments)
METHODS: dict[str, tuple[Callable[..., Any], int]] = {
    "contains": (_str_only(lambda s, x: type(x) is str and x in s), 1),
    "startsWith": (_str_only(lambda s, x: type(x) is str and s.startswith(x)), 1),
    "endsWith": (_str_only(lambda s, x: type(x) is str and s.endswith(x)), 1),
    "matches": (_str_only(_matches_dynamic), 1),
    "lowerAscii": (_str_only(lambda s: s.lower(), None), 0),
    "upperAscii": (_str_only(lambda s: s.upper(), None), 0),
    "size": (_size, 0),
}


# ----------------------------------------------------------------------------------- parser
class _Parser:
    def __init__(self, src: str, names: Collection[str]) -> None:
        self.src = src
        self.toks = _lex(src)
        self.i = 0
        self.allowed = frozenset(names)
        self.used: set[str] = set()
        self._last_select: tuple[Compiled, str] | None = None

    # --- helpers
    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def _err(self, msg: str, tok: _Tok | None = None) -> CelError:
        tok = tok or self.tok
        return CelError(f"column {tok.pos + 1}: {msg}")

    def _accept(self, text: str) -> bool:
        if self.tok.kind in ("op", "ident") and self.tok.text == text:
            self.i += 1
            return True
        return False

    def _expect(self, text: str) -> None:
        if not self._accept(text):
            found = self.tok.text or "end of expression"
            raise self._err(f"expected {text!r}, found {found!r}")

    # --- grammar
    def parse(self) -> Compiled:
        if self.tok.kind == "end":
            raise self._err("empty expression")
        fn = self._ternary()
        if self.tok.kind != "end":
            raise self._err(f"unexpected {self.tok.text!r}")
        return fn

    def _ternary(self) -> Compiled:
        cond = self._or()
        if not self._accept("?"):
            return cond
        yes = self._or()
        self._expect(":")
        no = self._ternary()
        return lambda env: yes(env) if cond(env) is True else no(env)

    def _or(self) -> Compiled:
        parts = [self._and()]
        while self._accept("||"):
            parts.append(self._and())
        if len(parts) == 1:
            return parts[0]
        if len(parts) == 2:
            a, b = parts
            return lambda env: a(env) is True or b(env) is True
        return lambda env: any(p(env) is True for p in parts)

    def _and(self) -> Compiled:
        parts = [self._rel()]
        while self._accept("&&"):
            parts.append(self._rel())
        if len(parts) == 1:
            return parts[0]
        if len(parts) == 2:
            a, b = parts
            return lambda env: a(env) is True and b(env) is True
        if len(parts) == 3:
            a, b, c = parts
            return lambda env: a(env) is True and b(env) is True and c(env) is True
        return lambda env: all(p(env) is True for p in parts)

    def _rel(self) -> Compiled:
        left = self._add()
        while True:
            tok = self.tok
            if tok.kind == "op" and tok.text in ("==", "!=", "<", "<=", ">", ">="):
                self.i += 1
                left = self._binary(tok.text, left, self._add())
            elif tok.kind == "ident" and tok.text == "in":
                self.i += 1
                left = self._binary_fn(_in, left, self._add())
            else:
                return left

    def _add(self) -> Compiled:
        left = self._mul()
        while self.tok.kind == "op" and self.tok.text in ("+", "-"):
            op = self.tok.text
            self.i += 1
            left = self._binary(op, left, self._mul())
        return left

    def _mul(self) -> Compiled:
        left = self._unary()
        while self.tok.kind == "op" and self.tok.text in ("*", "/", "%"):
            op = self.tok.text
            self.i += 1
            left = self._binary(op, left, self._unary())
        return left

    def _binary(self, op: str, left: Compiled, right: Compiled) -> Compiled:
        return self._binary_fn(_BINARY[op], left, right)

    @staticmethod
    def _binary_fn(fn: Callable[[Any, Any], Any], left: Compiled, right: Compiled) -> Compiled:
        const = getattr(right, "_const", _NO)
        if const is not _NO:  # the common `path > 3` shape: skip a call per evaluation
            return lambda env: fn(left(env), const)
        return lambda env: fn(left(env), right(env))

    def _unary(self) -> Compiled:
        if self._accept("!"):
            inner = self._unary()
            return lambda env: inner(env) is not True
        if self._accept("-"):
            inner = self._unary()
            const = getattr(inner, "_const", _NO)
            if _num(const):
                return _constant(-const)
            return lambda env: _neg(inner(env))
        return self._member()

    def _member(self) -> Compiled:
        """A primary and its selections; leaves in ``_last_select`` the (parent, field) of a
        trailing ``.field``, which is what has() tests."""
        fn, path = self._primary()
        last: tuple[Compiled, str] | None = None
        while True:
            if self._accept("."):
                name_tok = self.tok
                if name_tok.kind != "ident":
                    raise self._err("expected a field or method name after '.'")
                self.i += 1
                if self.tok.kind == "op" and self.tok.text == "(":
                    fn, path, last = self._method(name_tok, fn), None, None
                elif path is not None:
                    path, last = (*path, name_tok.text), (fn, name_tok.text)
                    fn = _path(path)
                else:
                    fn, last = _field(fn, name_tok.text), (fn, name_tok.text)
            elif self._accept("["):
                index = self._ternary()
                self._expect("]")
                fn, path, last = _index(fn, index), None, None
            else:
                self._last_select = last
                return fn

    def _args(self) -> list[Compiled]:
        self._expect("(")
        args: list[Compiled] = []
        if self._accept(")"):
            return args
        while True:
            args.append(self._ternary())
            if self._accept(")"):
                return args
            self._expect(",")

    def _method(self, name_tok: _Tok, receiver: Compiled) -> Compiled:
        name = name_tok.text
        if name not in METHODS:
            raise self._err(
                f"unknown method {name!r} (known: {', '.join(sorted(METHODS))})", name_tok
            )
        impl, arity = METHODS[name]
        args = self._args()
        if len(args) != arity:
            raise self._err(f"{name}() takes {arity} argument(s), got {len(args)}", name_tok)
        if name == "matches":
            pattern = getattr(args[0], "_const", _NO)
            if type(pattern) is str:  # a literal regex compiles once, and fails at check time
                try:
                    rx = re.compile(pattern)
                except re.error as exc:
                    raise self._err(f"bad regex {pattern!r}: {exc}", name_tok) from exc
                search = rx.search
                return lambda env: type(s := receiver(env)) is str and search(s) is not None
        if arity == 0:
            return lambda env: impl(receiver(env))
        (arg,) = args
        return lambda env: impl(receiver(env), arg(env))

    def _primary(self) -> tuple[Compiled, tuple[str, ...] | None]:
        tok = self.tok
        if tok.kind in ("int", "float", "str"):
            self.i += 1
            return _constant(tok.value), None
        if tok.kind == "ident":
            self.i += 1
            if tok.text in ("true", "false", "null"):
                return _constant({"true": True, "false": False, "null": None}[tok.text]), None
            if tok.text == "in":
                raise self._err("unexpected 'in'", tok)
            if self.tok.kind == "op" and self.tok.text == "(":
                return self._call(tok), None
            if tok.text not in self.allowed:
                raise self._err(
                    f"unknown name {tok.text!r} (known here: {', '.join(sorted(self.allowed))})",
                    tok,
                )
            self.used.add(tok.text)
            return _path((tok.text,)), (tok.text,)
        if self._accept("("):
            inner = self._ternary()
            self._expect(")")
            return inner, None
        if self._accept("["):
            items: list[Compiled] = []
            if not self._accept("]"):
                while True:
                    items.append(self._ternary())
                    if self._accept("]"):
                        break
                    self._expect(",")
            consts = [getattr(i, "_const", _NO) for i in items]
            if all(c is not _NO for c in consts):
                return _constant(consts), None
            return (lambda env: [i(env) for i in items]), None
        if self._accept("{"):
            pairs: list[tuple[Compiled, Compiled]] = []
            if not self._accept("}"):
                while True:
                    key = self._ternary()
                    self._expect(":")
                    pairs.append((key, self._ternary()))
                    if self._accept("}"):
                        break
                    self._expect(",")
            return (lambda env: {k(env): v(env) for k, v in pairs}), None
        found = tok.text or "end of expression"
        raise self._err(f"unexpected {found!r}")

    def _call(self, name_tok: _Tok) -> Compiled:
        name = name_tok.text
        if name == "has":
            return self._has(name_tok)
        if name not in FUNCTIONS:
            raise self._err(
                f"unknown function {name!r} (known: has, {', '.join(sorted(FUNCTIONS))})", name_tok
            )
        impl, arity = FUNCTIONS[name]
        args = self._args()
        if len(args) != arity:
            raise self._err(f"{name}() takes {arity} argument(s), got {len(args)}", name_tok)
        if arity == 1:
            (a,) = args
            return lambda env: impl(a(env))
        a, b = args
        return lambda env: impl(a(env), b(env))

    def _has(self, name_tok: _Tok) -> Compiled:
        self._expect("(")
        self._member()
        selection = self._last_select
        self._expect(")")
        if selection is None:
            raise self._err(
                "has() takes a field selection such as has(event.context.region)", name_tok
            )
        parent, field_name = selection
        return lambda env: type(p := parent(env)) is dict and p.get(field_name) is not None


class _NoValue:
    pass


_NO = _NoValue()


def _constant(value: Any) -> Compiled:
    def const(env: Env) -> Any:
        return value

    const._const = value  # type: ignore[attr-defined]
    return const


def _neg(v: Any) -> Any:
    return -v if _num(v) else None


def _path(names: tuple[str, ...]) -> Compiled:
    root, rest = names[0], names[1:]
    if not rest:
        return lambda env: env.get(root)
    if len(rest) == 1:
        (a,) = rest

        def get1(env: Env) -> Any:
            v = env.get(root)
            return v.get(a) if type(v) is dict else None

        return get1
    if len(rest) == 2:
        a, b = rest

        def get2(env: Env) -> Any:
            v = env.get(root)
            if type(v) is not dict:
                return None
            v = v.get(a)
            return v.get(b) if type(v) is dict else None

        return get2

    def getn(env: Env) -> Any:
        v = env.get(root)
        for n in rest:
            if type(v) is not dict:
                return None
            v = v.get(n)
        return v

    return getn


def _field(obj: Compiled, name: str) -> Compiled:
    return lambda env: v.get(name) if type(v := obj(env)) is dict else None


def _index(obj: Compiled, index: Compiled) -> Compiled:
    def get(env: Env) -> Any:
        v, k = obj(env), index(env)
        if type(v) is dict:
            try:
                return v.get(k)
            except TypeError:
                return None
        if type(v) is list and type(k) is int and -len(v) <= k < len(v):
            return v[k]
        return None

    return get


def compile_expression(source: str, names: Collection[str]) -> Expression:
    """Compile ``source``; ``names`` are the top-level variables it may use."""
    if not isinstance(source, str):
        raise CelError("an expression must be a string")
    parser = _Parser(source, names)
    fn = parser.parse()
    return Expression(source, fn, frozenset(parser.used))
