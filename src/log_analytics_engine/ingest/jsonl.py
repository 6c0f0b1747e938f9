"""JSON lines as SQL over a chunk of lines: DuckDB's JSON functions parse, no Python loop per line.

Known fields fill their columns; every other key goes to `metadata` (merged over a `metadata`
object when the line has one), so no field and no line is dropped. Lines of other loggers (ECS,
pino, bunyan, zap, zerolog, logrus, structlog, Serilog, Docker) fill the columns from their own
keys (`ALIASES`, looked up in this order after the canonical key); the key a column took leaves
metadata, and such a line's nested objects are flattened into it with dotted keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

from log_analytics_engine.ingest.levelsql import sql_severity
from log_analytics_engine.model import DEFAULT_LEVEL, LEVEL_ALIASES, normalize_level
from log_analytics_engine.timeparse import sql_timestamp_ns

KNOWN_FIELDS = (
    "timestamp",
    "level",
    "message",
    "source",
    "tags",
    "thread_id",
    "request_id",
    "user_id",
    "metadata",
)
# The keys each column is read from after its canonical one, first present first (JSON null is
# absent). A dotted name is a dotted key or the same path through nested objects (`log.level`:
# `{"log.level": …}` or `{"log": {"level": …}}`). Times and levels are strings or numbers, messages
# and sources strings: a value of another type is no candidate and stays in metadata (ECS's `log`
# and `event` are objects, Docker's `log` and structlog's `event` the message).
TIME_KEYS = ("@timestamp", "time", "ts", "t", "@t", "datetime")
MESSAGE_KEYS = ("msg", "@m", "@mt", "log", "event")
LEVEL_KEYS = ("log.level", "lvl", "severity", "levelname", "@l", "loglevel", "severity_text")
SOURCE_KEYS = ("logger", "logger_name", "log.logger", "service.name", "name", "component")
ALIASES = {"timestamp": TIME_KEYS, "message": MESSAGE_KEYS, "level": LEVEL_KEYS, "source": SOURCE_KEYS}
# pino and bunyan write levels as numbers (also read from their digits as text).
NUMERIC_LEVELS = {"10": "TRACE", "20": "DEBUG", "30": "INFO", "40": "WARN", "50": "ERROR", "60": "FATAL"}
# Top-level keys the SQL reads by name for the aliases: each alias, and the parent of a dotted one.
LOOKUP_KEYS = tuple(
    dict.fromkeys(
        [
            *(k for keys in ALIASES.values() for k in keys),
            *(k.split(".")[0] for k in LEVEL_KEYS + SOURCE_KEYS),
        ]
    )
)
_DROP_KNOWN = "{" + ", ".join(f'"{k}":null' for k in KNOWN_FIELDS) + "}"
# Extra keys worth extracting by name: identifier-like, so they can be written into the SQL text
# safely (any other key still reaches metadata, through the merge-patch path).
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
MAX_EXTRA_KEYS = 32
# Keys of nested objects (objects and leaves, over all the extra keys) read by name when a line is
# flattened; a line with others is flattened by the general walk, which costs 5-15x more (~10-30 µs
# a line against ~2 µs: 1M nested ECS lines all walked took 35 s, by name 5.4 s).
MAX_NESTED_KEYS = 128
SAMPLE_LINES = 1_000
# A line is taken as a record when it starts like an object; other non-blank lines are rejected.
# (Anchored RE2 matches cost far less than trimming, which copies every line.)
ACCEPT = r"regexp_matches(line, '^\s*\{')"
REJECT = r"NOT regexp_matches(line, '^\s*(\{|$)')"
# The structure of the first lines of a chunk (their keys, and the keys of their nested objects: one
# JSON text), to guess which keys its lines carry: `extra_keys` reads it.
SAMPLE_KEYS_SQL = f"""
SELECT coalesce(json_group_structure(line::JSON), '{{}}')
FROM (SELECT line FROM chunk WHERE {ACCEPT} LIMIT {SAMPLE_LINES}) WHERE json_valid(line)
"""

KeyPath = tuple[str, ...]


@dataclass(frozen=True)
class Nested:
    """The shape of an extra key's object in a chunk's sample: the paths of its objects (itself,
    `()`, first) and of its leaves, every key plain."""

    key: str
    objects: tuple[KeyPath, ...]
    leaves: tuple[KeyPath, ...]


@dataclass(frozen=True)
class Sampled:
    """What a chunk's sample shows: the top-level keys to extract by name (lookup keys among them)
    and the shapes of their nested objects."""

    keys: tuple[str, ...] = ()
    nested: tuple[Nested, ...] = ()


def extra_keys(sample: list[str]) -> Sampled:
    """From the sample's structure (the one row of SAMPLE_KEYS_SQL): the lookup keys it holds, the
    first MAX_EXTRA_KEYS other keys (by name) plain enough to write into SQL and not known fields,
    and the shapes of their nested objects (MAX_NESTED_KEYS keys in all).

    DuckDB names struct fields case-insensitively ("Duplicate keys in object" for `name` beside
    `Name`): a key equal but for ASCII case to one taken already is not extracted (its lines reach
    metadata through the merge-patch path, the key as written)."""
    structure = orjson.loads(sample[0]) if sample else {}
    if not isinstance(structure, dict):
        return Sampled()
    lookups = [k for k in LOOKUP_KEYS if k in structure]
    taken = {k.lower() for k in (*KNOWN_FIELDS, *lookups)}  # plain keys are ASCII: lower() folds
    keys: list[str] = []
    for key in sorted(structure):
        if len(keys) < MAX_EXTRA_KEYS and key.lower() not in taken and _PLAIN_KEY.fullmatch(key):
            keys.append(key)
            taken.add(key.lower())
    nested: list[Nested] = []
    room = MAX_NESTED_KEYS
    for key in sorted((*lookups, *keys)):
        shape = _shape(key, structure[key], set(structure))
        if shape is not None and len(shape.objects) + len(shape.leaves) <= room:
            nested.append(shape)
            room -= len(shape.objects) + len(shape.leaves)
    return Sampled((*lookups, *keys), tuple(nested))


def _shape(key: str, structure: object, top: set[str]) -> Nested | None:
    """The shape of `key`'s sampled objects (`structure`, as json_group_structure gives it), or None
    when it is no object or a dotted name of its leaves is another key's."""
    if not isinstance(structure, dict) or not structure:
        return None
    objects: list[KeyPath] = []
    leaves: list[KeyPath] = []

    def walk(node: dict[str, object], path: KeyPath) -> None:
        objects.append(path)
        for child, sub in node.items():
            if _PLAIN_KEY.fullmatch(child):  # a line with another key takes the general walk
                if isinstance(sub, dict) and sub:
                    walk(sub, (*path, child))
                else:
                    leaves.append((*path, child))

    walk(structure, ())
    names = [_dotted(key, leaf) for leaf in leaves]
    if not names or len(set(names)) < len(names) or top.intersection(names):
        return None
    return Nested(key, tuple(objects), tuple(leaves))


