#!/usr/bin/env python3
"""Does the ekonomiskt-bistånd package validate like the hand-written Rust?

The package (rulesets/ekonomiskt-bistand/schema/ansokan.schema.json with its
x-hrobot annotations, and rules/validate.rhai) is meant to give the same
verdict and the same JSON pointers as domain/src/application.rs
(`Application::parse`). Two comparisons, over the same inputs:

  schema   (default) the JSON Schema alone, in Python's `jsonschema`
           (Draft202012Validator), against `hrobot evaluate` of a binary that
           still has the Rust parser. Schema rejects what Rust accepts: a bug
           in the schema. Rust rejects what the schema accepts: must be
           caught by a later stage; the report says which (annotation or
           validate.rhai), from Rust's message.

  binaries (--after BIN) the old binary (--hrobot) against a new one that
           runs the package pipeline: same exit code; for an invalid input
           a pointer in common (or none on both sides); for a valid one the
           same draft.

  preview  (--harness RUNNER, with the default mode) before the engine runs
           packages: the schema, then the annotations (only to build `doc`
           as the engine will: money in öre and personnummer in 12 digits,
           with bistand.py's helpers), then validate.rhai in RUNNER, against
           the Rust parser. RUNNER is any program that takes the script's
           path as its argument, reads JSON lines {"name", "doc"} and writes
           JSON lines {"name", "errors": [{pointer, message}]} or
           {"name", "fail"}, with the sandbox engine's settings (packages,
           limits, strict variables, no_float).

Inputs: every application under rulesets/ekonomiskt-bistand/tests and
/work/shared/examples/ekonomiskt-bistand (not the *.expected.json), a
generated set (difftest.py --only-generate, --n/--seed), and hand-made edge
cases written here (nulls, blank and control-character texts, integers
written 5.0, received_at variants, trailing newlines, BOM ...).

    python3 tests/reference/schema_parity.py --hrobot /tmp/hrobot-before
    python3 tests/reference/schema_parity.py --hrobot /tmp/hrobot-before --after target/release/hrobot

An old binary cannot load a manifest with [casework]: give it the type's
folder from a worktree of its own commit (--ruleset). To compare the package
pipeline itself while the type still names a built-in reader, point
--after-ruleset at a copy whose manifest has json_schema and validate
instead of builtin, with a stand-in main.rhai, and add --verdicts-only.

Pattern semantics: JSON Schema patterns are ECMA-262 regexes, where `$` is
the end of the text; Python's `re` lets `$` match before a final newline,
so a pattern ending in `$` is checked here with `\\Z` instead. Numbers are
read as Decimal (exact `minimum`/`maximum`), and a number with no fraction
(`5.0`) counts as an integer, as JSON Schema 2020-12 says and as the Rust
parser accepts.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from decimal import Decimal
from pathlib import Path

import jsonschema
from jsonschema import Draft202012Validator, ValidationError, validators

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import bistand  # noqa: E402
import difftest  # noqa: E402

TYPE = ROOT / "rulesets" / "ekonomiskt-bistand"
SCHEMA = TYPE / "schema" / "ansokan.schema.json"
EXAMPLES = Path("/work/shared/examples/ekonomiskt-bistand")

# ---------------------------------------------------------------------------
# The schema stage in Python


def _ecma(pattern: str) -> re.Pattern:
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _pattern(validator, patrn, instance, schema):
    if validator.is_type(instance, "string") and not _ecma(patrn).search(instance):
        yield ValidationError(f"{instance!r} does not match {patrn!r}")


def _is_number(_checker, v):
    return isinstance(v, (int, float, Decimal)) and not isinstance(v, bool)


def _is_integer(_checker, v):
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return True
    if isinstance(v, (float, Decimal)):
        return v.is_finite() and v == v.to_integral_value() if isinstance(v, Decimal) else v.is_integer()
    return False


_checker = Draft202012Validator.TYPE_CHECKER.redefine_many({"number": _is_number, "integer": _is_integer})
Validator = validators.extend(Draft202012Validator, validators={"pattern": _pattern}, type_checker=_checker)


def pointer(path) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


class NotJson(Exception):
    pass


def _no_constant(name):
    raise NotJson(f"not JSON: {name}")


def load(raw: bytes):
    """As stage 1 does: at most 1 MiB, UTF-8, a leading BOM ignored, JSON."""
    if len(raw) > 1024 * 1024:
        raise NotJson("over 1 MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NotJson("not UTF-8") from e
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        doc = json.loads(text, parse_float=Decimal, parse_constant=_no_constant)
    except ValueError as e:
        raise NotJson(str(e)) from e
    try:
        json.dumps(doc, default=str, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as e:
        # serde_json (the engine's parser) refuses an escaped lone surrogate
        raise NotJson("lone surrogate") from e
    return doc


def schema_errors(validator, doc) -> list[tuple[str, str]]:
    """(pointer, message) for each error; a missing required property is
    reported at the property's own pointer, as the Rust parser does."""
    out = []
    for e in validator.iter_errors(doc):
        base = pointer(e.absolute_path)
        if e.validator == "required" and isinstance(e.instance, dict):
            for name in e.validator_value:
                if name not in e.instance:
                    out.append((pointer(list(e.absolute_path) + [name]), "fältet saknas"))
        else:
            out.append((base, e.message))
    return sorted(set(out))


