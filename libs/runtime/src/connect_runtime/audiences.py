"""Audiences as SQL (spec §1): one place that checks an `AudienceSpec` against the definitions of its list and
PETs and compiles it to parameterised SQL, used by the scheduler (to refuse a definition that cannot compile),
the gateway (preview and count) and the runner (exports).

Every identifier in the SQL comes from the list and PET *definitions* (matched case-insensitively to the names
the audience gives, then quoted); every value is a parameter (`$1`, `$2`, … with an explicit cast to the
column's type). Nothing the user wrote is ever spliced into the text.

Values are read strictly, spaces around them ignored: integers fit a bigint; numbers are written with `.` and,
for a column with a precision, hold at most `scale` digits after it and `precision - scale` before it (a value
the column could never hold is refused rather than rounded); booleans are `true` or `false` in any case (not
`1`/`0`, `yes`/`no`: a saved audience reads one way only); dates `YYYY-MM-DD`; timestamps
`YYYY-MM-DD HH:MM:SS[.ffffff]`. Text is taken as written: a value longer than the column's `max_length` is
allowed (it can still be contained in a value), though `equals` can then never match.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from connect_events import (
    RIID,
    AudienceSpec,
    ColumnRef,
    ColumnSpec,
    ColumnType,
    Condition,
    ConditionGroup,
    FieldError,
    ListSpec,
    PetSpec,
)
from connect_runtime.sql_names import list_table, pet_table, quote_ident

MAX_CONDITIONS = 200
MAX_DEPTH = 8
MAX_IN_VALUES = 1000
MAX_DAYS = 36500
SHOWN_NAME = 64  # characters of a user-given name quoted in a message

# How many values each operator takes: (fewest, most); None: no upper bound.
_ARITY: dict[str, tuple[int, int | None]] = {
    "equals": (1, 1),
    "not_equals": (1, 1),
    "in": (1, MAX_IN_VALUES),
    "contains": (1, 1),
    "starts_with": (1, 1),
    "is_empty": (0, 0),
    "is_not_empty": (0, 0),
    "greater_than": (1, 1),
    "less_than": (1, 1),
    "between": (2, 2),
    "in_last_days": (1, 1),
}
_TEXT_ONLY = frozenset({"contains", "starts_with"})
_ORDERED = frozenset({"greater_than", "less_than", "between"})
_SQL_TYPES = {
    ColumnType.TEXT: "text",
    ColumnType.INTEGER: "bigint",
    ColumnType.NUMBER: "numeric",
    ColumnType.BOOLEAN: "boolean",
    ColumnType.DATE: "date",
    ColumnType.TIMESTAMP: "timestamp",
}
_TYPE_WORDS = {
    ColumnType.TEXT: "text",
    ColumnType.INTEGER: "a whole number",
    ColumnType.NUMBER: "a number written with '.'",  # `_type_words` adds the digits a column allows
    ColumnType.BOOLEAN: "true or false",
    ColumnType.DATE: "a date YYYY-MM-DD",
    ColumnType.TIMESTAMP: "a timestamp YYYY-MM-DD HH:MM:SS",
}
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")
_NUMBER = re.compile(r"[+-]?(?P<whole>[0-9]{1,30})(\.(?P<fraction>[0-9]{1,30}))?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?")


class AudienceInvalidError(Exception):
    """The audience cannot compile; `errors` name each failing part (`filter.conditions[1].values[0]`,
    `columns[2]`, `pets[0]`) with a sentence of our own."""

    def __init__(self, errors: tuple[FieldError, ...]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class OutputColumn:
    """A column the audience's rows carry, in order: its header name (the column's name; a PET column that
    shares a name with an earlier one is written `<PET>.<COLUMN>`), its definition, and the SQL reading it in
    `from_where` (an export formats it its own way)."""

    name: str
    spec: ColumnSpec
    sql: str


@dataclass(frozen=True)
class AudienceQuery:
    """The compiled audience: `select` returns its rows (the output columns, in order, ordered by `RIID_`),
    `count` the number of rows; both take `params` as `$1…$n`. `from_where` is the shared
    `FROM … JOIN … WHERE …` text, for callers adding their own conditions or limits after further
    parameters (`next_param` is the number the next one takes; `filtered`: whether it ends with a `WHERE`, to
    which a condition is added with `AND`). The list is `l`."""

    select: str
    count: str
    from_where: str
    params: tuple[object, ...]
    columns: tuple[OutputColumn, ...]
    next_param: int
    filtered: bool = False


def audience_errors(spec: AudienceSpec, list_spec: ListSpec | None, pets: Mapping[str, PetSpec]) -> list[FieldError]:
    """Every problem of `spec` against its list (None: not defined) and the PETs known by lower-cased name, all
    at once; empty when it compiles."""
    return _Compiler(spec, list_spec, pets, None).errors


def compile_audience(
    spec: AudienceSpec, list_spec: ListSpec, pets: Mapping[str, PetSpec], *, today: date | None = None
) -> AudienceQuery:
    """The audience as SQL; raises `AudienceInvalidError` when `audience_errors` finds any. `today` fixes the
    date `in_last_days` counts back from (default: the database's `current_date`)."""
    compiler = _Compiler(spec, list_spec, pets, today)
    if compiler.errors:
        raise AudienceInvalidError(tuple(compiler.errors))
    return compiler.query()


def _shown(name: str) -> str:
    """A user-given name for a message: quoted, control characters escaped, long ones cut."""
    cut = name if len(name) <= SHOWN_NAME else name[:SHOWN_NAME] + "…"
    return "'" + "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in cut) + "'"


@dataclass(frozen=True)
class _Column:
    """A resolved column: its SQL (alias and quoted name) and its definition."""

    sql: str
    spec: ColumnSpec


@dataclass
class _Compiler:
    """Checks the audience (collecting every error) and, when there is none, writes its SQL."""

    spec: AudienceSpec
    list_spec: ListSpec | None
    known_pets: Mapping[str, PetSpec]
    today: date | None
    errors: list[FieldError] = field(default_factory=list)
    params: list[object] = field(default_factory=list)
    _joined: dict[str, tuple[str, PetSpec]] = field(default_factory=dict)  # lower-cased name → (alias, spec)
    _where: str | None = None
    _selected: list[_Column | None] = field(default_factory=list)  # the export columns, resolved in order
    _conditions: int = 0

    def __post_init__(self) -> None:
        if self.list_spec is None:
            self._error("list_name", f"no list {_shown(self.spec.list_name)} is defined")
        self._check_pets()
        if not self.spec.columns:
            self._error("columns", "name at least one column to export")
        self._selected = [self._resolve(ref, f"columns[{i}]") for i, ref in enumerate(self.spec.columns)]
        if self.spec.filter is not None:
            self._where = self._group(self.spec.filter, "filter", 1)

    def query(self) -> AudienceQuery:
        """The SQL of an audience without errors."""
        assert self.list_spec is not None, "only an audience without errors compiles"
        joins = "".join(
            f" LEFT JOIN {pet_table(pet.name)} AS {alias} ON {alias}.{quote_ident(RIID)} = l.{quote_ident(RIID)}"
            for alias, pet in self._joined.values()
        )
        from_where = f"FROM {list_table(self.list_spec.name)} AS l{joins}"
        if self._where is not None:
            from_where += f" WHERE {self._where}"
        outputs = self._outputs()
        listed = ", ".join(f"{column.sql} AS {quote_ident(output.name)}" for column, output in outputs)
        return AudienceQuery(
            select=f"SELECT {listed} {from_where} ORDER BY l.{quote_ident(RIID)}",
            count=f"SELECT count(*) {from_where}",
            from_where=from_where,
            params=tuple(self.params),
            columns=tuple(output for _, output in outputs),
            next_param=len(self.params) + 1,
            filtered=self._where is not None,
        )

    def _outputs(self) -> list[tuple[_Column, OutputColumn]]:
        """The output columns in order; a name met before (any case) is written `<PET>.<COLUMN>`."""
        outputs: list[tuple[_Column, OutputColumn]] = []
        taken: set[str] = set()
        for ref, column in zip(self.spec.columns, self._selected, strict=True):
            assert column is not None, "only an audience without errors compiles"
            name = column.spec.name
            if name.lower() in taken and ref.pet is not None:
                name = f"{self._joined[ref.pet.lower()][1].name}.{name}"
            taken.add(name.lower())
            outputs.append((column, OutputColumn(name, column.spec, column.sql)))
        return outputs

    def _error(self, path: str, message: str) -> None:
        self.errors.append(FieldError(field=path, message=message))

    def _check_pets(self) -> None:
        for index, name in enumerate(self.spec.pets):
            path, key = f"pets[{index}]", name.lower()
            pet = self.known_pets.get(key)
            if pet is None:
                self._error(path, f"no PET {_shown(name)} is defined")
            elif key in self._joined:
                self._error(path, f"the PET {_shown(name)} is joined once already")
            elif self.list_spec is not None and pet.list_name.lower() != self.list_spec.name.lower():
                self._error(path, f"the PET {_shown(name)} extends another list, not {_shown(self.list_spec.name)}")
            else:
                self._joined[key] = (f"p{len(self._joined) + 1}", pet)

    def _resolve(self, ref: ColumnRef, path: str) -> _Column | None:
        """The column `ref` names; None (an error noted under `path`) when there is none."""
        wanted = ref.column.lower()
        if ref.pet is None:
            if self.list_spec is None:
                return None  # the list's own error says it all
            found = next((c for c in self.list_spec.all_columns() if c.name.lower() == wanted), None)
            if found is None:
                self._error(f"{path}.column", f"the list has no column {_shown(ref.column)}")
            return None if found is None else _Column(f"l.{quote_ident(found.name)}", found)
        joined = self._joined.get(ref.pet.lower())
        if joined is None:
            self._error(f"{path}.pet", f"{_shown(ref.pet)} is not one of the audience's PETs")
            return None
        alias, pet = joined
        columns = (pet.as_table().columns[0], *pet.columns)  # its RIID_ and its own columns
        found = next((c for c in columns if c.name.lower() == wanted), None)
        if found is None:
            self._error(f"{path}.column", f"the PET {_shown(pet.name)} has no column {_shown(ref.column)}")
        return None if found is None else _Column(f"{alias}.{quote_ident(found.name)}", found)

    def _group(self, group: ConditionGroup, path: str, depth: int) -> str | None:
        if depth > MAX_DEPTH:
            self._error(path, f"groups may nest at most {MAX_DEPTH} deep")
            return None
        parts: list[str] = []
        for index, item in enumerate(group.conditions):
            inner = f"{path}.conditions[{index}]"
            part = self._group(item, inner, depth + 1) if isinstance(item, ConditionGroup) else self._test(item, inner)
            if part is not None:
                parts.append(part)
        joiner = " AND " if group.match == "all" else " OR "
        return "(" + joiner.join(parts) + ")" if parts else None

    def _test(self, condition: Condition, path: str) -> str | None:
        self._conditions += 1
        if self._conditions == MAX_CONDITIONS + 1:
            self._error(path, f"a filter may hold at most {MAX_CONDITIONS} conditions")
        column = self._resolve(condition.column, path)
        if column is None:
            return None
        operator, kind = condition.operator, column.spec.type
        if (operator in _TEXT_ONLY and kind is not ColumnType.TEXT) or (
            operator in _ORDERED and kind is ColumnType.BOOLEAN
        ):
            self._error(f"{path}.operator", f"'{operator}' does not apply to a {kind.value} column")
            return None
        if operator == "in_last_days" and kind not in (ColumnType.DATE, ColumnType.TIMESTAMP):
            self._error(f"{path}.operator", "'in_last_days' applies to date and timestamp columns only")
            return None
        fewest, most = _ARITY[operator]
        count = len(condition.values)
        if count < fewest or (most is not None and count > most):
            wanted = str(fewest) if fewest == most else f"{fewest} to {most}"
            self._error(f"{path}.values", f"'{operator}' takes {wanted} value(s), not {count}")
            return None
        if operator == "in_last_days":
            return self._last_days(column, condition.values[0], path)
        values = [self._value(v, column.spec, f"{path}.values[{i}]") for i, v in enumerate(condition.values)]
        if any(v is None for v in values):
            return None
        return self._sql(column, operator, values)

    def _value(self, text: str, spec: ColumnSpec, path: str) -> object | None:
        value = _READERS[spec.type](text, spec)
        if value is None:
            self._error(path, f"{_shown(text)} is not {_type_words(spec)}")
        return value

    def _param(self, value: object, sql_type: str) -> str:
        self.params.append(value)
        return f"${len(self.params)}::{sql_type}"

    def _sql(self, column: _Column, operator: str, values: list[object]) -> str:
        sql, sql_type = column.sql, _SQL_TYPES[column.spec.type]
        text = column.spec.type is ColumnType.TEXT
        match operator:
            case "equals":
                return f"{sql} = {self._param(values[0], sql_type)}"
            case "not_equals":
                return f"{sql} IS DISTINCT FROM {self._param(values[0], sql_type)}"
            case "in":
                return f"{sql} = ANY({self._param(values, sql_type + '[]')})"
            case "contains" | "starts_with":
                escaped = _like_escaped(str(values[0]))
                pattern = f"%{escaped}%" if operator == "contains" else f"{escaped}%"
                return f"lower({sql}) LIKE lower({self._param(pattern, 'text')}) ESCAPE '\\'"
            case "is_empty":
                return f"({sql} IS NULL OR btrim({sql}) = '')" if text else f"{sql} IS NULL"
            case "is_not_empty":
                return f"({sql} IS NOT NULL AND btrim({sql}) <> '')" if text else f"{sql} IS NOT NULL"
            case "greater_than":
                return f"{sql} > {self._param(values[0], sql_type)}"
            case "less_than":
                return f"{sql} < {self._param(values[0], sql_type)}"
            case _:  # between
                low, high = self._param(values[0], sql_type), self._param(values[1], sql_type)
                return f"{sql} BETWEEN {low} AND {high}"

    def _last_days(self, column: _Column, text: str, path: str) -> str | None:
        days = int(text) if _INTEGER.fullmatch(text.strip()) else 0
        if not 1 <= days <= MAX_DAYS:
            self._error(f"{path}.values[0]", f"{_shown(text)} is not a number of days from 1 to {MAX_DAYS}")
            return None
        today = "current_date" if self.today is None else self._param(self.today, "date")
        first = f"({today} - {self._param(days - 1, 'integer')})"
        if column.spec.type is ColumnType.DATE:
            return f"({column.sql} >= {first} AND {column.sql} <= {today})"
        return f"({column.sql} >= {first}::timestamp AND {column.sql} < ({today} + 1)::timestamp)"


def _like_escaped(text: str) -> str:
    """`text` matched literally by LIKE … ESCAPE '\\'."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _integer(text: str) -> int | None:
    value = text.strip()
    if not _INTEGER.fullmatch(value):
        return None
    number = int(value)
    return number if -(2**63) <= number < 2**63 else None


def _type_words(spec: ColumnSpec) -> str:
    """What a value of `spec` must look like, for a message."""
    if spec.type is ColumnType.NUMBER and spec.precision is not None:
        scale = spec.scale or 0
        return f"a number with at most {spec.precision - scale} digit(s) before '.' and {scale} after"
    return _TYPE_WORDS[spec.type]


def _number(text: str, spec: ColumnSpec) -> Decimal | None:
    """`text` as a number the column can hold (leading and trailing zeros do not count as digits)."""
    value = text.strip()
    found = _NUMBER.fullmatch(value)
    if found is None:
        return None
    if spec.precision is not None:
        scale = spec.scale or 0
        whole, fraction = found["whole"].lstrip("0"), (found["fraction"] or "").rstrip("0")
        if len(fraction) > scale or len(whole) > spec.precision - scale:
            return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def _boolean(text: str) -> bool | None:
    return {"true": True, "false": False}.get(text.strip().lower())


def _date(text: str) -> date | None:
    value = text.strip()
    if not _DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _timestamp(text: str) -> datetime | None:
    value = text.strip()
    if not _TIMESTAMP.fullmatch(value):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


# Each reader: the value of `text` in a column of that type (its definition given), None when it is not one.
_READERS: dict[ColumnType, Callable[[str, ColumnSpec], object | None]] = {
    ColumnType.TEXT: lambda text, _: text,
    ColumnType.INTEGER: lambda text, _: _integer(text),
    ColumnType.NUMBER: _number,
    ColumnType.BOOLEAN: lambda text, _: _boolean(text),
    ColumnType.DATE: lambda text, _: _date(text),
    ColumnType.TIMESTAMP: lambda text, _: _timestamp(text),
}
