#!/usr/bin/env python3
"""Reference implementation of the ekonomiskt-bistånd ruleset contract v2.

Written from ../shared/domain/ekonomiskt-bistand.md (the guide), not from the
Rhai scripts: it is an independent second implementation used by
difftest.py to check hrobot, and the "straightforward Python implementation"
the benchmark compares against. Standard library only.

Money is decimal.Decimal in kronor with at most two decimals (exact, like
integer öre). Parameter values are read from the ruleset folder's parameter
files, so the two implementations share the numbers but not the logic.

    python3 tests/reference/bistand.py FILE|DIR [--ruleset DIR]
    python3 tests/reference/bistand.py --drafts FILE|DIR [--ruleset DIR]
    python3 tests/reference/bistand.py --check DIR   # NAME.json vs NAME.expected.json

One JSON line per file: {"file", "outcome", "amount_sek", "codes"} or, for
invalid input, {"file", "exit_code": 2, "pointers": [...]}. Exit code 0 when
every file gave a draft, 2 when some input was invalid.

With --drafts each line is {"file", "draft"} with a whole draft as hrobot
writes it (schema, outcome, amount, codes, the calculation with its rows
and labels, reasons with texts and legal references, warnings including
the one naming unverified parameter values, and a trace of the rules with
their inputs), so that the benchmark compares like with like. The texts
follow the ruleset's; the trace records each rule's inputs but not its
results. It is written straightforwardly, like the rest of this file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import tomllib
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path

SCHEMA = "ekonomiskt-bistand/ansokan/v1"
MAX_BYTES = 1024 * 1024
DEFAULT_RULESET = Path(__file__).resolve().parents[2] / "rulesets" / "ekonomiskt-bistand"

COST_KINDS = (
    "rent",
    "electricity",
    "home_insurance",
    "union_fee",
    "unemployment_fund_fee",
    "work_travel",
    "childcare",
)
INCOME_KINDS = {
    "lon", "a_kassa", "sjukpenning", "sjukersattning", "aktivitetsstod",
    "etableringsersattning", "foraldrapenning", "bostadsbidrag", "barnbidrag",
    "underhallsstod", "underhallsbidrag", "studiemedel", "pension",
    "skatteaterbaring", "ovrigt",
}
ASSET_KINDS = {"bankmedel", "kontanter", "vardepapper", "ovrigt"}
RELATIONS = {"sambo", "make", "annan"}
COUPLE = {"sambo", "make"}

ONE_KRONA = Decimal(1)
ONE_ORE = Decimal("0.01")


def round_kr(x: Decimal) -> Decimal:
    """Whole kronor, half up (guide 3.6)."""
    return x.quantize(ONE_KRONA, rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------------------
# Parameters


class Parameters:
    """The ruleset's dated parameter files, resolved for a date."""

    def __init__(self, ruleset_dir: Path):
        manifest = tomllib.loads((ruleset_dir / "ruleset.toml").read_text("utf-8"))
        self.files = {}
        self.paths = {}
        self.types = {}
        for rel in manifest.get("parameters", []):
            data = tomllib.loads((ruleset_dir / rel).read_text("utf-8"))
            sets = sorted(data["set"], key=lambda s: s["valid_from"])
            self.files[data["name"]] = sets
            self.paths[data["name"]] = rel
            self.types[data["name"]] = data["types"]
        self.manifest = manifest
        self._cache = {}
        self._sets = {}

    def on(self, date: dt.date) -> dict:
        if date not in self._cache:
            resolved = {}
            for name, sets in self.files.items():
                current = None
                for s in sets:
                    if s["valid_from"] <= date:
                        current = s
                if current is None:
                    raise LookupError(f"no parameters {name} valid on {date}")
                resolved[name] = current["values"]
                self._sets[(date, name)] = current
            self._cache[date] = resolved
        return self._cache[date]

    def value_set(self, date: dt.date, name: str) -> dict:
        """The [[set]] of file `name` in force on `date` (after on(date))."""
        return self._sets[(date, name)]


def money(v) -> Decimal:
    return Decimal(str(v))


# ---------------------------------------------------------------------------
# Personnummer


PNR_RE = re.compile(r"^(\d{6}|\d{8})([-+]?)(\d{4})$")


def parse_personnummer(s, reference: dt.date | None = None) -> tuple[str, dt.date] | None:
    """Normalised 12 digits and the birth date, or None when invalid.

    The 10-digit form (YYMMDD-NNNC, YYMMDD+NNNC) takes the century from
    `reference` (the first day of the period): the latest century in which
    the person is born by then, a century earlier with `+` (100 or older).
    """
    if not isinstance(s, str):
        return None
    m = PNR_RE.match(s)
    if not m:
        return None
    digits = m.group(1) + m.group(3)
    if len(digits) == 10:
        if reference is None:
            return None
        yy, mm, dd = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
        year = reference.year - reference.year % 100 + yy
        if (year, mm, dd - 60 if dd > 60 else dd) > (reference.year, reference.month, reference.day):
            year -= 100
        if m.group(2) == "+":
            year -= 100
        if year < 0:
            return None
        digits = f"{year // 100:02d}" + digits
    year, month, day = int(digits[0:4]), int(digits[4:6]), int(digits[6:8])
    if day > 60:  # samordningsnummer
        day -= 60
    try:
        born = dt.date(year, month, day)
    except ValueError:
        return None
    if digits[8:11] == "000":
        return None
    ten = digits[2:]
    if luhn_check_digit(ten[:9]) != int(ten[9]):
        return None
    return digits, born


def luhn_check_digit(nine: str) -> int:
    total = 0
    for i, ch in enumerate(nine):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d // 10 + d % 10
    return (10 - total % 10) % 10