# ---------------------------------------------------------------------------
# Where a check the schema leaves to later lives, by the Rust message

LATER = [
    ("ogiltigt personnummer", "annotation personnummer"),
    ("beloppet får ha högst två decimaler", "annotation money"),
    ("beloppet är inte ett tal", "annotation money"),
    ("personen är inte född den första dagen i perioden", "validate.rhai"),
    ("barnet är fött efter perioden", "validate.rhai"),
    ("ett barn som fyllt 21 år", "validate.rhai"),
    ("personen finns redan i hushållet", "validate.rhai"),
    ("kan inte vara färre än hushållets", "validate.rhai"),
    ("sökanden ska vara en av de vuxna", "validate.rhai"),
    ("personen finns inte i hushållet", "validate.rhai"),
    ("jobbstimulans kan inte ha börjat efter perioden", "validate.rhai"),
    ("fältet förekommer mer än en gång", "stage 1 (duplicate keys; not expressible)"),
    ("kunde inte läsas", "stage 1 (unreadable value)"),
]


def later_stage(message: str) -> str:
    for needle, stage in LATER:
        if needle in message:
            return stage
    return "UNCOVERED"


def split_messages(message: str) -> list[tuple[str, str]]:
    """`ansökan är ogiltig: /p: text; /q: text` -> [(pointer, text)]."""
    body = message.split("ansökan är ogiltig: ", 1)[-1]
    out = []
    for part in body.split("; "):
        p, _, text = part.partition(": ")
        out.append(("" if p == "(dokumentet)" else p, text))
    return out


# ---------------------------------------------------------------------------
# A preview of the whole pipeline before the engine has it (--harness): the
# annotations applied with the reference's own helpers (bistand.py) only to
# build `doc` as the engine will (money in öre, personnummer in 12 digits),
# and validate.rhai run by a small harness with the sandbox's engine
# settings. Not a replacement for the binaries comparison.


def _resolve(schema: dict, root: dict) -> dict:
    while "$ref" in schema:
        target = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def annotate(doc, root: dict) -> tuple[object, list[str]]:
    """The document as validate.rhai sees it, and the pointers the
    annotations reject (a document that passed the schema)."""
    import datetime as dt
    first = dt.date(int(doc["period"][:4]), int(doc["period"][5:]), 1)
    bad: list[str] = []

    def walk(schema, v, path):
        schema = _resolve(schema, root)
        ann = schema.get("x-hrobot")
        if v is None:
            return v
        if ann == "money":
            ore = Decimal(v) * 100
            if ore != ore.to_integral_value():
                bad.append(pointer(path))
                return v
            return int(ore)
        if ann == "personnummer":
            parsed = bistand.parse_personnummer(v.strip(), first)
            if parsed is None:
                bad.append(pointer(path))
                return v
            return parsed[0]
        if isinstance(v, dict) and "properties" in schema:
            return {k: walk(schema["properties"][k], x, path + [k]) if k in schema["properties"] else x
                    for k, x in v.items()}
        if isinstance(v, list) and "items" in schema:
            return [walk(schema["items"], x, path + [i]) for i, x in enumerate(v)]
        if isinstance(v, Decimal) and v == v.to_integral_value():
            return int(v)
        return v

    return walk(root, doc, []), bad