def _dotted(key: str, path: KeyPath) -> str:
    return ".".join((key, *path))


def _pointers(paths: tuple[KeyPath, ...]) -> str:
    """A DuckDB list of JSON pointers (plain keys hold no `~`, `/` or quote)."""
    return "[" + ", ".join("'" + "".join(f"/{k}" for k in path) + "'" for path in paths) + "]"


def _struct(fields: dict[str, str]) -> str:
    """A json_transform type: the fields and their types."""
    return "{" + ", ".join(f'"{k}":"{t}"' for k, t in fields.items()) + "}"


# Every lookup key, as JSON: the struct `g` of a line with a key the chunk's sample did not show.
_LOOKUP_STRUCT = _struct(dict.fromkeys(LOOKUP_KEYS, "JSON"))


def _candidates(key: str, sampled: frozenset[str]) -> list[str]:
    """The JSON of the alias `key`: the key itself, then (dotted) the path through its parent. From
    struct `f` when the chunk's sample showed the key, else from `g`."""

    def field(name: str) -> str:
        return f'{"f" if name in sampled else "g"}."{name}"'

    if "." not in key:
        return [field(key)]
    parent, child = key.split(".", 1)
    return [field(key), f"({field(parent)} -> '$.\"{child}\"')"]


def _pick(column: str, sampled: frozenset[str]) -> tuple[str, str]:
    """SQL of (the key `column` is read from, its value as text): the canonical key when not null,
    else the first alias holding a candidate value; NULL, NULL when none does."""
    canonical = f"f.{column}"
    keys = [f"WHEN {canonical} IS NOT NULL THEN '{column}'"]
    values = [f"WHEN {canonical} IS NOT NULL THEN {canonical}"]
    for key in ALIASES[column]:
        for j in _candidates(key, sampled):
            # JSON text: a string starts with a quote, a number with a digit or minus (a null is SQL
            # NULL in `f`, the text `null` through `->`)
            if column in ("message", "source"):
                test = f"starts_with({j}, '\"')"
            else:
                test = f"left({j}, 1) NOT IN ('{{', '[', 't', 'f', 'n')"
            text = f"CASE WHEN starts_with({j}, '\"') THEN {j} ->> '$' ELSE CAST({j} AS VARCHAR) END"
            if key == "log":  # Docker's json-file: the newline that ended the container's line
                text = f"rtrim({text}, chr(13) || chr(10))"
            keys.append(f"WHEN {test} THEN '{key}'")
            values.append(f"WHEN {test} THEN {text}")
    return "CASE " + " ".join(keys) + " END", "CASE " + " ".join(values) + " END"