def age_on(born: dt.date, day: dt.date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


# ---------------------------------------------------------------------------
# Validation


class Invalid(Exception):
    def __init__(self, pointers: list[str], messages: list[str]):
        super().__init__("; ".join(messages))
        self.pointers = pointers


class Checker:
    """Collects (pointer, message) for every invalid field."""

    def __init__(self):
        self.errors: list[tuple[str, str]] = []
        self.reference: dt.date | None = None  # first day of the period, for 10-digit numbers

    def bad(self, pointer: str, message: str):
        self.errors.append((pointer, message))

    def obj(self, v, p, required=True):
        if v is None and not required:
            return None
        if not isinstance(v, dict):
            self.bad(p, "ska vara ett objekt")
            return None
        return v

    def arr(self, v, p, required=True):
        if v is None and not required:
            return []
        if not isinstance(v, list):
            self.bad(p, "ska vara en lista")
            return []
        return v

    def string(self, v, p, required=True):
        if v is None and not required:
            return None
        if not isinstance(v, str):
            self.bad(p, "ska vara en text")
            return None
        return v

    def boolean(self, v, p, default):
        if v is None:
            return default
        if not isinstance(v, bool):
            self.bad(p, "ska vara true eller false")
            return default
        return v

    def integer(self, v, p, lo=None, hi=None, required=True, default=None):
        if v is None and not required:
            return default
        if isinstance(v, bool) or not isinstance(v, int):
            self.bad(p, "ska vara ett heltal")
            return default
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            self.bad(p, "utanför tillåtet intervall")
            return default
        return v

    def amount(self, v, p, required=True):
        if v is None and not required:
            return Decimal(0)
        if isinstance(v, bool) or not isinstance(v, (int, Decimal)):
            self.bad(p, "ska vara ett belopp (tal)")
            return Decimal(0)
        d = Decimal(v)
        if d < 0:
            self.bad(p, "får inte vara negativt")
            return Decimal(0)
        if d != d.quantize(ONE_ORE, rounding=ROUND_DOWN):
            self.bad(p, "högst två decimaler")
            return Decimal(0)
        return d

    def pnr(self, v, p):
        r = parse_personnummer(v, self.reference)
        if r is None:
            self.bad(p, "ogiltigt personnummer")
        return r

    def period(self, v, p, required=True):
        if v is None and not required:
            return None
        if not isinstance(v, str) or not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", v):
            self.bad(p, "ska vara YYYY-MM")
            return None
        return (int(v[:4]), int(v[5:]))


RFC3339_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$"
)


def is_rfc3339(s) -> bool:
    if not isinstance(s, str):
        return False
    m = RFC3339_RE.match(s)
    if not m:
        return False
    y, mo, d, h, mi, sec = (int(m.group(i)) for i in range(1, 7))
    try:
        dt.date(y, mo, d)
    except ValueError:
        return False
    if h > 23 or mi > 59 or sec > 60:
        return False
    if m.group(9) is not None and (int(m.group(9)) > 23 or int(m.group(10)) > 59):
        return False
    return True


def _reject_constant(name):
    raise ValueError(f"not JSON: {name}")


def load_json(raw: bytes):
    """The JSON document, or Invalid without a pointer."""
    if len(raw) > MAX_BYTES:
        raise Invalid([], ["över 1 MiB"])
    try:
        text = raw.decode("utf-8")
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise Invalid([], [f"inte JSON: {e}"]) from None