def run_harness(harness: str, docs: dict[str, object]) -> dict[str, dict]:
    def plain(v):
        if isinstance(v, Decimal):
            return int(v) if v == v.to_integral_value() else float(v)
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v
    lines = "".join(json.dumps({"name": n, "doc": plain(d)}) + "\n" for n, d in docs.items())
    proc = subprocess.run([harness, str(TYPE / "rules" / "validate.rhai")], input=lines,
                          capture_output=True, text=True, check=True)
    return {o["name"]: o for o in map(json.loads, proc.stdout.splitlines())}


# ---------------------------------------------------------------------------
# Running hrobot


def run_hrobot(hrobot: str, ruleset: Path, folder: Path) -> dict:
    proc = subprocess.run([hrobot, "evaluate", "--ruleset", str(ruleset), str(folder)],
                          capture_output=True, text=True, check=False)
    results = {}
    # split on "\n" only: str.splitlines() also splits on U+2028 inside a JSON string
    for line in filter(None, proc.stdout.split("\n")):
        obj = json.loads(line)
        if "draft" in obj:
            results[obj["file"]] = {"exit_code": 0, "draft": obj["draft"]}
        else:
            e = obj["error"]
            results[obj["file"]] = {"exit_code": e["exit_code"], "pointers": e.get("pointers", []),
                                    "message": e.get("message", "")}
    if not results:
        sys.exit(f"{hrobot} gave no results (exit {proc.returncode}): {proc.stderr[:2000]}")
    return results


# ---------------------------------------------------------------------------
# Inputs