def level_sql(raw: str) -> str:
    """SQL normalising the raw level text `raw` as `storage.schema.sql_level` does, and the pino/bunyan
    numbers by NUMERIC_LEVELS: one CASE (a second over the same column cost ~30% of the ingest)."""
    folded = f"upper(trim(CAST({raw} AS VARCHAR)))"
    words = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in {**LEVEL_ALIASES, **NUMERIC_LEVELS}.items())
    return f"coalesce(CASE {folded} {words} WHEN '' THEN NULL ELSE {folded} END, '{DEFAULT_LEVEL}')"


def level_name(level: object) -> str:
    """A raw level normalised as `level_sql` does, in Python (the in-memory paths)."""
    return NUMERIC_LEVELS.get(str(level).strip().upper()) or normalize_level(level)


def _nests(j: str) -> str:
    """SQL: the JSON text `j` is an object with members (FALSE for NULL)."""
    return f"coalesce(starts_with({j}, '{{') AND {j} <> '{{}}', FALSE)"


_COLUMN_OF = {key: column for column, keys in ALIASES.items() for key in keys}


def _member(name: str, value: str) -> str:
    """SQL of the member `"name":value` of a line flattened by name, NULL where `value` is or where
    a column was read from `name` (an alias used leaves metadata)."""
    test = f"{value} IS NOT NULL"
    if name in _COLUMN_OF:
        test += f" AND {_COLUMN_OF[name]}_key IS DISTINCT FROM '{name}'"
    return f"""CASE WHEN {test} THEN '"{name}":' || {value} END"""


def _flat_members(sampled: Sampled) -> tuple[str, str, str]:
    """SQL over the named fields of `f`, for the lines flattened by name: (the lists `k_<i>` and
    `v_<i>` of each sampled shape, whether a line's nested objects all have the sampled shapes, and
    its extras flattened as members for concat_ws, less the aliases used)."""
    shapes = {shape.key: (i, shape) for i, shape in enumerate(sampled.nested)}
    lists, checks, members = [], [], []
    for key in sampled.keys:
        j = f'f."{key}"'
        if key not in shapes:
            checks.append(f"NOT {_nests(j)}")
            members.append(_member(key, j))
            continue
        i, shape = shapes[key]
        # the keys of every object and leaf, and the leaves' values: two parses of the member's text,
        # for the lines that may be flattened by name only
        nests = f"aliased AND covered AND {_nests(j)}"
        lists.append(
            f"CASE WHEN {nests} THEN json_keys({j}, {_pointers(shape.objects + shape.leaves)}) END AS k_{i}, "
            f"CASE WHEN {nests} THEN json_extract({j}, {_pointers(shape.leaves)}) END AS v_{i}"
        )
        # Each object has members (an empty one, or a text where an object was, lists none) and each
        # member is a sampled leaf or object (a leaf that is an object lists its own keys).
        objects = len(shape.objects)
        checks.append(
            f"(k_{i} IS NULL OR (NOT list_contains(k_{i}[1:{objects}], []::VARCHAR[]) "
            f"AND len(flatten(k_{i})) = list_count(v_{i}) + list_count(k_{i}[1:{objects}]) - 1))"
        )
        leaves = ", ".join(
            _member(_dotted(key, leaf), f"v_{i}[{n}]") for n, leaf in enumerate(shape.leaves, 1)
        )
        # (every leaf may be an alias used: no member at all, not an empty one)
        members.append(f"""CASE WHEN k_{i} IS NOT NULL THEN nullif(concat_ws(',', {leaves}), '')
                                ELSE {_member(key, j)} END""")
    return ", ".join(lists), " AND ".join(checks) or "TRUE", ", ".join(members)