def validate(doc) -> dict:
    """A checked application as plain Python values, or raises Invalid."""
    c = Checker()
    app = {}
    root = c.obj(doc, "")
    if root is None:
        raise Invalid([""], ["ansökan ska vara ett JSON-objekt"])

    if root.get("schema") != SCHEMA:
        c.bad("/schema", f"ska vara {SCHEMA}")
    ext = root.get("external_id")
    if not isinstance(ext, str) or not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", ext):
        c.bad("/external_id", "1–64 tecken av A–Z a–z 0–9 . _ -")
    app["external_id"] = ext
    if not is_rfc3339(root.get("received_at")):
        c.bad("/received_at", "ska vara en tidpunkt enligt RFC 3339")
    period = c.period(root.get("period"), "/period")
    first_day = dt.date(period[0], period[1], 1) if period else None
    app["period"] = root.get("period")
    app["first_day"] = first_day
    c.reference = first_day
    kind = root.get("kind")
    if kind not in ("fortsatt", "nyansokan"):
        c.bad("/kind", "ska vara fortsatt eller nyansokan")
    app["kind"] = kind

    members = {}  # normalised personnummer -> "adult" | "child"
    hh = c.obj(root.get("household"), "/household") or {}
    adults = []
    raw_adults = c.arr(hh.get("adults"), "/household/adults")
    if isinstance(hh.get("adults"), list) and not raw_adults:
        c.bad("/household/adults", "minst en vuxen")
    for i, a in enumerate(raw_adults):
        p = f"/household/adults/{i}"
        a = c.obj(a, p)
        if a is None:
            continue
        pnr = c.pnr(a.get("personnummer"), p + "/personnummer")
        c.string(a.get("name"), p + "/name")
        job_seeking = c.boolean(a.get("job_seeking"), p + "/job_seeking", False)
        relation = a.get("relation")
        if relation is not None and relation not in RELATIONS:
            c.bad(p + "/relation", "sambo, make eller annan")
        exempt = c.string(a.get("exempt_reason"), p + "/exempt_reason", required=False)
        if pnr and pnr[0] in members:
            c.bad(p + "/personnummer", "personen finns redan i hushållet")
        elif pnr:
            members[pnr[0]] = "adult"
            adults.append({
                "pnr": pnr[0],
                "age": age_on(pnr[1], first_day) if first_day else 0,
                "job_seeking": job_seeking,
                "relation": relation,
                "exempt_reason": exempt,
            })
    children = []
    raw_children = c.arr(hh.get("children"), "/household/children", required=False)
    for i, ch in enumerate(raw_children):
        p = f"/household/children/{i}"
        ch = c.obj(ch, p)
        if ch is None:
            continue
        pnr = c.pnr(ch.get("personnummer"), p + "/personnummer")
        c.string(ch.get("name"), p + "/name")
        lunch = c.boolean(ch.get("lunch_at_preschool"), p + "/lunch_at_preschool", False)
        share = c.integer(ch.get("residence_share_percent"), p + "/residence_share_percent",
                          lo=1, hi=100, required=False, default=100)
        in_school = c.boolean(ch.get("in_school"), p + "/in_school", False)
        earlier = c.amount(ch.get("wage_earlier_this_year"), p + "/wage_earlier_this_year", required=False)
        if pnr:
            age = age_on(pnr[1], first_day) if first_day else 0
            if age >= 21:
                c.bad(p, "ett barn som fyllt 21 år hör inte till barnen")
            if pnr[0] in members:
                # Not in the guide in so many words, but one person cannot be
                # counted twice in the household.
                c.bad(p + "/personnummer", "personen finns redan i hushållet")
            members[pnr[0]] = "child"
            children.append({"pnr": pnr[0], "age": age, "lunch": lunch, "share": share,
                             "in_school": in_school, "wage_earlier": earlier})
    app["adults"] = adults
    app["children"] = children
    size = len(raw_adults) + len(raw_children)
    dwelling = c.integer(hh.get("dwelling_persons"), "/household/dwelling_persons",
                         required=False, default=None)
    if dwelling is not None and dwelling < size:
        c.bad("/household/dwelling_persons", "färre än hushållets medlemmar")
    app["dwelling_persons"] = dwelling

    applicant = c.pnr(root.get("applicant"), "/applicant")
    if applicant and members.get(applicant[0]) != "adult":
        c.bad("/applicant", "sökanden ska vara en av de vuxna")

    costs = c.obj(root.get("costs"), "/costs", required=False) or {}
    app["costs"] = {k: c.amount(costs.get(k), f"/costs/{k}", required=False) for k in COST_KINDS}

    def member(v, p):
        r = c.pnr(v, p)
        if r and r[0] not in members:
            c.bad(p, "ingen i hushållet")
            return None
        return r[0] if r else None

    incomes = []
    for i, inc in enumerate(c.arr(root.get("incomes"), "/incomes", required=False)):
        p = f"/incomes/{i}"
        inc = c.obj(inc, p)
        if inc is None:
            continue
        person = member(inc.get("person"), p + "/person")
        if inc.get("kind") not in INCOME_KINDS:
            c.bad(p + "/kind", "okänt inkomstslag")
        amount = c.amount(inc.get("amount"), p + "/amount")
        incomes.append({"person": person, "kind": inc.get("kind"), "amount": amount})
    app["incomes"] = incomes

    assets = []
    asset_kinds = []
    for i, a in enumerate(c.arr(root.get("assets"), "/assets", required=False)):
        p = f"/assets/{i}"
        a = c.obj(a, p)
        if a is None:
            continue
        if a.get("kind") not in ASSET_KINDS:
            c.bad(p + "/kind", "okänt slag av tillgång")
        assets.append(c.amount(a.get("amount"), p + "/amount"))
        asset_kinds.append(a.get("kind"))
    app["assets"] = assets
    app["asset_kinds"] = asset_kinds

    other = c.arr(root.get("other_needs"), "/other_needs", required=False)
    other_amounts = []
    for i, n in enumerate(other):
        p = f"/other_needs/{i}"
        n = c.obj(n, p)
        if n is None:
            continue
        c.string(n.get("kind"), p + "/kind")
        other_amounts.append(c.amount(n.get("amount"), p + "/amount"))
        c.string(n.get("description"), p + "/description")
    app["other_needs"] = other
    app["other_needs_amounts"] = other_amounts

    hist = c.obj(root.get("history"), "/history", required=False) or {}
    app["months"] = c.integer(hist.get("consecutive_months_with_bistand"),
                              "/history/consecutive_months_with_bistand", lo=0,
                              required=False, default=0)
    app["jobbstimulans_used"] = c.integer(hist.get("jobbstimulans_months_used"),
                                          "/history/jobbstimulans_months_used", lo=0,
                                          required=False, default=0)
    app["rent_notice"] = c.period(hist.get("rent_notice_period"),
                                  "/history/rent_notice_period", required=False)
    app["rent_notice_text"] = hist.get("rent_notice_period")
    app["stim_start"] = c.period(hist.get("jobbstimulans_start"), "/history/jobbstimulans_start", required=False)
    if app["stim_start"] is not None and period is not None and app["stim_start"] > period:
        c.bad("/history/jobbstimulans_start", "jobbstimulans kan inte ha börjat efter perioden")

    reg = c.obj(root.get("register"), "/register", required=False)
    if reg is None:
        app["register"] = None
    else:
        seekers = set()
        for i, s in enumerate(c.arr(reg.get("job_seekers"), "/register/job_seekers", required=False)):
            r = c.pnr(s, f"/register/job_seekers/{i}")
            if r:
                seekers.add(r[0])
        reg_incomes = []
        for i, inc in enumerate(c.arr(reg.get("incomes"), "/register/incomes", required=False)):
            p = f"/register/incomes/{i}"
            inc = c.obj(inc, p)
            if inc is None:
                continue
            person = member(inc.get("person"), p + "/person")
            c.string(inc.get("source"), p + "/source")
            if inc.get("kind") not in INCOME_KINDS:
                c.bad(p + "/kind", "okänt inkomstslag")
            amount = c.amount(inc.get("amount"), p + "/amount")
            reg_incomes.append({"person": person, "kind": inc.get("kind"), "amount": amount})
        app["register"] = {"job_seekers": seekers, "incomes": reg_incomes}

    if c.errors:
        raise Invalid([p for p, _ in c.errors], [f"{p}: {m}" for p, m in c.errors])
    return app


# ---------------------------------------------------------------------------
# The rules (guide section 3)


def months_between(a: tuple[int, int], b: tuple[int, int]) -> int:
    """Whole months from period a to period b."""
    return (b[0] - a[0]) * 12 + (b[1] - a[1])


def common_costs(norm: dict, persons: int) -> Decimal:
    if persons <= 7:
        return money(norm[f"gemensamma_{persons}"])
    step = money(norm["gemensamma_7"]) - money(norm["gemensamma_6"])
    return money(norm["gemensamma_7"]) + step * (persons - 7)


def child_norm_key(age: int, lunch: bool) -> str:
    if age <= 0:
        key = "barn_0"
    elif age <= 2:
        key = "barn_1_2"
    elif age == 3:
        key = "barn_3"
    elif age <= 6:
        key = "barn_4_6"
    elif age <= 10:
        return "barn_7_10"
    elif age <= 14:
        return "barn_11_14"
    elif age <= 18:
        return "barn_15_18"
    else:
        return "barn_19_20"
    return key + "_ej_lunch" if lunch else key


def stimulus_applies(app: dict, stim: dict) -> bool:
    """Jobbstimulans (guide 3.4): two years from the start month when the
    case system knows it, whatever the consecutive months; otherwise by the
    months counted."""
    start = app.get("stim_start")
    if start is not None:
        period = (app["first_day"].year, app["first_day"].month)
        return months_between(start, period) < stim["max_manader"]
    return app["months"] >= stim["manader_med_bistand"] and app["jobbstimulans_used"] < stim["max_manader"]