def edge_cases() -> dict[str, bytes]:
    """Hand-made inputs at the edges of what the Rust parser accepts."""
    base = {
        "schema": "ekonomiskt-bistand/ansokan/v1",
        "external_id": "EDGE-1",
        "received_at": "2021-03-02T09:30:00+01:00",
        "period": "2021-03",
        "kind": "fortsatt",
        "applicant": "198112189876",
        "household": {"adults": [{"personnummer": "198112189876", "name": "Tolvan Test", "job_seeking": True}],
                      "children": []},
        "costs": {"rent": 5200, "electricity": 250},
        "incomes": [],
        "assets": [],
    }

    def pnr(y, m, d, serial=985):
        nine = f"{y % 100:02d}{m:02d}{d:02d}{serial:03d}"
        return f"{y:04d}{m:02d}{d:02d}{serial:03d}{bistand.luhn_check_digit(nine)}"

    def setp(doc, path, value):
        *head, last = path
        for k in head:
            doc = doc[k]
        if value is DELETE:
            del doc[last]
        else:
            doc[last] = value

    DELETE = object()
    cases: dict[str, bytes] = {}

    def add(name, *changes, raw=None):
        if raw is None:
            d = copy.deepcopy(base)
            for path, value in changes:
                setp(d, path, value)
            raw = difftest.dumps(d).encode()
        cases[f"edge-{name}.json"] = raw

    adult0 = ("household", "adults", 0)
    child = {"personnummer": pnr(2010, 5, 5), "name": "Barn Test"}
    add("base")
    # nulls: optional null = absent; required null = missing
    for k in ["costs", "incomes", "assets", "other_needs", "history", "register"]:
        add(f"null-{k}", ((k,), None))
    add("null-children", (("household", "children"), None))
    add("null-dwelling", (("household", "dwelling_persons"), None))
    add("null-job-seeking", (adult0 + ("job_seeking",), None))
    add("null-relation", (adult0 + ("relation",), None))
    add("null-exempt", (adult0 + ("exempt_reason",), None))
    add("null-rent", (("costs", "rent"), None))
    for k in ["schema", "external_id", "received_at", "period", "kind", "applicant", "household"]:
        add(f"null-required-{k}", ((k,), None))
        add(f"missing-{k}", ((k,), DELETE))
    add("null-name", (adult0 + ("name",), None))
    add("null-adults", (("household", "adults"), None))
    add("null-in-array", (("incomes",), [None]))
    add("child-nulls", (("household", "children"), [dict(child, lunch_at_preschool=None, residence_share_percent=None,
                                                           in_school=None, wage_earlier_this_year=None)]))
    add("history-nulls", (("history",), {"consecutive_months_with_bistand": None, "jobbstimulans_months_used": None,
                                          "jobbstimulans_start": None, "rent_notice_period": None}))
    add("register-nulls", (("register",), {"job_seekers": None, "incomes": None}))
    # texts
    for label, name in [("blank", "   "), ("empty", ""), ("nbsp", "\u00a0"), ("bom-only", "\ufeff"),
                        ("nel", "\u0085"), ("ideographic-space", "\u3000"), ("control", "Tolvan\u0001"),
                        ("newline-tab", "Tolvan\n\tTest"), ("del", "Tolvan\u007f"), ("c1", "Tolvan\u0090"),
                        ("200", "x" * 200), ("201", "x" * 201), ("200-astral", "\U0001F600" * 200),
                        ("zwsp", "\u200b"), ("line-sep", "\u2028"), ("fs", "\u001c")]:
        add(f"name-{label}", (adult0 + ("name",), name))
    for label, reason in [("blank", "  \t "), ("empty", ""), ("vt-only", "\u000b"), ("text", "sjukskriven"),
                          ("2001-blank", " " * 2001), ("2001", "x" * 2001), ("control", "x\u0002"),
                          ("number", 5)]:
        add(f"exempt-{label}", (adult0 + ("exempt_reason",), reason))
    add("need-kind-65", (("other_needs",), [{"kind": "x" * 65, "amount": 100, "description": "glasögon"}]))
    add("need-ok", (("other_needs",), [{"kind": "tandvård", "amount": 100, "description": "glasögon"}]))
    add("need-description-blank", (("other_needs",), [{"kind": "tandvård", "amount": 100, "description": " "}]))
    add("register-source-65", (("register",), {"job_seekers": [], "incomes": [
        {"person": "198112189876", "source": "x" * 65, "kind": "lon", "amount": 1}]}))
    # integers
    for label, v in [("5.0", Decimal("5.0")), ("1e1", Decimal("1E+1")), ("5.5", Decimal("5.5")), ("0", 0),
                     ("101", 101), ("string", "50"), ("bool", True), ("-0", Decimal("-0"))]:
        add(f"share-{label}", (("household", "children"), [dict(child, residence_share_percent=v)]))
    for label, v in [("0", 0), ("1", 1), ("1000", 1000), ("1001", 1001), ("2.0", Decimal("2.0"))]:
        add(f"dwelling-{label}", (("household", "dwelling_persons"), v))
    for label, v in [("1200", 1200), ("1201", 1201), ("-1", -1)]:
        add(f"months-{label}", (("history",), {"consecutive_months_with_bistand": v, "jobbstimulans_months_used": 0}))
    # money
    for label, v in [("max", Decimal("1000000000")), ("over-max", Decimal("1000000000.01")),
                     ("neg-zero", Decimal("-0")), ("neg-small", Decimal("-0.01")), ("three-dec", Decimal("1.005")),
                     ("trailing-zeros", Decimal("1.500")), ("exp", Decimal("1E+2")), ("string", "100")]:
        add(f"rent-{label}", (("costs", "rent"), v))
    # ids, times, periods
    for label, v in [("64", "a" * 64), ("65", "a" * 65), ("newline", "EX-1\n"), ("dot-dash", "a.b_c-d"),
                     ("space", "EX 1"), ("non-ascii", "Ö1")]:
        add(f"external-id-{label}", (("external_id",), v))
    for label, v in [("z", "2021-03-02T09:30:00Z"), ("lower-z", "2021-03-02t09:30:00z"),
                     ("space", "2021-03-02 09:30:00+01:00"), ("frac", "2021-03-02T09:30:00.123456789123+01:00"),
                     ("leap-second", "2021-12-31T23:59:60Z"), ("leap-day", "2020-02-29T00:00:00Z"),
                     ("no-leap-day", "2021-02-29T00:00:00Z"), ("1900-02-29", "1900-02-29T00:00:00Z"),
                     ("2000-02-29", "2000-02-29T00:00:00Z"), ("offset-2359", "2021-03-02T09:30:00+23:59"),
                     ("offset-2400", "2021-03-02T09:30:00+24:00"), ("offset-minus-sign", "2021-03-02T09:30:00\u221201:00"),
                     ("no-offset", "2021-03-02T09:30:00"), ("offset-no-colon", "2021-03-02T09:30:00+0100"),
                     ("hour-24", "2021-03-02T24:00:00Z"), ("dot-no-digits", "2021-03-02T09:30:00.Z"),
                     ("newline", "2021-03-02T09:30:00Z\n"), ("april-31", "2021-04-31T09:30:00Z"),
                     ("year-0", "0000-02-29T00:00:00Z")]:
        add(f"received-{label}", (("received_at",), v))
    for label, v in [("1899-12", "1899-12"), ("1900-01", "1900-01"), ("newline", "2021-03\n"), ("13", "2021-13")]:
        add(f"period-{label}", (("period",), v))
    for label, v in [("after", "2021-04"), ("same", "2021-03"), ("before", "2019-03"), ("bad", "2021-3")]:
        add(f"stim-start-{label}", (("history",), {"consecutive_months_with_bistand": 1, "jobbstimulans_months_used": 0,
                                                   "jobbstimulans_start": v}))
    # personnummer forms and household checks
    add("pnr-10-digit", (adult0 + ("personnummer",), "811218-9876"), (("applicant",), "8112189876"))
    add("pnr-spaces", (adult0 + ("personnummer",), " 198112189876 "))
    add("pnr-number", (adult0 + ("personnummer",), 198112189876))
    add("adult-unborn", (adult0 + ("personnummer",), pnr(2021, 3, 2)), (("applicant",), pnr(2021, 3, 2)))
    add("adult-born-first-day", (adult0 + ("personnummer",), pnr(2021, 3, 1)), (("applicant",), pnr(2021, 3, 1)))
    add("child-born-in-period", (("household", "children"), [dict(child, personnummer=pnr(2021, 3, 31))]))
    add("child-born-after", (("household", "children"), [dict(child, personnummer=pnr(2021, 4, 1))]))
    add("child-21-today", (("household", "children"), [dict(child, personnummer=pnr(2000, 3, 1))]))
    add("child-20-tomorrow-21", (("household", "children"), [dict(child, personnummer=pnr(2000, 3, 2))]))
    add("child-samordning-21", (("household", "children"), [dict(child, personnummer=pnr(2000, 3, 61))]))
    add("child-dup-adult", (("household", "children"), [dict(child, personnummer="198112189876")]))
    add("child-dup-child", (("household", "children"), [child, dict(child, name="B")]))
    add("adult-dup", (("household", "adults"), [base["household"]["adults"][0],
                                                 {"personnummer": "19811218-9876", "name": "X"}]))
    add("child-21-and-dwelling", (("household", "children"), [dict(child, personnummer=pnr(1990, 1, 1)), child]),
        (("household", "dwelling_persons"), 2))
    add("child-21-and-income", (("household", "children"), [dict(child, personnummer=pnr(1990, 1, 1))]),
        (("incomes",), [{"person": pnr(1970, 1, 1), "kind": "lon", "amount": 1}]))
    add("applicant-child", (("household", "children"), [child]), (("applicant",), child["personnummer"]))
    add("applicant-stranger", (("applicant",), pnr(1970, 1, 1)))
    add("income-child", (("household", "children"), [child]),
        (("incomes",), [{"person": child["personnummer"], "kind": "lon", "amount": 1}]))
    add("income-stranger", (("incomes",), [{"person": pnr(1970, 1, 1), "kind": "lon", "amount": 1}]))
    add("register-stranger", (("register",), {"job_seekers": [pnr(1970, 1, 1)], "incomes": [
        {"person": pnr(1970, 1, 1), "source": "AF", "kind": "lon", "amount": 1}]}))
    add("register-10-digit", (("register",), {"job_seekers": ["811218-9876"], "incomes": []}))
    add("relation-bad", (adult0 + ("relation",), "Sambo"))
    add("relation-ok", (adult0 + ("relation",), "make"))
    add("adults-not-array", (("household", "adults"), {"0": 1}))
    add("costs-unknown", (("costs", "parking"), "gratis"))
    add("unknown-top", (("extra",), {"anything": [1, 2]}))
    # raw bytes
    add("bom", raw=b"\xef\xbb\xbf" + json.dumps(base).encode())
    add("duplicate-key", raw=json.dumps(base)[:-1].encode() + b', "period": "2021-03"}')
    add("duplicate-key-unknown", raw=json.dumps(base)[:-1].encode() + b', "x": {"a": 1, "a": 2}}')
    add("nan", raw=json.dumps(base)[:-1].encode() + b', "x": NaN}')
    add("not-object", raw=b"[1, 2]")
    add("lone-surrogate-name", raw=json.dumps(base).replace("Tolvan Test", "\\ud800").encode())
    add("lone-surrogate-unknown", raw=json.dumps(base)[:-1].encode() + b', "x": "\\ud800"}')
    return cases


