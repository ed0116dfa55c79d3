"""The rule language: a small, safe grammar parsed with :mod:`ast`, never ``eval``.

A rule is one of

- an expression that every row must make true: column names, numbers, quoted text,
  ``+ - * /``, comparisons (chained too), ``and``/``or``, ``abs(x)``, ``isnull(x)``:
  ``"end > start"``, ``"total >= price + tax + tip"``, ``"isnull(a) == isnull(b)"``;
- a functional dependency ``"a, b -> c"``: each combination of the left columns has
  one value of the right ones;
- fixed combinations ``"fixed(a, b, c)"``: only the combinations seen in the real rows;
- a conditional ``"if payment == 'cash' then tip == 0"``.

Column names that are not Python identifiers (``education-num``) are written in
backquotes, `` `education-num` ``, or bare when the parser is given the table's
columns: a known name then wins over arithmetic (``education-num`` is the column, not
``education`` minus ``num``). A row where a column the rule compares is missing does not
break it; ``isnull`` states rules on missing values. Datetime columns compare and
subtract as datetimes (in seconds), and text compared with them is read as a date.
"""

from __future__ import annotations

import ast
import keyword
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ouroboros.errors import SchemaError

#: the functions a rule may call
FUNCTIONS = ("abs", "isnull")
_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_COMPARE = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_PRECEDENCE = {"or": 1, "and": 2, "cmp": 3, "+": 4, "-": 4, "*": 5, "/": 5, "neg": 6}
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`")


class RuleError(SchemaError):
    """A rule that cannot be parsed, does not fit the table, or that the real rows break."""


# ------------------------------------------------------------------ expression tree
@dataclass(frozen=True)
class Col:
    name: str


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Text:
    value: str


@dataclass(frozen=True)
class Neg:
    operand: Node


@dataclass(frozen=True)
class BinOp:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Compare:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Logic:
    op: str
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Call:
    func: str
    arg: Node


Node = Col | Num | Text | Neg | BinOp | Compare | Logic | Call


def quote(name: str) -> str:
    """A column name as a rule writes it: bare when it is an identifier, else backquoted."""
    return name if name.isidentifier() and not keyword.iskeyword(name) else f"`{name}`"


def node_string(node: Node, parent: int = 0) -> str:
    """The canonical text of an expression tree."""
    if isinstance(node, Col):
        return quote(node.name)
    if isinstance(node, Num):
        return repr(int(node.value)) if float(node.value).is_integer() else repr(node.value)
    if isinstance(node, Text):
        return repr(node.value)
    if isinstance(node, Call):
        return f"{node.func}({node_string(node.arg)})"
    if isinstance(node, Neg):
        text, level = "-" + node_string(node.operand, _PRECEDENCE["neg"]), _PRECEDENCE["neg"]
    elif isinstance(node, BinOp):
        level = _PRECEDENCE[node.op]
        right = node_string(node.right, level + 1)
        text = f"{node_string(node.left, level)} {node.op} {right}"
    elif isinstance(node, Compare):
        level = _PRECEDENCE["cmp"]
        text = f"{node_string(node.left, level + 1)} {node.op} {node_string(node.right, level + 1)}"
    else:
        level = _PRECEDENCE[node.op]
        text = f" {node.op} ".join(node_string(i, level + 1) for i in node.items)
    return f"({text})" if level < parent else text


def node_columns(node: Node) -> list[str]:
    """The columns an expression reads, in order of appearance, once each."""
    if isinstance(node, Col):
        return [node.name]
    if isinstance(node, (Num, Text)):
        return []
    if isinstance(node, (Neg, Call)):
        return node_columns(node.operand if isinstance(node, Neg) else node.arg)
    children = node.items if isinstance(node, Logic) else (node.left, node.right)
    return list(dict.fromkeys(c for child in children for c in node_columns(child)))


# ------------------------------------------------------------------ rules
@dataclass(frozen=True)
class Expression:
    """Every row makes ``tree`` true."""

    tree: Node

    def to_string(self) -> str:
        return node_string(self.tree)

    @property
    def columns(self) -> list[str]:
        return node_columns(self.tree)


@dataclass(frozen=True)
class Conditional:
    """Rows meeting ``condition`` make ``then`` true."""

    condition: Node
    then: Node

    def to_string(self) -> str:
        return f"if {node_string(self.condition)} then {node_string(self.then)}"

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(node_columns(self.condition) + node_columns(self.then)))


@dataclass(frozen=True)
class Dependency:
    """Each combination of ``determinants`` has one combination of ``dependents``."""

    determinants: tuple[str, ...]
    dependents: tuple[str, ...]

    def to_string(self) -> str:
        left = ", ".join(map(quote, self.determinants))
        return f"{left} -> {', '.join(map(quote, self.dependents))}"

    @property
    def columns(self) -> list[str]:
        return [*self.determinants, *self.dependents]


@dataclass(frozen=True)
class Fixed:
    """Only the combinations of ``columns`` seen in the real rows occur."""

    members: tuple[str, ...]

    def to_string(self) -> str:
        return f"fixed({', '.join(map(quote, self.members))})"

    @property
    def columns(self) -> list[str]:
        return list(self.members)


Rule = Expression | Conditional | Dependency | Fixed


# ------------------------------------------------------------------ parsing
def parse(text: str, columns: Iterable[str] | None = None) -> Rule:
    """Parse one rule; ``columns`` (the table's) check the names and allow bare ones
    such as ``education-num``. Raises :class:`RuleError` naming the rule and position."""
    if not isinstance(text, str) or not text.strip():
        raise RuleError(f"a rule is a non-empty string; got {text!r}")
    known = list(columns) if columns is not None else None
    masked, names = _mask_names(text, known or [])
    parser = _Parser(text, names, known)
    stripped = masked.lstrip()
    start = len(masked) - len(stripped)
    if re.match(r"if\s", stripped):
        split = _outside_quotes(masked, r"\sthen\s")
        if split is None:
            raise RuleError(f"rule {text!r}: 'if' without 'then'")
        condition = parser.expression(masked[start + 2 : split], start + 2)
        then = parser.expression(masked[split + 5 :], split + 5)
        return Conditional(condition, then)
    arrow = _outside_quotes(masked, r"->")
    if arrow is not None:
        left = parser.names(masked[:arrow], 0)
        right = parser.names(masked[arrow + 2 :], arrow + 2)
        overlap = sorted(set(left) & set(right))
        if overlap:
            raise RuleError(f"rule {text!r}: {overlap} on both sides of '->'")
        return Dependency(tuple(left), tuple(right))
    fixed = re.fullmatch(r"\s*fixed\s*\((.*)\)\s*", masked, flags=re.S)
    if fixed:
        members = parser.names(fixed.group(1), fixed.start(1))
        if len(members) < 2:
            raise RuleError(f"rule {text!r}: fixed(...) takes two columns or more")
        return Fixed(tuple(members))
    return Expression(parser.expression(masked, 0))


def parse_all(texts: Iterable[str], columns: Iterable[str] | None = None) -> list[Rule]:
    """Parse several rules, raising one :class:`RuleError` that lists every bad one."""
    known = list(columns) if columns is not None else None
    rules, problems = [], []
    for text in texts:
        try:
            rules.append(parse(text, known))
        except RuleError as exc:
            problems.append(str(exc))
    if problems:
        raise RuleError(problems if len(problems) > 1 else problems[0])
    return rules


def _outside_quotes(text: str, pattern: str) -> int | None:
    blank = _QUOTED.sub(lambda m: " " * len(m.group()), text)
    match = re.search(pattern, blank)
    return match.start() if match else None


def _placeholder(index: int, width: int) -> str:
    letters = ""
    while True:
        letters = "abcdefghijklmnopqrstuvwxyz"[index % 26] + letters
        index = index // 26 - 1
        if index < 0:
            break
    return ("_" + letters + "_" * width)[:width] if width > len(letters) else ""


def _mask_names(text: str, known: list[str]) -> tuple[str, dict[str, str]]:
    """Backquoted names, and known names that are not identifiers, replaced by
    identifiers of the same width (so positions in errors stay true)."""
    names: dict[str, str] = {}
    out, i = [], 0
    bare = sorted(
        (n for n in known if not n.isidentifier() or keyword.iskeyword(n)), key=len, reverse=True
    )
    while i < len(text):
        char = text[i]
        if char in "'\"":
            end = text.find(char, i + 1)
            end = len(text) - 1 if end < 0 else end
            out.append(text[i : end + 1])
            i = end + 1
            continue
        name, width = None, 0
        if char == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise RuleError(f"rule {text!r}: unclosed backquote at position {i}")
            name, width = text[i + 1 : end], end + 1 - i
        elif not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            for candidate in bare:
                after = i + len(candidate)
                if text.startswith(candidate, i) and not (
                    after < len(text) and (text[after].isalnum() or text[after] == "_")
                ):
                    name, width = candidate, len(candidate)
                    break
        token = _placeholder(len(names), width) if name is not None else ""
        if not token:
            out.append(char)
            i += 1
            continue
        names[token] = name
        out.append(token)
        i += width
    return "".join(out), names


class _Parser:
    """Turns the whitelisted :mod:`ast` nodes into the rule tree."""

    def __init__(self, text: str, names: Mapping[str, str], known: list[str] | None):
        self.text, self.placeholders, self.known = text, names, known
        self.offset = 0

    def fail(self, message: str, position: int | None = None) -> RuleError:
        where = "" if position is None else f" at position {position}"
        return RuleError(f"rule {self.text!r}: {message}{where}")

    def _parse(self, source: str, offset: int) -> ast.expr:
        self.offset = offset - (len(source) - len(source.lstrip()))
        try:
            return ast.parse(source.strip(), mode="eval").body
        except SyntaxError as exc:
            position = self.offset + max((exc.offset or 1) - 1, 0)
            raise self.fail(f"invalid syntax ({exc.msg})", position) from None

    def expression(self, source: str, offset: int) -> Node:
        return self.node(self._parse(source, offset))

    def names(self, source: str, offset: int) -> list[str]:
        body = self._parse(source, offset)
        items = body.elts if isinstance(body, ast.Tuple) else [body]
        out = []
        for item in items:
            if not isinstance(item, ast.Name):
                raise self.fail("expected column names", self._at(item))
            out.append(self.column(item))
        return out

    def _at(self, node: ast.AST) -> int:
        return self.offset + getattr(node, "col_offset", 0)

    def column(self, node: ast.Name) -> str:
        name = self.placeholders.get(node.id, node.id)
        if self.known is not None and name not in self.known:
            raise self.fail(f"unknown column {name!r}", self._at(node))
        return name

    def node(self, node: ast.expr) -> Node:
        if isinstance(node, ast.Name):
            return Col(self.column(node))
        if isinstance(node, ast.Constant) and not isinstance(node.value, bool):
            if isinstance(node.value, (int, float)):
                return Num(float(node.value))
            if isinstance(node.value, str):
                return Text(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = self.node(node.operand)
            if isinstance(node.op, ast.UAdd):
                return operand
            return Num(-operand.value) if isinstance(operand, Num) else Neg(operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return BinOp(_BINARY[type(node.op)], self.node(node.left), self.node(node.right))
        if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
            terms = [self.node(node.left), *(self.node(c) for c in node.comparators)]
            pairs = tuple(
                Compare(_COMPARE[type(op)], terms[i], terms[i + 1]) for i, op in enumerate(node.ops)
            )
            return pairs[0] if len(pairs) == 1 else Logic("and", pairs)
        if isinstance(node, ast.BoolOp):
            return Logic(
                "and" if isinstance(node.op, ast.And) else "or",
                tuple(self.node(v) for v in node.values),
            )
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id not in FUNCTIONS or node.keywords or len(node.args) != 1:
                raise self.fail(
                    f"unknown function {node.func.id!r}; rules may call {list(FUNCTIONS)} "
                    "with one argument",
                    self._at(node),
                )
            return Call(node.func.id, self.node(node.args[0]))
        raise self.fail(f"{type(node).__name__} is not allowed in a rule", self._at(node))