def decide(app: dict, parameters: Parameters, notes: dict | None = None) -> dict:
    """The draft's outcome, amount and codes. `notes`, when given, receives
    the intermediate figures (used by difftest.py to steer and count cases)."""
    notes = {} if notes is None else notes
    p = parameters.on(app["first_day"])
    norm_p, kommun, stim, pbb = p["riksnorm"], p["kommun"], p["jobbstimulans"], p["prisbasbelopp"]
    adults, children = app["adults"], app["children"]
    register = app["register"]

    # 3.1 Manual routing
    manual = set()
    if app["kind"] == "nyansokan":
        manual.add("nyansokan")
    if any(ch["age"] >= 19 and not ch["in_school"] for ch in children):
        manual.add("ungdom_19_20")
    if any(a["age"] < 18 for a in adults):
        manual.add("under_18")
    if len(adults) > 2 or (len(adults) == 2 and adults[1]["relation"] not in COUPLE):
        manual.add("hushallssammansattning")
    if app["other_needs"]:
        manual.add("livsforing_i_ovrigt")
    if any(not a["job_seeking"] or a["exempt_reason"] is not None for a in adults):
        manual.add("ej_arbetssokande")
    if register is not None and any(
        a["job_seeking"] and a["pnr"] not in register["job_seekers"] for a in adults
    ):
        manual.add("ej_arbetssokande")
    if register is not None:
        tolerance = money(kommun["register_tolerans"])
        registered, declared = {}, {}
        for inc in register["incomes"]:
            key = (inc["person"], inc["kind"])
            registered[key] = registered.get(key, Decimal(0)) + inc["amount"]
        for inc in app["incomes"]:
            key = (inc["person"], inc["kind"])
            declared[key] = declared.get(key, Decimal(0)) + inc["amount"]
        notes["register_diffs"] = [abs(declared.get(k, Decimal(0)) - v) for k, v in registered.items()]
        if any(abs(declared.get(k, Decimal(0)) - v) > tolerance for k, v in registered.items()):
            manual.add("register_avvikelse")

    # 3.2 Norm
    norm = Decimal(0)
    norm += money(norm_p["ensamstaende"] if len(adults) == 1 else norm_p["sambor"])
    for ch in children:
        amount = money(norm_p[child_norm_key(ch["age"], ch["lunch"])])
        if ch["share"] < 100:
            notes["child_share_fraction"] = (amount * ch["share"] / 100) % 1
            amount = round_kr(amount * ch["share"] / 100)
        norm += amount
    n = len(adults) + len(children)
    m = app["dwelling_persons"]
    notes["members"] = n
    if m is not None and m > n:
        notes["dwelling_fraction"] = (common_costs(norm_p, m) * n / m) % 1
        norm += round_kr(common_costs(norm_p, m) * n / m)
    else:
        norm += common_costs(norm_p, n)

    # 3.3 Reasonable costs
    caps = set()
    costs = app["costs"]
    total_costs = sum(costs.values(), Decimal(0))
    rent = costs["rent"]
    ceiling = money(kommun[f"hyra_riktvarde_{min(len(children), 4)}_barn"])
    notice = app["rent_notice"]
    period = (app["first_day"].year, app["first_day"].month)
    if rent > ceiling:
        notes["rent_over_ceiling_months"] = None if notice is None else months_between(notice, period)
    if rent > ceiling and notice is not None and months_between(notice, period) >= kommun["radrum_manader"]:
        total_costs -= rent - ceiling
        caps.add("hyra_over_riktvarde")
        notes["rent_capped"] = True
    travel_cap = money(kommun["arbetsresor_tak"])
    notes["travel_minus_cap"] = costs["work_travel"] - travel_cap
    if costs["work_travel"] > travel_cap:
        total_costs -= costs["work_travel"] - travel_cap
        caps.add("arbetsresor_over_tak")

    # 3.4 Incomes
    adult_ids = {a["pnr"] for a in adults}
    total_incomes = sum((inc["amount"] for inc in app["incomes"]), Decimal(0))
    wages = {}
    for inc in app["incomes"]:
        if inc["kind"] == "lon":
            wages[inc["person"]] = wages.get(inc["person"], Decimal(0)) + inc["amount"]
    if stimulus_applies(app, stim):
        for person, wage in wages.items():
            if person in adult_ids:
                notes["jobbstimulans_fraction"] = (wage * stim["procent"] / 100) % 1
                total_incomes -= round_kr(wage * stim["procent"] / 100)
    for ch in children:
        if ch["pnr"] in wages:
            wage = wages[ch["pnr"]]
            remaining = max(money(pbb["belopp"]) - ch["wage_earlier"], Decimal(0))
            notes["child_wage_minus_free"] = wage - remaining
            notes["child_earlier_minus_pbb"] = ch["wage_earlier"] - money(pbb["belopp"])
            total_incomes -= min(wage, remaining)

    # 3.5 Assets
    allowance = money(kommun["tillgangar_fribelopp"])
    total_assets = max(sum(app["assets"], Decimal(0)) - allowance, Decimal(0))
    notes["assets_minus_allowance"] = sum(app["assets"], Decimal(0)) - allowance

    # 3.6 Result
    need = norm + total_costs - total_incomes - total_assets
    notes["need"] = need
    notes["manual"] = sorted(manual)
    if manual:
        # The calculation is still made for the official, so a cap that was
        # applied keeps its code (3.3 gives the code whenever the cap applies).
        return {"outcome": "manuell", "amount_sek": None, "codes": sorted(manual | caps)}
    amount = round_kr(need) if need > 0 else Decimal(0)
    if amount == 0:
        return {"outcome": "avslag", "amount_sek": 0, "codes": sorted({"inkomster_tacker_behov"} | caps)}
    return {
        "outcome": "delvis_bifall" if caps else "bifall",
        "amount_sek": int(amount),
        "codes": sorted(caps),
    }


# ---------------------------------------------------------------------------
# Whole drafts (--drafts): rows, reasons and warnings in Swedish, as hrobot
# writes them, for the benchmark to compare like with like.

INCOME_LABELS = {
    "lon": "Lön (netto)", "a_kassa": "Ersättning från a-kassa", "sjukpenning": "Sjukpenning",
    "sjukersattning": "Sjukersättning", "aktivitetsstod": "Aktivitetsstöd",
    "etableringsersattning": "Etableringsersättning", "foraldrapenning": "Föräldrapenning",
    "bostadsbidrag": "Bostadsbidrag", "barnbidrag": "Barnbidrag", "underhallsstod": "Underhållsstöd",
    "underhallsbidrag": "Underhållsbidrag", "studiemedel": "Studiemedel", "pension": "Pension",
    "skatteaterbaring": "Skatteåterbäring", "ovrigt": "Övrig inkomst",
}
ASSET_LABELS = {"bankmedel": "Bankmedel", "kontanter": "Kontanter", "vardepapper": "Värdepapper",
                "ovrigt": "Övriga tillgångar"}
AGE_GROUP_TEXT = {"barn_0": "0 år", "barn_1_2": "1–2 år", "barn_3": "3 år", "barn_4_6": "4–6 år",
                  "barn_7_10": "7–10 år", "barn_11_14": "11–14 år", "barn_15_18": "15–18 år",
                  "barn_19_20": "19–20 år"}