def collect(generated: Path | None, n: int, seed: int, work: Path) -> Path:
    """All inputs as files in one folder, names prefixed by their source."""
    folder = work / "inputs"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    for prefix, src in [("tests-", TYPE / "tests"), ("examples-", EXAMPLES)]:
        for f in sorted(src.glob("*.json")):
            if not f.name.endswith(".expected.json"):
                (folder / (prefix + f.name)).write_bytes(f.read_bytes())
    if generated is None:
        generated = work / "generated"
        subprocess.run([sys.executable, str(HERE / "difftest.py"), "--only-generate", "--out", str(generated),
                        "--n", str(n), "--seed", str(seed)], check=True, capture_output=True)
    for f in sorted(generated.glob("*.json")):
        (folder / ("gen-" + f.name)).write_bytes(f.read_bytes())
    for name, raw in edge_cases().items():
        (folder / name).write_bytes(raw)
    return folder


def source_of(name: str) -> str:
    return name.split("-", 1)[0]


# ---------------------------------------------------------------------------


def compare_schema(folder: Path, rust: dict, show: int) -> int:
    validator = Validator(json.loads(SCHEMA.read_text()))
    counts = Counter()
    bugs, uncovered, later_examples, no_overlap, stage1_rows = [], [], {}, [], []
    later = Counter()
    for f in sorted(folder.glob("*.json")):
        rs = rust.get(f.name)
        if rs is None:
            bugs.append((f.name, "no result from hrobot", None))
            continue
        src = source_of(f.name)
        counts[(src, "inputs")] += 1
        try:
            doc = load(f.read_bytes())
            errs = schema_errors(validator, doc)
            stage1 = False
        except NotJson:
            errs, stage1 = [], True
        if stage1:
            ok = rs["exit_code"] == 2 and not rs["pointers"]
            counts[(src, "agree" if ok else "disagree")] += 1
            if not ok:
                stage1_rows.append((f.name, rs["exit_code"], rs.get("message", "")))
            continue
        if rs["exit_code"] == 0:
            if errs:
                counts[(src, "disagree")] += 1
                bugs.append((f.name, f"schema rejects what Rust accepts: {errs}", None))
            else:
                counts[(src, "agree")] += 1
            continue
        rust_errs = split_messages(rs["message"])
        if errs:
            common = {p for p, _ in errs} & set(rs["pointers"])
            if common:
                counts[(src, "agree")] += 1
            else:
                counts[(src, "disagree")] += 1
                no_overlap.append((f.name, errs, rust_errs))
            continue
        # Rust rejects, the schema accepts: a later stage must.
        stages = sorted({later_stage(m) for _, m in rust_errs})
        for s in stages:
            later[s] += 1
            later_examples.setdefault(s, (f.name, rust_errs))
        if "UNCOVERED" in stages:
            counts[(src, "disagree")] += 1
            uncovered.append((f.name, rust_errs))
        else:
            counts[(src, "later stage")] += 1

    print("inputs by source: schema stage against the Rust parser")
    for src in sorted({s for s, _ in counts}):
        print(f"  {src:9} inputs {counts[(src, 'inputs')]:5}  agree {counts[(src, 'agree')]:5}  "
              f"left to a later stage {counts[(src, 'later stage')]:4}  disagree {counts[(src, 'disagree')]:3}")
    print("\nRust rejects, the schema accepts; the later stage that must reject (inputs, an example):")
    for s, c in later.most_common():
        name, errs = later_examples[s]
        print(f"  {s:45} {c:5}  e.g. {name}: {errs[:2]}")
    for title, rows in [("schema rejects what Rust accepts (schema bugs)", bugs),
                        ("both reject, no pointer in common", no_overlap),
                        ("Rust rejects, no stage covers it", uncovered),
                        ("stage 1 (reading the JSON) rejects, Rust accepts or names a pointer", stage1_rows)]:
        print(f"\n{title}: {len(rows)}")
        for row in rows[:show]:
            print("  ", *row)
    return 1 if bugs or no_overlap or uncovered or stage1_rows else 0