# The extras of the lines that took a column from an alias and nest (a `{` past the first byte) but
# not in the sampled shapes, as one flat object with dotted keys: a walk down objects (arrays are
# values, an empty object too), as deep as the line nests (bounds.MAX_DEPTH at most); where two paths
# give one dotted key, the first in the line wins.
_FLATTEN = """
walk(n, k, v, t, ord) AS (
    SELECT r.n, e.key, e.value, e.type, [e.id]
    FROM (SELECT n, extra FROM rows WHERE aliased AND NOT by_name AND strpos(substr(extra, 2), '{') > 0) r,
         json_each(r.extra) e
    UNION ALL
    SELECT w.n, w.k || '.' || e.key, e.value, e.type, w.ord || [e.id] FROM walk w, json_each(w.v) e
    WHERE w.t = 'OBJECT' AND w.v <> '{}'
),
flat AS (
    SELECT n, '{' || string_agg(to_json(k) || ':' || v, ',' ORDER BY ord) || '}' AS obj
    FROM (SELECT n, k, arg_min(v, ord) AS v, min(ord) AS ord FROM walk
          WHERE t <> 'OBJECT' OR v = '{}' GROUP BY n, k)
    GROUP BY n
)
"""


def select_sql(extra_filter: str = "TRUE", extras: Sampled | tuple[str, ...] = ()) -> str:
    """SELECT producing stored columns from relation `chunk(n, line)`.

    Each line is parsed once into a struct `f` of the known fields plus the sampled keys (`extras`,
    from `extra_keys`). When the line has no other keys (its key count equals the fields found),
    metadata is built from those; otherwise a merge patch removes the known keys from the whole line
    (slower, exact), and the lookup keys are read from a second parse (`g`). A line that fills a
    column from an alias has its extras flattened (by name when its objects have the sampled shapes,
    else by a walk) less the alias keys used. Parameters, in order: first seq (added by the store),
    ingest time ns, ingest time ns.
    """
    sampled = extras if isinstance(extras, Sampled) else Sampled(tuple(extras))
    named = sampled.keys
    for key in named:
        if key not in LOOKUP_KEYS and not _PLAIN_KEY.fullmatch(key):
            raise ValueError(f"extra key {key!r} is not plain enough to name in SQL")
    fields = {k: "JSON" if k in ("tags", "metadata") else "VARCHAR" for k in KNOWN_FIELDS}
    fields |= dict.fromkeys(named, "JSON")
    # JSON text of tags and metadata is small, so testing its first byte is cheaper than json_type.
    tags = (
        "CAST(CASE WHEN f.tags IS NULL OR f.tags = 'null' THEN [] "
        "WHEN starts_with(f.tags, '[') THEN list_filter(json_extract_string(f.tags, '$[*]'), "
        "lambda x: x IS NOT NULL) ELSE [f.tags ->> '$'] END AS VARCHAR[])"
    )
    meta_obj = (
        "CASE WHEN f.metadata IS NULL OR f.metadata = 'null' THEN NULL "
        "WHEN starts_with(f.metadata, '{') THEN f.metadata ELSE json_object('metadata', f.metadata) END"
    )
    found = " + ".join(f'(f."{k}" IS NOT NULL)::INTEGER' for k in fields)
    # An object of the extras the line has (a key it lacks is SQL NULL, which concat_ws skips; a JSON
    # null it has is the text `null` and is kept). Plain keys need no escaping inside the quotes.
    pairs = ", ".join(f"""CASE WHEN f."{k}" IS NOT NULL THEN '"{k}":' || f."{k}" END""" for k in named)
    from_extras = f"'{{' || concat_ws(',', {pairs}) || '}}'" if named else "'{}'"
    # Every other key goes to metadata: a merge patch with nulls deletes the known keys.
    extra = (
        f"nullif(CASE WHEN covered THEN {from_extras} "
        f"ELSE json_merge_patch(line, '{_DROP_KNOWN}') END, '{{}}')"
    )
    picks = {column: _pick(column, frozenset(named)) for column in ALIASES}
    chosen = ", ".join(
        f"{key} AS {column}_key, {value} AS raw_{column}" for column, (key, value) in picks.items()
    )
    # The alias keys a line used, as a merge patch deleting them (they are constants: no escaping).
    used = ", ".join(f"""CASE WHEN {c}_key <> '{c}' THEN '"' || {c}_key || '":null' END""" for c in ALIASES)
    aliased = " OR ".join(f"{c}_key <> '{c}'" for c in ALIASES)
    keys = ", ".join(f"{c}_key" for c in ALIASES)
    lists, shaped, members = _flat_members(sampled)
    flat_by_name = f"'{{' || concat_ws(',', {members}) || '}}'" if named else "'{}'"
    # a line whose four columns all have their canonical keys reads no alias: no second parse
    canonical = " AND ".join(f"f.{c} IS NOT NULL" for c in ALIASES)
    return f"""
WITH RECURSIVE rows AS MATERIALIZED (
    SELECT n, raw_ts, raw_level, source, message, tags, thread_id, request_id, user_id, meta_obj, extra,
           aliased, used, by_name, CASE WHEN by_name THEN {flat_by_name} END AS named
    FROM (
        SELECT *, aliased AND covered AND {shaped} AS by_name
        FROM (
            SELECT *{", " + lists if lists else ""}
            FROM (
                SELECT n, f, covered, {keys}, raw_timestamp AS raw_ts, raw_level,
                       coalesce(raw_source, '') AS source, coalesce(raw_message, '') AS message, tags,
                       thread_id, request_id, user_id, meta_obj, extra, coalesce({aliased}, FALSE) AS aliased,
                       CASE WHEN {aliased} THEN '{{' || concat_ws(',', {used}) || '}}' END AS used
                FROM (
                    SELECT n, f, covered, {chosen}, {tags} AS tags, f.thread_id AS thread_id,
                           f.request_id AS request_id, f.user_id AS user_id, {meta_obj} AS meta_obj,
                           {extra} AS extra
                    FROM (
                        SELECT n, line, f, covered,
                               CASE WHEN NOT covered AND NOT ({canonical})
                                    THEN json_transform(line, '{_LOOKUP_STRUCT}') END AS g
                        FROM (
                            SELECT n, line, f, len(json_keys(line)) = {found} AS covered
                            FROM (
                                SELECT n, line, json_transform(line, '{_struct(fields)}') AS f
                                FROM chunk WHERE {ACCEPT} AND {extra_filter}
                            )
                        )
                    )
                )
            )
        )
    )
), {_FLATTEN}
SELECT ? + n AS seq, ts, ? AS ingested_at, level, {sql_severity("level")} AS severity, source, message,
       tags, thread_id, request_id, user_id,
       CASE WHEN ts IS NULL
            THEN json_merge_patch(coalesce(meta, '{{}}'), json_object('timestamp_raw', raw_ts))
            ELSE meta END AS metadata
FROM (
    SELECT n, raw_ts, {level_sql("raw_level")} AS level, source, message, tags,
           thread_id, request_id, user_id,
           CASE WHEN raw_ts IS NULL THEN ? ELSE {sql_timestamp_ns("raw_ts")} END AS ts,
           nullif(CASE WHEN extra IS NULL THEN meta_obj WHEN meta_obj IS NULL THEN extra
                       ELSE json_merge_patch(meta_obj, extra) END, '{{}}') AS meta
    FROM (
        SELECT n, raw_ts, raw_level, source, message, tags, thread_id, request_id, user_id, meta_obj,
               CASE WHEN by_name THEN nullif(named, '{{}}')
                    WHEN aliased
                    THEN nullif(json_merge_patch(coalesce(flat.obj, extra, '{{}}'), used), '{{}}')
                    ELSE extra END AS extra
        FROM rows LEFT JOIN flat USING (n)
    )
)
"""