DRAFT_SCHEMA = "ekonomiskt-bistand/beslutsutkast/v2"
MONTHS = ["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober",
          "november", "december"]


def month_text(year: int, month: int) -> str:
    """A month as the decision letter writes it: "maj 2026"."""
    return f"{MONTHS[month - 1]} {year}"


def month_plus(p: tuple[int, int], n: int) -> tuple[int, int]:
    i = p[0] * 12 + p[1] - 1 + n
    return i // 12, i % 12 + 1
MANUAL_CODES = {"nyansokan", "ungdom_19_20", "under_18", "hushallssammansattning", "livsforing_i_ovrigt",
                "ej_arbetssokande", "register_avvikelse"}


def fmt_kr(x: Decimal) -> str:
    """Swedish amount for people: 3 160 kr, 1 234,50 kr, −250 kr."""
    ore = int(x * 100)
    sign = "\u2212" if ore < 0 else ""
    kronor, rest = divmod(abs(ore), 100)
    digits = f"{kronor:,}".replace(",", "\u00a0")
    return f"{sign}{digits}\u00a0kr" if rest == 0 else f"{sign}{digits},{rest:02d}\u00a0kr"


def sek(x: Decimal):
    """An amount as a JSON number of kronor."""
    return int(x) if x == x.to_integral_value() else float(x)


class Used:
    """Parameter lookups for one draft, remembering which were read."""

    def __init__(self, parameters: Parameters, date: dt.date):
        self.parameters = parameters
        self.date = date
        self.values = parameters.on(date)
        self.used = set()

    def get(self, name: str):
        file, key = name.split(".", 1)
        self.used.add(name)
        return self.values[file][key]

    def warnings(self) -> list[str]:
        groups = {}
        for name in sorted(self.used):
            file, key = name.split(".", 1)
            vs = self.parameters.value_set(self.date, file)
            if vs["verified"]:
                continue
            group = (f"{self.parameters.paths[file]} (värdena som gäller från {vs['valid_from']}; "
                     f"källa: {vs['source'].strip()})")
            kind = self.parameters.types[file][key]
            value = vs["values"][key]
            if kind == "money":
                shown = f"{name} = {fmt_kr(money(value))}"
            elif kind == "integer":
                shown = f"{name} = {value}"
            else:
                shown = f"{name} = \u201d{value}\u201d"
            groups.setdefault(group, []).append(shown)
        return [f"Ej verifierade parametervärden användes: {', '.join(names)} – {group}. "
                "Kontrollera värdena mot författningstexten innan beslutet godkänns."
                for group, names in groups.items()]