def compare_preview(folder: Path, rust: dict, harness: str, show: int) -> int:
    root = json.loads(SCHEMA.read_text())
    validator = Validator(root)
    verdicts: dict[str, tuple[str, list[str]]] = {}
    for_rhai = {}
    for f in sorted(folder.glob("*.json")):
        try:
            doc = load(f.read_bytes())
        except NotJson:
            verdicts[f.name] = ("stage 1", [])
            continue
        errs = schema_errors(validator, doc)
        if errs:
            verdicts[f.name] = ("schema", sorted({p for p, _ in errs}))
            continue
        converted, bad = annotate(doc, root)
        if bad:
            verdicts[f.name] = ("annotation", bad)
            continue
        for_rhai[f.name] = converted
    for name, out in run_harness(harness, for_rhai).items():
        if "fail" in out:
            verdicts[name] = ("rhai FAILED", [out["fail"]])
        elif out["errors"]:
            verdicts[name] = ("validate.rhai", [e["pointer"] for e in out["errors"]])
        else:
            verdicts[name] = ("valid", [])
    counts, bad_rows = Counter(), []
    for name, (stage, ptrs) in sorted(verdicts.items()):
        rs = rust[name]
        src = source_of(name)
        counts[(src, "inputs")] += 1
        if stage == "valid":
            ok = rs["exit_code"] == 0
        elif stage == "rhai FAILED":
            ok = False
        else:
            ok = rs["exit_code"] == 2 and ((not ptrs and not rs["pointers"]) or bool(set(ptrs) & set(rs["pointers"])))
            counts[("stage", stage)] += 1
        counts[(src, "agree" if ok else "disagree")] += 1
        if ok and stage != "valid":
            same = set(ptrs) == set(rs["pointers"])
            counts[("same", stage, same)] += 1
        if not ok:
            bad_rows.append((name, stage, ptrs, rs.get("exit_code"), rs.get("message", "")))
    print("\npipeline preview (schema, then annotations, then validate.rhai) against the Rust parser")
    for src in sorted({k[0] for k in counts if k[0] not in ("stage", "same")}):
        print(f"  {src:9} inputs {counts[(src, 'inputs')]:5}  agree {counts[(src, 'agree')]:5}  "
              f"disagree {counts[(src, 'disagree')]:3}")
    print("  invalid inputs by the stage that stops them: " +
          ", ".join(f"{k[1]} {v}" for k, v in sorted(counts.items(), key=str) if k[0] == "stage"))
    print("  agreeing invalid inputs with exactly Rust's pointers, by stage: " + ", ".join(
        f"{st} {counts[('same', st, True)]}/{counts[('same', st, True)] + counts[('same', st, False)]}"
        for st in sorted({k[1] for k in counts if k[0] == "same"})))
    print(f"\npipeline preview disagreements: {len(bad_rows)}")
    for row in bad_rows[:show]:
        print("  ", *row)
    return 1 if bad_rows else 0


def canonical(draft: dict) -> str:
    """A draft without its ruleset's content hash, which changes with any
    file of the type (a manifest line, a letter moved into the package)."""
    d = copy.deepcopy(draft)
    d.get("ruleset", {}).pop("hash", None)
    return json.dumps(d, sort_keys=True, ensure_ascii=False)


def compare_binaries(folder: Path, before: dict, after: dict, show: int, drafts: bool = True) -> int:
    counts = Counter()
    bad = []
    for f in sorted(folder.glob("*.json")):
        src = source_of(f.name)
        counts[(src, "inputs")] += 1
        b, a = before.get(f.name), after.get(f.name)
        why = None
        if b is None or a is None:
            why = "missing result"
        elif b["exit_code"] != a["exit_code"]:
            why = f"exit {b['exit_code']} -> {a['exit_code']}"
        elif b["exit_code"] == 0:
            if drafts and canonical(b["draft"]) != canonical(a["draft"]):
                why = "drafts differ"
            elif drafts and b["draft"].get("ruleset", {}).get("hash") != a["draft"].get("ruleset", {}).get("hash"):
                counts[(src, "ruleset hash differs")] += 1
        elif b["exit_code"] == 2:
            if (b["pointers"] or a["pointers"]) and not set(b["pointers"]) & set(a["pointers"]):
                why = "no pointer in common"
        counts[(src, "disagree" if why else "agree")] += 1
        if why:
            bad.append((f.name, why, b and b.get("message", ""), a and a.get("message", "")))
    print("inputs by source: old binary against new")
    for src in sorted({s for s, _ in counts}):
        print(f"  {src:9} inputs {counts[(src, 'inputs')]:5}  agree {counts[(src, 'agree')]:5}  "
              f"disagree {counts[(src, 'disagree')]:3}  (valid, same draft but the ruleset hash: "
              f"{counts[(src, 'ruleset hash differs')]})")
    print(f"\ndisagreements: {len(bad)}")
    for row in bad[:show]:
        print("  ", *row)
    return 1 if bad else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hrobot", required=True, help="a binary with the Rust parser (e.g. /tmp/hrobot-before)")
    ap.add_argument("--ruleset", type=Path, default=TYPE,
                    help="the ruleset folder for --hrobot (an old binary needs a manifest without [casework], "
                         "e.g. from a worktree of the commit it was built from)")
    ap.add_argument("--after-ruleset", type=Path, default=TYPE)
    ap.add_argument("--after", help="a binary with the package pipeline: compare binaries instead")
    ap.add_argument("--verdicts-only", action="store_true",
                    help="with --after: compare exit codes and pointers, not drafts (e.g. a copy of the type "
                         "wired to the package files with a stand-in main.rhai)")
    ap.add_argument("--generated", type=Path, help="an already generated folder (difftest.py --only-generate)")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", type=Path, help="write the inputs here and keep them")
    ap.add_argument("--harness", help="a validate.rhai runner (see compare_preview): also preview the whole pipeline")
    ap.add_argument("--show", type=int, default=20, help="print at most this many rows per list")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            work = args.keep
        folder = collect(args.generated, args.n, args.seed, work)
        before = run_hrobot(args.hrobot, args.ruleset, folder)
        if args.after:
            return compare_binaries(folder, before, run_hrobot(args.after, args.after_ruleset, folder), args.show,
                                    drafts=not args.verdicts_only)
        status = compare_schema(folder, before, args.show)
        if args.harness:
            status |= compare_preview(folder, before, args.harness, args.show)
        return status


if __name__ == "__main__":
    sys.exit(main())