def build_draft(app: dict, parameters: Parameters) -> dict:
    """The whole draft for a valid application (guide section 3)."""
    p = Used(parameters, app["first_day"])
    adults, children, register = app["adults"], app["children"], app["register"]
    label = {}  # personnummer -> "vuxen 1", "barn 2"
    ident = {}  # personnummer -> "vuxen1", "barn2"
    for i, a in enumerate(adults):
        label[a["pnr"]], ident[a["pnr"]] = f"vuxen {i + 1}", f"vuxen{i + 1}"
    for i, ch in enumerate(children):
        label[ch["pnr"]], ident[ch["pnr"]] = f"barn {i + 1}", f"barn{i + 1}"
    rows = {"norm": [], "costs": [], "incomes": [], "assets": []}
    codes, reasons, warnings, trace = [], [], [], []
    assessments, kommunicering = [], []
    this_month = (app["first_day"].year, app["first_day"].month)
    manad = month_text(*this_month)

    def rule(name, **inputs):
        trace.append({"rule": name, "inputs": inputs})

    def row(section, text, amount, applied=None):
        r = {"label": text, "amount_sek": amount}
        if applied is not None:
            r["applied_sek"] = applied
        rows[section].append(r)

    def total(section):
        return sum((r["amount_sek"] for r in rows[section]), Decimal(0))

    def code(c):
        if c not in codes:
            codes.append(c)

    def reason(c, text, lagrum):
        reasons.append({"code": c, "text": text, "lagrum": lagrum})

    def warning(text):
        if text not in warnings:
            warnings.append(text)

    lag_bistand = p.get("lagrum.ratt_till_bistand")

    # 3.1 Manual routing
    rule("manuell.nyansokan", ansokningstyp=app["kind"])
    if app["kind"] == "nyansokan":
        code("nyansokan")
        reason("nyansokan", "Ansökan är en nyansökan. En första ansökan utreds av en handläggare, med ett "
               "personligt besök.", lag_bistand)
    rule("manuell.ungdom_19_20", barn=[{"alder": ch["age"], "barn": ident[ch["pnr"]], "gymnasiet": ch["in_school"]}
                                      for ch in children])
    youth = [f"{label[ch['pnr']]} ({ch['age']} år)" for ch in children if ch["age"] >= 19 and not ch["in_school"]]
    if youth:
        code("ungdom_19_20")
        reason("ungdom_19_20", "En ungdom i hushållet är 19 eller 20 år och det framgår inte att hen går i gymnasiet "
               f"({', '.join(youth)}). En ungdom som har lämnat skolan ingår inte i föräldrarnas hushåll för "
               "riksnormen utan ansöker själv. Hushållets sammansättning måste bedömas av en handläggare.",
               lag_bistand)
    rule("manuell.under_18", vuxnas_aldrar=[a["age"] for a in adults])
    if any(a["age"] < 18 for a in adults):
        code("under_18")
        reason("under_18", "En av de vuxna i hushållet är under 18 år. Föräldrarnas försörjningsplikt och "
               "hushållets sammansättning måste utredas av en handläggare.", lag_bistand)
    couple = len(adults) == 2 and adults[1]["relation"] in COUPLE
    rule("manuell.hushallssammansattning", antal_vuxna=len(adults),
         relation=adults[1]["relation"] if len(adults) == 2 else None)
    if len(adults) > 2:
        code("hushallssammansattning")
        reason("hushallssammansattning", f"Hushållet har {len(adults)} vuxna. Hur hushållet ska beräknas måste "
               "bedömas av en handläggare.", lag_bistand)
    elif len(adults) == 2 and not couple:
        code("hushallssammansattning")
        reason("hushallssammansattning", "De två vuxna i hushållet är inte sambor eller makar. Hur hushållet ska "
               "beräknas måste bedömas av en handläggare.", lag_bistand)
    rule("manuell.livsforing_i_ovrigt", antal_ansokningar=len(app["other_needs"]))
    if app["other_needs"]:
        code("livsforing_i_ovrigt")
        reason("livsforing_i_ovrigt", f"Ansökan gäller även bistånd till livsföringen i övrigt "
               f"({len(app['other_needs'])} st, sammanlagt {fmt_kr(sum(app['other_needs_amounts'], Decimal(0)))}). "
               "Sådana behov prövas individuellt av en handläggare.", lag_bistand)
    not_seeking = [a["pnr"] for a in adults
                   if not a["job_seeking"] or a["exempt_reason"] is not None
                   or (register is not None and a["pnr"] not in register["job_seekers"])]
    rule("manuell.ej_arbetssokande", registerkontroll=register is not None,
         vuxna_som_inte_ar_arbetssokande=[ident[x] for x in not_seeking])
    if not_seeking:
        code("ej_arbetssokande")
        reason("ej_arbetssokande", "Det framgår inte att alla vuxna står till arbetsmarknadens förfogande "
               f"({', '.join(label[x] for x in not_seeking)}): de är inte arbetssökande, har angett skäl att vara "
               "undantagna, eller finns inte som arbetssökande hos Arbetsförmedlingen. Rätten till bistånd måste "
               "bedömas av en handläggare.", lag_bistand)
    if register is not None:
        tolerance = money(p.get("kommun.register_tolerans"))
        registered, declared = {}, {}
        for inc in register["incomes"]:
            key = f"{ident[inc['person']]}:{inc['kind']}"
            registered[key] = registered.get(key, Decimal(0)) + inc["amount"]
        for inc in app["incomes"]:
            key = f"{ident[inc['person']]}:{inc['kind']}"
            declared[key] = declared.get(key, Decimal(0)) + inc["amount"]
        deviations = []
        for key in sorted(registered):
            person, kind = key.split(":")
            d = declared.get(key, Decimal(0))
            if abs(d - registered[key]) > tolerance:
                deviations.append(f"{label_of(person)}, {INCOME_LABELS[kind]}: "
                                  f"{fmt_kr(d)} i ansökan, {fmt_kr(registered[key])} i register")
        rule("manuell.register_avvikelse", tolerans_sek=int(tolerance),
             registrerat={k: int(v * 100) for k, v in registered.items()},
             deklarerat={k: int(v * 100) for k, v in declared.items()})
        if deviations:
            code("register_avvikelse")
            reason("register_avvikelse", f"Inkomsterna i ansökan skiljer sig med mer än {fmt_kr(tolerance)} från "
                   f"uppgifterna i register ({'; '.join(deviations)}). Skillnaden måste utredas av en handläggare.",
                   lag_bistand)
    else:
        rule("manuell.register_avvikelse", registerkontroll=False)
        warning("Inkomster och arbetssökandestatus har inte kontrollerats mot register (SSBTEK). Kontrollera "
                "uppgifterna innan beslutet godkänns.")

    # 3.2 Norm
    lag_norm = p.get("lagrum.riksnorm")
    rule("norm.vuxna", antal_vuxna=len(adults), sambor_eller_makar=couple)
    if len(adults) == 1:
        row("norm", "Personliga kostnader, ensamstående", money(p.get("riksnorm.ensamstaende")))
    elif couple:
        row("norm", "Personliga kostnader, sambor/makar", money(p.get("riksnorm.sambor")))
    else:
        warning("Personliga kostnader för de vuxna är inte beräknade, eftersom hushållets sammansättning måste "
                "bedömas.")
    for ch in children:
        key = child_norm_key(ch["age"], ch["lunch"])
        amount = money(p.get("riksnorm." + key))
        lunch = ", lunch i förskolan" if key.endswith("_ej_lunch") else ""
        group = AGE_GROUP_TEXT[key.removesuffix("_ej_lunch")]
        rule("norm.barn", barn=ident[ch["pnr"]], alder=max(ch["age"], 0), lunch_i_forskolan=ch["lunch"],
             boende_procent=ch["share"], parameter="riksnorm." + key)
        if ch["share"] < 100:
            row("norm", f"Personliga kostnader, {label[ch['pnr']]} ({group}{lunch}), {ch['share']} % av "
                f"{fmt_kr(amount)}", round_kr(amount * ch["share"] / 100))
        else:
            row("norm", f"Personliga kostnader, {label[ch['pnr']]} ({group}{lunch})", amount)

    def common(persons):
        if persons <= 7:
            return money(p.get(f"riksnorm.gemensamma_{persons}"))
        seven = money(p.get("riksnorm.gemensamma_7"))
        six = money(p.get("riksnorm.gemensamma_6"))
        return seven + (persons - 7) * (seven - six)

    n = len(adults) + len(children)
    m = max(app["dwelling_persons"] or n, n)
    rule("norm.gemensamma", personer_i_hushallet=n, personer_i_bostaden=m)
    if m > n:
        whole = common(m)
        row("norm", f"Gemensamma hushållskostnader, {n} av {m} personer i bostaden ({fmt_kr(whole)} × {n}/{m})",
            round_kr(whole * n / m))
    else:
        row("norm", f"Gemensamma hushållskostnader, {'1 person' if n == 1 else f'{n} personer'}", common(n))
    reason("riksnorm", f"Hushållets kostnader enligt riksnormen är {fmt_kr(total('norm'))} per månad.", lag_norm)

    # 3.3 Reasonable costs
    lag_costs = p.get("lagrum.skaliga_kostnader")
    costs = app["costs"]
    capped = False
    ceiling = money(p.get(f"kommun.hyra_riktvarde_{min(len(children), 4)}_barn"))
    grace = p.get("kommun.radrum_manader")
    rent, notice = costs["rent"], app["rent_notice"]
    period = (app["first_day"].year, app["first_day"].month)
    rule("kostnader.boende", hyra=int(rent * 100), riktvarde=int(ceiling * 100), antal_barn=len(children),
         uppmaning_att_sanka=app["rent_notice_text"], radrum_manader=grace)
    if rent > ceiling:
        if notice is not None and months_between(notice, period) >= grace:
            capped = True
            row("costs", f"Boendekostnad, begränsad till riktvärdet (hyran är {fmt_kr(rent)})", ceiling, rent)
            code("hyra_over_riktvarde")
            household = ("ett hushåll utan barn" if not children else
                         f"ett hushåll med {len(children)} barn")
            told = month_text(*notice)
            reason("hyra_over_riktvarde", f"Hyran {fmt_kr(rent)} är högre än kommunens riktvärde {fmt_kr(ceiling)} "
                   f"för {household}. Du uppmanades i {told} att sänka din boendekostnad och har haft {grace} "
                   "månader på dig att ordna en billigare bostad. Boendekostnaden räknas därför med riktvärdet.",
                   lag_costs)
            best = (", och att barnets bästa inte talar för att godta den högre boendekostnaden"
                    if children else "")
            assessments.append({"code": "boendekostnad_skalighet", "text":
                                f"Bekräfta att den sökande i {told} fick veta att hyran {fmt_kr(rent)} är för hög "
                                f"och hade {grace} månader på sig att sänka boendekostnaden, att den sökande inte "
                                f"har visat att hen försökt skaffa en billigare bostad{best}. Annars ska hela hyran "
                                "godtas."})
            kommunicering.append({"code": "hyra_over_riktvarde", "text":
                                  f"Enligt våra uppgifter fick du i {told} veta att din hyra på {fmt_kr(rent)} är "
                                  f"högre än kommunens riktvärde på {fmt_kr(ceiling)} och att du behövde sänka din "
                                  f"boendekostnad. Om det stämmer räknas boendekostnaden med riktvärdet {fmt_kr(ceiling)}."})
        else:
            row("costs", "Boendekostnad (hyra)", rent)
            if notice is not None:
                warning(f"Hyran {fmt_kr(rent)} är högre än riktvärdet {fmt_kr(ceiling)}. Den sökande uppmanades "
                        f"{app['rent_notice_text']} att sänka boendekostnaden; hyran godtas under rådrummet "
                        f"({grace} månader) och begränsas till riktvärdet därefter.")
            else:
                warning(f"Hyran {fmt_kr(rent)} är högre än riktvärdet {fmt_kr(ceiling)}. Hyran godtas denna "
                        "månad; den sökande ska uppmanas att sänka boendekostnaden. Efter rådrummet "
                        f"({grace} månader) räknas högst riktvärdet.")
    elif rent > 0:
        row("costs", "Boendekostnad (hyra)", rent)
    rule("kostnader.ovriga", hushallsel=int(costs["electricity"] * 100),
         hemforsakring=int(costs["home_insurance"] * 100), fackavgift=int(costs["union_fee"] * 100),
         a_kasseavgift=int(costs["unemployment_fund_fee"] * 100), barnomsorg=int(costs["childcare"] * 100))
    for kind, text in (("electricity", "Hushållsel"), ("home_insurance", "Hemförsäkring"),
                       ("union_fee", "Fackavgift"), ("unemployment_fund_fee", "A-kasseavgift"),
                       ("childcare", "Barnomsorgsavgift")):
        if costs[kind] > 0:
            row("costs", text, costs[kind])
    travel_cap = money(p.get("kommun.arbetsresor_tak"))
    travel = costs["work_travel"]
    rule("kostnader.arbetsresor", arbetsresor=int(travel * 100), tak=int(travel_cap * 100))
    if travel > travel_cap:
        capped = True
        row("costs", f"Arbetsresor, begränsade till taket (ansökt {fmt_kr(travel)})", travel_cap, travel)
        code("arbetsresor_over_tak")
        reason("arbetsresor_over_tak", f"Kostnaden för arbetsresor {fmt_kr(travel)} är högre än kommunens tak "
               f"{fmt_kr(travel_cap)} per månad. Arbetsresor räknas med {fmt_kr(travel_cap)}.", lag_costs)
    elif travel > 0:
        row("costs", "Arbetsresor", travel)

    # 3.4 Incomes
    max_months = p.get("jobbstimulans.max_manader")
    start = app["stim_start"]
    if start is not None:
        stimulus = months_between(start, this_month) < max_months
    else:
        stimulus = (app["months"] >= p.get("jobbstimulans.manader_med_bistand")
                    and app["jobbstimulans_used"] < max_months)
    first_month = stimulus and start is None and app["jobbstimulans_used"] == 0
    rule("inkomster", antal=len(app["incomes"]), manader_med_bistand=app["months"],
         jobbstimulans_manader_anvanda=app["jobbstimulans_used"],
         jobbstimulans_start=None if start is None else f"{start[0]:04d}-{start[1]:02d}", jobbstimulans=stimulus)
    wages = {}
    for inc in app["incomes"]:
        row("incomes", f"{INCOME_LABELS[inc['kind']]}, {label[inc['person']]}", inc["amount"])
        if inc["kind"] == "lon":
            wages[inc["person"]] = wages.get(inc["person"], Decimal(0)) + inc["amount"]
    if stimulus:
        percent = p.get("jobbstimulans.procent")
        free_total = Decimal(0)
        for a in adults:
            if a["pnr"] in wages:
                free = round_kr(wages[a["pnr"]] * percent / 100)
                if free > 0:
                    rule("inkomster.jobbstimulans", person=ident[a["pnr"]], lon=int(wages[a["pnr"]] * 100),
                         procent=percent)
                    row("incomes", f"Jobbstimulans: {percent} % av lönen räknas inte, {label[a['pnr']]}", -free)
                    free_total += free
        if free_total > 0:
            if start is not None:
                why = (f"jobbstimulansen gäller i två år från {month_text(*start)} till och med "
                       f"{month_text(*month_plus(start, max_months - 1))}")
            else:
                why = (f"hushållet har haft försörjningsstöd i minst {p.get('jobbstimulans.manader_med_bistand')} "
                       "månader i följd")
            more = (f" Jobbstimulansen gäller i två år, från och med {manad} till och med "
                    f"{month_text(*month_plus(this_month, max_months - 1))}." if first_month else "")
            reason("jobbstimulans", f"{percent} % av lönen ({fmt_kr(free_total)}) räknas inte som inkomst, "
                   f"eftersom {why} (jobbstimulans).{more}", p.get("lagrum.jobbstimulans"))
            if first_month:
                rule("inkomster.jobbstimulans_start", jobbstimulans_manader_anvanda=app["jobbstimulans_used"])
    for ch in children:
        if ch["pnr"] in wages:
            pbb = money(p.get("prisbasbelopp.belopp"))
            earlier = ch["wage_earlier"]
            left = max(pbb - earlier, Decimal(0))
            free = min(wages[ch["pnr"]], left)
            rule("inkomster.barns_lon", barn=ident[ch["pnr"]], lon=int(wages[ch["pnr"]] * 100),
                 prisbasbelopp=int(pbb * 100), lon_tidigare_i_ar=int(earlier * 100),
                 kvar_av_prisbasbeloppet=int(left * 100))
            if free > 0:
                row("incomes", f"Barns arbetsinkomst upp till ett prisbasbelopp per år räknas inte, "
                    f"{label[ch['pnr']]}", -free)
                before = f" Barnet har tidigare i år haft {fmt_kr(earlier)} i lön." if earlier > 0 else ""
                reason("barns_arbetsinkomst", "Ett barns egen arbetsinkomst räknas inte som inkomst upp till ett "
                       f"prisbasbelopp ({fmt_kr(pbb)}) per kalenderår.{before} Därför räknas {fmt_kr(free)} av "
                       f"barnets lön för {manad} inte.", p.get("lagrum_tillagg.barns_arbetsinkomst"))
            elif left == 0:
                reason("barns_arbetsinkomst", "Ett barns egen arbetsinkomst räknas inte som inkomst upp till ett "
                       f"prisbasbelopp ({fmt_kr(pbb)}) per kalenderår. Barnet har redan i år haft "
                       f"{fmt_kr(earlier)} i lön, så barnets lön för {manad} räknas i sin helhet.",
                       p.get("lagrum_tillagg.barns_arbetsinkomst"))

    # 3.5 Assets
    allowance = money(p.get("kommun.tillgangar_fribelopp"))
    total_assets = sum(app["assets"], Decimal(0))
    rule("tillgangar", summa=int(total_assets * 100), fribelopp=int(allowance * 100))
    for kind, amount in zip(app["asset_kinds"], app["assets"]):
        row("assets", ASSET_LABELS[kind], amount)
    if total_assets > 0:
        row("assets", "Fribelopp för tillgångar", -min(total_assets, allowance))

    # 3.6 Result
    norm, cost, income, asset = total("norm"), total("costs"), total("incomes"), total("assets")
    need = norm + cost - income - asset
    amount = round_kr(need) if need > 0 else Decimal(0)
    rule("resultat", norm=int(norm * 100), kostnader=int(cost * 100), inkomster=int(income * 100),
         tillgangar=int(asset * 100))
    if any(c in MANUAL_CODES for c in codes):
        outcome, amount_sek = "manuell", None
    elif amount == 0:
        code("inkomster_tacker_behov")
        reason("inkomster_tacker_behov", f"Hushållets behov för {manad} är {fmt_kr(norm + cost)}. "
               f"Inkomster och tillgångar som räknas ({fmt_kr(income + asset)}) täcker behovet, och ansökan "
               "avslås.", lag_bistand)
        outcome, amount_sek = "avslag", 0
    else:
        reason("bistand", f"Hushållets behov för {manad} är {fmt_kr(norm + cost)}. Efter avdrag för "
               f"inkomster och tillgångar som räknas ({fmt_kr(income + asset)}) beviljas {fmt_kr(amount)} i "
               "försörjningsstöd.", lag_bistand)
        outcome, amount_sek = ("delvis_bifall" if capped else "bifall"), int(amount)

    def section(name):
        return {"total_sek": sek(total(name)),
                "rows": [dict({"label": r["label"], "amount_sek": sek(r["amount_sek"])},
                              **({"applied_sek": sek(r["applied_sek"])} if "applied_sek" in r else {}))
                         for r in rows[name]]}

    return {
        "schema": DRAFT_SCHEMA,
        "external_id": app["external_id"],
        "period": app["period"],
        "outcome": outcome,
        "amount_sek": amount_sek,
        "codes": codes,
        "calculation": {k: section(k) for k in ("norm", "costs", "incomes", "assets")},
        "reasons": reasons,
        "warnings": warnings + p.warnings(),
        "assessments": assessments,
        "kommunicering": kommunicering,
        "ruleset": {"name": parameters.manifest["name"], "version": parameters.manifest["version"]},
        "trace": trace,
    }


def label_of(ident: str) -> str:
    """"vuxen1" -> "vuxen 1"."""
    return ident.replace("vuxen", "vuxen ").replace("barn", "barn ")


def draft_bytes(raw: bytes, parameters: Parameters) -> dict:
    try:
        app = validate(load_json(raw))
    except Invalid as e:
        return {"exit_code": 2, "pointers": e.pointers}
    try:
        return {"draft": build_draft(app, parameters)}
    except LookupError as e:
        return {"exit_code": 1, "error": str(e)}


def evaluate_bytes(raw: bytes, parameters: Parameters) -> dict:
    try:
        app = validate(load_json(raw))
    except Invalid as e:
        return {"exit_code": 2, "pointers": e.pointers}
    try:
        return decide(app, parameters)
    except LookupError as e:  # no parameters for the period: not a decision, not invalid input
        return {"exit_code": 1, "error": str(e)}


# ---------------------------------------------------------------------------
# CLI


def input_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix == ".json" and p.is_file()
                      and not p.name.endswith(".expected.json"))
    return [path]


def check_examples(folder: Path, parameters: Parameters) -> int:
    failed = 0
    files = input_files(folder)
    for f in files:
        expected = json.loads(f.with_name(f.stem + ".expected.json").read_text("utf-8"))
        got = evaluate_bytes(f.read_bytes(), parameters)
        if "exit_code" in expected:
            ok = got.get("exit_code") == expected["exit_code"] and bool(
                set(got["pointers"]) & set(expected.get("pointer_any", got["pointers"]))
            )
        else:
            ok = (got.get("outcome") == expected["outcome"]
                  and got.get("amount_sek") == expected["amount_sek"]
                  and sorted(got.get("codes", [])) == sorted(expected["codes"]))
        print(f"{'ok  ' if ok else 'FAIL'} {f.name}" + ("" if ok else f"  got {got} expected {expected}"))
        failed += not ok
    print(f"{len(files) - failed} passed, {failed} failed")
    return 1 if failed else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", help="an application file or a folder of *.json files")
    ap.add_argument("--ruleset", type=Path, default=DEFAULT_RULESET,
                    help="ruleset folder whose parameter files are used")
    ap.add_argument("--check", action="store_true",
                    help="compare each NAME.json with NAME.expected.json")
    ap.add_argument("--drafts", action="store_true",
                    help="write whole drafts (rows, reasons, warnings, trace of inputs), not only the result")
    args = ap.parse_args(argv)
    parameters = Parameters(args.ruleset)
    path = Path(args.input)
    if args.check:
        return check_examples(path, parameters)
    worst = 0
    out = []
    evaluate = draft_bytes if args.drafts else evaluate_bytes
    for f in input_files(path):
        result = evaluate(f.read_bytes(), parameters)
        worst = max(worst, result.get("exit_code", 0))
        out.append(json.dumps({"file": f.name, **result}, ensure_ascii=False))
    sys.stdout.write("\n".join(out) + ("\n" if out else ""))
    return worst


if __name__ == "__main__":
    sys.exit(main())
