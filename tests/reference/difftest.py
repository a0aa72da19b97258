#!/usr/bin/env python3
"""Differential test: hrobot against the Python reference (bistand.py).

Generates N random but realistic applications (and a share of invalid ones)
for the ekonomiskt-bistånd contract v2, writes them to a folder, runs
`hrobot evaluate --ruleset DIR FOLDER` once and the reference over the same
files, and compares outcome, amount_sek, codes (as sets) and exit codes. For
invalid input it also checks that some pointer hrobot names is one the
reference names.

    python3 tests/reference/difftest.py --hrobot target-bench/debug/hrobot \\
        --ruleset rulesets/ekonomiskt-bistand --n 2000 --seed 1

Deterministic for a given seed. Exit code 0 when everything agrees, 1 on any
mismatch (each printed with the file and both results; the folder is kept).
`--out DIR` writes the applications there (and keeps them), e.g. to reuse
them as benchmark input; `--only-generate` skips the comparison.

Personnummer are generated in Skatteverket's test range (födelsenummer
980–999, valid check digit); names are fake.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import subprocess
import sys
import tempfile
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.dont_write_bytecode = True
import bistand  # noqa: E402

FIRST_NAMES = ["Tolvan", "Elva", "Tian", "Nian", "Åttan", "Sjuan", "Sexan", "Femman", "Fyran", "Trean"]
LAST_NAMES = ["Testsson", "Exempel", "Provberg", "Fiktivsdotter", "Låtsasson"]
INCOME_KINDS = sorted(bistand.INCOME_KINDS)
ASSET_KINDS = sorted(bistand.ASSET_KINDS)
SOURCES = ["FK", "AKASSA", "CSN", "SKV", "PM", "AF"]


# ---------------------------------------------------------------------------
# JSON with exact decimal amounts


def dumps(v, indent=0) -> str:
    """JSON text; Decimal values are written as numbers exactly as given."""
    pad = "  " * (indent + 1)
    end = "  " * indent
    if isinstance(v, Raw):
        return v.text
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, dict):
        if not v:
            return "{}"
        items = [f"{pad}{json.dumps(k, ensure_ascii=False)}: {dumps(x, indent + 1)}" for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + end + "}"
    if isinstance(v, list):
        if not v:
            return "[]"
        return "[\n" + ",\n".join(pad + dumps(x, indent + 1) for x in v) + "\n" + end + "]"
    return json.dumps(v, ensure_ascii=False)


def twelve(pnr: str, first: dt.date) -> str:
    """The 12-digit form of a generated (valid) personnummer."""
    parsed = bistand.parse_personnummer(pnr, first)
    assert parsed is not None, pnr
    return parsed[0]


def other_format(pnr: str) -> str:
    """The same personnummer written with a dash if it had none, else without
    (a `+` stays: it carries the century in the 10-digit form)."""
    if "+" in pnr:
        return pnr
    digits = pnr.replace("-", "")
    return digits if len(digits) != len(pnr) else digits[:-4] + "-" + digits[-4:]


class Raw:
    """Literal JSON text for a value (e.g. 12.345 or 1e3)."""

    def __init__(self, text):
        self.text = text


# ---------------------------------------------------------------------------
# Generator


class Gen:
    def __init__(self, rng: random.Random, params: bistand.Parameters):
        self.r = rng
        self.params = params
        self.used = set()

    def chance(self, p: float) -> bool:
        return self.r.random() < p

    def pick(self, seq):
        return seq[self.r.randrange(len(seq))]

    def amount(self, lo: int, hi: int) -> Decimal:
        """0–2 decimals, realistic spread."""
        whole = self.r.randint(lo, hi)
        decimals = self.r.choice([0, 0, 0, 1, 2])
        if decimals == 0:
            return Decimal(whole)
        if decimals == 1:
            return Decimal(whole) + Decimal(self.r.randint(0, 9)) / 10
        return Decimal(whole) + Decimal(self.r.randint(0, 99)).scaleb(-2)

    def around(self, centre: Decimal, spread: int = 300) -> Decimal:
        """Values at and next to a boundary, or somewhere near it."""
        c = Decimal(centre)
        choice = self.r.randrange(9)
        if choice < 7:
            v = c + [Decimal(0), Decimal("-0.01"), Decimal("0.01"), Decimal(-1), Decimal(1),
                     Decimal("0.5"), Decimal("-0.5")][choice]
        else:
            v = c + self.amount(-spread, spread)
        return max(v, Decimal(0))

    def pnr(self, born: dt.date, samordning=False, sep=None) -> str:
        for _ in range(1000):
            serial = self.r.randint(980, 999)
            day = born.day + (60 if samordning else 0)
            nine = f"{born.year % 100:02d}{born.month:02d}{day:02d}{serial:03d}"
            digits = f"{born.year:04d}{born.month:02d}{day:02d}{serial:03d}{bistand.luhn_check_digit(nine)}"
            if digits not in self.used:
                self.used.add(digits)
                break
        if sep is None:
            sep = "-" if self.chance(0.2) else ""
        if self.chance(0.1):  # the 10-digit form, century from the period
            return digits[2:8] + sep + digits[8:]
        return digits[:8] + sep + digits[8:]

    def birth(self, first: dt.date, age: int, boundary: str | None = None) -> dt.date:
        """A birth date giving `age` on `first`, sometimes exactly on a birthday."""
        year = first.year - age
        if boundary == "birthday":  # turns `age` on the first day of the period
            return dt.date(year, first.month, 1)
        if boundary == "day_after":  # turns age+1 the day after the first
            return dt.date(year - 1, first.month, 2)
        # any day in the year before the next birthday
        start = dt.date(year - 1, first.month, 1) + dt.timedelta(days=1)
        end = dt.date(year, first.month, 1)
        return start + dt.timedelta(days=self.r.randrange((end - start).days + 1))

    def name(self) -> str:
        return f"{self.pick(FIRST_NAMES)} {self.pick(LAST_NAMES)}"

    def period(self) -> tuple[int, int]:
        return self.r.randint(2019, 2026), self.r.randint(1, 12)

    def application(self, i: int) -> dict:
        r = self.r
        self.used = set()  # personnummer are unique within an application
        year, month = self.period()
        first = dt.date(year, month, 1)
        pars = self.params.on(first)
        kommun = pars["kommun"]

        # Most applications are ordinary continued ones with a household the
        # robot can decide; the manual routes each get a share.
        n_adults = self.pick([1] * 12 + [2] * 7 + [3])
        adults = []
        for k in range(n_adults):
            bucket = r.random()
            boundary = None
            if bucket < 0.03:
                age, boundary = 18, "birthday"
            elif bucket < 0.05:
                age, boundary = 17, "day_after"
            elif bucket < 0.06:
                age = 17
            elif bucket < 0.07:
                age = r.randint(100, 104)
            else:
                age = r.randint(18, 75)
            born = self.birth(first, age, boundary)
            sep = "+" if age >= 100 and self.chance(0.7) else None
            a = {"personnummer": self.pnr(born, samordning=self.chance(0.05), sep=sep), "name": self.name()}
            js = r.random()
            if js < 0.93:
                a["job_seeking"] = True
            elif js < 0.97:
                a["job_seeking"] = False
            if self.chance(0.03):
                a["exempt_reason"] = self.pick(["sjukskriven", "föräldraledig", "studier"])
            if k == 1:
                rel = r.random()
                if rel < 0.5:
                    a["relation"] = "sambo"
                elif rel < 0.9:
                    a["relation"] = "make"
                elif rel < 0.95:
                    a["relation"] = "annan"
            elif k == 2 and self.chance(0.5):
                a["relation"] = self.pick(["sambo", "make", "annan"])
            adults.append(a)

        n_children = self.pick([0] * 10 + [1] * 5 + [2] * 5 + [3] * 3 + [4] * 2 + [5, 6, 7, 8, 9])
        children = []
        for _ in range(n_children):
            age = self.pick([0, 0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 13, 14, 15, 17, 18, 19, 20])
            boundary = self.pick([None, None, None, "birthday", "day_after"])
            if age == 0 and boundary == "day_after":
                boundary = None
            born = self.birth(first, age, boundary)
            ch = {"personnummer": self.pnr(born, samordning=self.chance(0.02)), "name": self.name()}
            lunch = r.random()
            if lunch < 0.4:
                ch["lunch_at_preschool"] = True
            elif lunch < 0.6:
                ch["lunch_at_preschool"] = False
            if self.chance(0.2):
                ch["residence_share_percent"] = self.pick([1, 25, 33, 50, 50, 67, 75, 99, 100, r.randint(1, 100)])
            # Contract v2: 19–20-year-olds count only while in upper
            # secondary school (otherwise manual); younger ones may say so too.
            if age >= 18:
                school = r.random()
                if school < 0.7:
                    ch["in_school"] = True
                elif school < 0.85:
                    ch["in_school"] = False
            elif self.chance(0.05):
                ch["in_school"] = self.chance(0.5)
            children.append(ch)

        size = n_adults + n_children
        household = {"adults": adults, "children": children}
        dwell = r.random()
        if dwell < 0.05:
            household["dwelling_persons"] = size
        elif dwell < 0.2:
            household["dwelling_persons"] = size + r.randint(1, 6)

        # costs
        ceiling = Decimal(kommun[f"hyra_riktvarde_{min(n_children, 4)}_barn"])
        costs = {}
        if self.chance(0.9):
            costs["rent"] = self.around(ceiling, 400) if self.chance(0.4) else self.amount(2500, int(ceiling) + 2000)
        for kind, lo, hi, p in [("electricity", 100, 900, 0.6), ("home_insurance", 80, 300, 0.6),
                                ("union_fee", 50, 500, 0.2), ("unemployment_fund_fee", 90, 200, 0.3),
                                ("childcare", 0, 1700, 0.2 if children else 0.02)]:
            if self.chance(p):
                costs[kind] = self.amount(lo, hi)
        if self.chance(0.3):
            costs["work_travel"] = self.around(Decimal(kommun["arbetsresor_tak"]), 400)
        if self.chance(0.03):
            costs["rent"] = Decimal(0)

        history = None
        if self.chance(0.75):
            history = {
                "consecutive_months_with_bistand": self.pick([0, 1, 3, 5, 5, 6, 6, 7, 12, 30]),
                "jobbstimulans_months_used": self.pick([0, 0, 1, 12, 23, 23, 24, 24, 25, 40]),
            }
            if self.chance(0.35):
                back = self.pick([-1, 0, 1, 2, 2, 3, 3, 4, 12, 30])
                m = year * 12 + (month - 1) - back
                history["rent_notice_period"] = f"{m // 12:04d}-{m % 12 + 1:02d}"
            if self.chance(0.3):  # contract v2: the case system knows the start month
                back = self.pick([0, 1, 6, 12, 22, 23, 23, 24, 24, 25, 40])
                m = year * 12 + (month - 1) - back
                history["jobbstimulans_start"] = f"{m // 12:04d}-{m % 12 + 1:02d}"

        # incomes
        members = [a["personnummer"] for a in adults] + [c["personnummer"] for c in children]
        incomes = []
        child_free = (Decimal(pars["prisbasbelopp"]["belopp"]) / 12).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
        for _ in range(self.pick([0, 0, 1, 1, 1, 2, 2, 3, 4])):
            if children and self.chance(0.25):
                person = self.pick(children)["personnummer"]
                if self.chance(0.7):
                    incomes.append({"person": person, "kind": "lon", "amount": self.around(child_free, 2000)})
                    continue
            else:
                person = self.pick(adults)["personnummer"]
            kind = "lon" if self.chance(0.35) else self.pick(INCOME_KINDS)
            if self.chance(0.1):
                person = other_format(person)
            incomes.append({"person": person, "kind": kind, "amount": self.amount(0, 14000)})
        if self.chance(0.05) and incomes:  # a second row of the same kind for the same person
            first_inc = self.pick(incomes)
            incomes.append({"person": first_inc["person"], "kind": first_inc["kind"], "amount": self.amount(1, 3000)})

        # Contract v2: a child's wage is free up to one prisbasbelopp per
        # calendar year; put the year's total at and around that boundary.
        pbb = Decimal(pars["prisbasbelopp"]["belopp"])
        for ch in children:
            wage = sum((inc["amount"] for inc in incomes
                        if inc["kind"] == "lon" and twelve(inc["person"], first) == twelve(ch["personnummer"], first)),
                       Decimal(0))
            if wage > 0 and self.chance(0.8):
                earlier = self.pick([pbb - wage, pbb - wage + Decimal("0.01"), pbb - wage - Decimal("0.01"),
                                     pbb, pbb + self.amount(1, 5000), Decimal(0), self.amount(0, int(pbb)),
                                     pbb - wage + Decimal("0.5")])
                ch["wage_earlier_this_year"] = max(earlier, Decimal(0))
            elif self.chance(0.05):
                ch["wage_earlier_this_year"] = self.amount(0, 60000)

        assets = []
        if self.chance(0.3):
            allowance = Decimal(kommun["tillgangar_fribelopp"])
            total = self.around(allowance, 1500)
            if self.chance(0.5):
                part = (total * Decimal(self.r.random())).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
                assets = [{"kind": self.pick(ASSET_KINDS), "amount": part},
                          {"kind": self.pick(ASSET_KINDS), "amount": total - part}]
            else:
                assets = [{"kind": self.pick(ASSET_KINDS), "amount": total}]

        register = None
        if self.chance(0.5):
            seekers = [a["personnummer"] for a in adults if a.get("job_seeking")]
            if seekers and self.chance(0.08):
                seekers.pop(r.randrange(len(seekers)))
            if self.chance(0.3):  # the register writes numbers its own way
                seekers = [other_format(s) for s in seekers]
            reg_incomes = []
            for inc in incomes:
                if self.chance(0.85):
                    delta = Decimal(0) if self.chance(0.7) else self.pick(
                        [Decimal(100), Decimal("100.01"), Decimal(101), Decimal(-100), Decimal("-100.01"),
                         Decimal(-101), Decimal("99.99"), Decimal(500)])
                    amount = max(inc["amount"] + delta, Decimal(0))
                    if self.chance(0.1) and amount > 1:  # split over two sources
                        half = (amount / 2).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
                        reg_incomes.append({"person": inc["person"], "source": self.pick(SOURCES),
                                            "kind": inc["kind"], "amount": half})
                        amount -= half
                    reg_incomes.append({"person": inc["person"], "source": self.pick(SOURCES),
                                        "kind": inc["kind"], "amount": amount})
            if self.chance(0.05):  # an undeclared registered income
                reg_incomes.append({"person": self.pick(members), "source": self.pick(SOURCES),
                                    "kind": self.pick(INCOME_KINDS),
                                    "amount": self.pick([Decimal(100), Decimal("100.01"), Decimal(101),
                                                         self.amount(0, 5000)])})
            register = {"job_seekers": seekers, "incomes": reg_incomes}

        app = {
            "schema": bistand.SCHEMA,
            "external_id": f"DT-{year}-{i:06d}",
            "received_at": f"{year:04d}-{month:02d}-0{r.randint(1, 9)}T{r.randint(7, 17):02d}:{r.randint(0, 59):02d}:00+01:00",
            "period": f"{year:04d}-{month:02d}",
            "kind": "nyansokan" if self.chance(0.06) else "fortsatt",
            "applicant": self.pick(adults)["personnummer"],
            "household": household,
            "costs": costs,
            "incomes": incomes,
            "assets": assets,
        }
        if self.chance(0.05):
            app["other_needs"] = [{"kind": self.pick(["tandvard", "glasogon", "mobler"]),
                                   "amount": self.amount(300, 6000), "description": "Behov enligt ansökan"}]
        if history is not None:
            app["history"] = history
        if register is not None:
            app["register"] = register
        return app

    # -- invalid applications: one mutation each, with the pointer it breaks

    def invalidate(self, app: dict) -> str:
        r = self.r
        hh = app["household"]
        first = dt.date(int(app["period"][:4]), int(app["period"][5:]), 1)

        def bad_check(p: str) -> str:
            d = twelve(p, first)
            return d[:11] + str((int(d[11]) + r.randint(1, 9)) % 10)

        options = []
        options.append(("applicant_check_digit", lambda: self._set_applicant(app, bad_check(app["applicant"]))))
        options.append(("adult_check_digit", lambda: hh["adults"][0].__setitem__(
            "personnummer", bad_check(hh["adults"][0]["personnummer"]))))
        options.append(("zero_birth_number", lambda: self._zero_birth(hh["adults"][0], first)))
        options.append(("impossible_date", lambda: hh["adults"][0].__setitem__(
            "personnummer", self._impossible_date(twelve(hh["adults"][0]["personnummer"], first)))))
        options.append(("negative_amount", lambda: app["costs"].__setitem__("electricity", Decimal("-1"))))
        options.append(("three_decimals", lambda: app["costs"].__setitem__("rent", Raw("5200.125"))))
        options.append(("amount_string", lambda: app["costs"].__setitem__("home_insurance", "120")))
        options.append(("unknown_income_kind", lambda: app["incomes"].append(
            {"person": app["applicant"], "kind": "lotterivinst", "amount": Decimal(100)})))
        options.append(("income_stranger", lambda: app["incomes"].append(
            {"person": self.pnr(dt.date(1970, 5, 5)), "kind": "lon", "amount": Decimal(100)})))
        options.append(("income_amount_bool", lambda: app["incomes"].append(
            {"person": app["applicant"], "kind": "lon", "amount": True})))
        options.append(("child_21", lambda: hh["children"].append(
            {"personnummer": self.pnr(self.birth(first, 21, self.pick([None, "birthday"]))), "name": self.name()})))
        options.append(("dwelling_small", lambda: hh.__setitem__(
            "dwelling_persons", len(hh["adults"]) + len(hh["children"]) - 1)))
        options.append(("share_0", lambda: hh["children"].append(
            {"personnummer": self.pnr(self.birth(first, 5)), "name": self.name(),
             "residence_share_percent": self.pick([0, 101, 50.5])})))
        options.append(("schema", lambda: app.__setitem__("schema", "ekonomiskt-bistand/ansokan/v2")))
        options.append(("external_id", lambda: app.__setitem__("external_id", self.pick(["", "x" * 65, "EX 1", "EX/1"]))))
        options.append(("received_at", lambda: app.__setitem__("received_at", self.pick(
            ["2021-03-02", "2021-02-30T09:00:00+01:00", "igår", "2021-03-02T25:00:00Z"]))))
        options.append(("period", lambda: app.__setitem__("period", self.pick(["2021-13", "2021-3", "202103", "2021-00"]))))
        options.append(("kind", lambda: app.__setitem__("kind", self.pick(["ny", "Fortsatt", ""]))))
        options.append(("applicant_is_child", lambda: self._applicant_child(app)))
        options.append(("no_adults", lambda: hh.__setitem__("adults", [])))
        options.append(("relation", lambda: self._bad_relation(hh)))
        options.append(("job_seeking_string", lambda: hh["adults"][0].__setitem__("job_seeking", "ja")))
        options.append(("asset_kind", lambda: app["assets"].append({"kind": "bitcoin", "amount": Decimal(5)})))
        options.append(("notice_period", lambda: app.setdefault("history", {
            "consecutive_months_with_bistand": 1, "jobbstimulans_months_used": 0}).__setitem__(
            "rent_notice_period", "2021-14")))
        options.append(("stim_start_after_period", lambda: app.setdefault("history", {
            "consecutive_months_with_bistand": 6, "jobbstimulans_months_used": 0}).__setitem__(
            "jobbstimulans_start", self._later_period(app["period"]))))
        options.append(("earlier_wage_negative", lambda: hh["children"].append(
            {"personnummer": self.pnr(self.birth(first, 16)), "name": self.name(),
             "wage_earlier_this_year": self.pick([Decimal("-0.01"), Raw("100.001"), "100"])})))
        options.append(("in_school_string", lambda: hh["children"].append(
            {"personnummer": self.pnr(self.birth(first, 19)), "name": self.name(), "in_school": "ja"})))
        options.append(("not_json", lambda: None))
        options.append(("cost_negative_small", lambda: app["costs"].__setitem__("work_travel", Decimal("-0.01"))))
        name, mutate = self.pick(options)
        mutate()
        return name

    def _later_period(self, period: str) -> str:
        m = int(period[:4]) * 12 + int(period[5:]) - 1 + self.pick([1, 1, 2, 13])
        return f"{m // 12:04d}-{m % 12 + 1:02d}"

    def _set_applicant(self, app, pnr):
        old = app["applicant"]
        app["applicant"] = pnr
        for a in app["household"]["adults"]:
            if a["personnummer"] == old:
                a["personnummer"] = pnr
        for inc in app["incomes"]:
            if inc["person"] == old:
                inc["person"] = pnr

    def _zero_birth(self, adult, first):
        d = twelve(adult["personnummer"], first)
        nine = d[2:8] + "000"
        adult["personnummer"] = d[:8] + "000" + str(bistand.luhn_check_digit(nine))

    def _impossible_date(self, d):
        yyyymmdd = self.pick([d[:4] + "0230", d[:4] + "1301", d[:4] + "0431", d[:4] + "0100"])
        nine = yyyymmdd[2:] + d[8:11]
        return yyyymmdd + d[8:11] + str(bistand.luhn_check_digit(nine))

    def _applicant_child(self, app):
        hh = app["household"]
        if not hh["children"]:
            first = dt.date(int(app["period"][:4]), int(app["period"][5:]), 1)
            hh["children"].append({"personnummer": self.pnr(self.birth(first, 8)), "name": self.name()})
        app["applicant"] = hh["children"][0]["personnummer"]

    def _bad_relation(self, hh):
        if len(hh["adults"]) < 2:
            hh["adults"].append({"personnummer": self.pnr(dt.date(1980, 7, 7)), "name": self.name(),
                                 "job_seeking": True})
        hh["adults"][1]["relation"] = self.pick(["gift", "Sambo", "partner"])


# ---------------------------------------------------------------------------
# Running and comparing


NEED_TARGETS = [Decimal(0), Decimal("0.01"), Decimal("0.49"), Decimal("0.5"), Decimal("0.51"),
                Decimal("-0.01"), Decimal(1), Decimal("1.5")]


def steer_need(g: Gen, app: dict, params: bistand.Parameters) -> None:
    """Adds an income or a cost so that the exact need lands on a rounding or
    zero boundary (exactly zero need, 0.49/0.5 kr …), keeping the outcome
    decidable. Uses the reference only to construct the input."""
    try:
        checked = bistand.validate(json.loads(dumps(app), parse_float=Decimal))
    except bistand.Invalid:
        return
    notes = {}
    bistand.decide(checked, params, notes)
    if notes["manual"]:
        return
    target = g.pick(NEED_TARGETS)
    gap = notes["need"] - target
    if gap > 0:
        app["incomes"].append({"person": app["applicant"], "kind": "skatteaterbaring", "amount": gap})
        if "register" in app:  # the register reports it too, so nothing deviates
            app["register"]["incomes"].append({"person": app["applicant"], "source": "SKV",
                                               "kind": "skatteaterbaring", "amount": gap})
    elif gap < 0:
        app["costs"]["childcare"] = app["costs"].get("childcare", Decimal(0)) - gap


def generate(n: int, seed: int, params: bistand.Parameters, out: Path, invalid_share: float) -> dict:
    rng = random.Random(seed)
    g = Gen(rng, params)
    kinds = {}
    for i in range(n):
        app = g.application(i)
        name = f"case-{i:06d}.json"
        if rng.random() < 0.1:
            steer_need(g, app, params)
        if rng.random() < invalid_share:
            kind = g.invalidate(app)
            kinds[name] = kind
            if kind == "not_json":
                (out / name).write_bytes(dumps(app).encode("utf-8")[:-3])
                continue
        (out / name).write_text(dumps(app) + "\n", encoding="utf-8")
    return kinds


class Coverage:
    """Counts decided (not manual) applications that sit on a boundary."""

    def __init__(self):
        self.hits = {k: 0 for k in [
            "need=0", "0<need<0.5", "need=0.5", "need<0", "jobbstimulans_x.5", "stim_months=5", "stim_months=6",
            "stim_used=23", "stim_used=24", "child_year=pbb-0.01",
            "rent_notice+2", "rent_notice+3", "rent_no_notice", "travel=cap", "travel=cap+0.01",
            "assets=allowance", "assets=allowance+0.01", "register_diff=100", "register_diff=100.01",
            "stim_start+23", "stim_start+24", "stim_start_interrupted", "child_year=pbb", "child_year=pbb+0.01",
            "child_earlier>=pbb", "youth_in_school", "youth_not_in_school(manual)", "rent_cap_applied",
            "child_share_x.5", "dwelling_x.5", "members>7", "dwelling>7", "child_age_0", "child_age_19_20",
            "birthday_on_1st",
        ]}

    def add(self, raw: bytes, params: bistand.Parameters) -> None:
        try:
            app = bistand.validate(bistand.load_json(raw))
        except bistand.Invalid:
            return
        notes = {}
        bistand.decide(app, params, notes)
        h = self.hits
        if notes["register_diffs"] if "register_diffs" in notes else False:
            h["register_diff=100"] += Decimal(100) in notes["register_diffs"]
            h["register_diff=100.01"] += Decimal("100.01") in notes["register_diffs"]
        h["youth_not_in_school(manual)"] += "ungdom_19_20" in notes["manual"]
        if notes["manual"]:
            return
        h["youth_in_school"] += any(c["age"] >= 19 and c["in_school"] for c in app["children"])
        h["rent_cap_applied"] += notes.get("rent_capped", False)
        if app.get("stim_start") is not None and any(i["kind"] == "lon" for i in app["incomes"]):
            first = app["first_day"]
            since = bistand.months_between(app["stim_start"], (first.year, first.month))
            h["stim_start+23"] += since == 23
            h["stim_start+24"] += since == 24
            h["stim_start_interrupted"] += since < 24 and app["months"] < 6
        cw = notes.get("child_wage_minus_free")
        h["child_year=pbb"] += cw == 0
        h["child_year=pbb+0.01"] += cw == Decimal("0.01")
        h["child_earlier>=pbb"] += (notes.get("child_earlier_minus_pbb") or Decimal(-1)) >= 0
        need = notes["need"]
        h["need=0"] += need == 0
        h["0<need<0.5"] += 0 < need < Decimal("0.5")
        h["need=0.5"] += need == Decimal("0.5")
        h["need<0"] += need < 0
        h["jobbstimulans_x.5"] += notes.get("jobbstimulans_fraction") == Decimal("0.5")
        wages = any(i["kind"] == "lon" for i in app["incomes"])
        h["stim_months=5"] += wages and app["months"] == 5
        h["stim_months=6"] += wages and app["months"] == 6
        h["stim_used=23"] += wages and app["months"] >= 6 and app["jobbstimulans_used"] == 23
        h["stim_used=24"] += wages and app["months"] >= 6 and app["jobbstimulans_used"] == 24
        h["child_year=pbb-0.01"] += cw == Decimal("-0.01")
        months = notes.get("rent_over_ceiling_months", "absent")
        h["rent_notice+2"] += months == 2
        h["rent_notice+3"] += months == 3
        h["rent_no_notice"] += months is None
        h["travel=cap"] += notes["travel_minus_cap"] == 0
        h["travel=cap+0.01"] += notes["travel_minus_cap"] == Decimal("0.01")
        h["assets=allowance"] += notes["assets_minus_allowance"] == 0 and bool(app["assets"])
        h["assets=allowance+0.01"] += notes["assets_minus_allowance"] == Decimal("0.01")
        h["child_share_x.5"] += notes.get("child_share_fraction") == Decimal("0.5")
        h["dwelling_x.5"] += notes.get("dwelling_fraction") == Decimal("0.5")
        h["members>7"] += notes["members"] > 7
        h["dwelling>7"] += (app["dwelling_persons"] or 0) > 7
        h["child_age_0"] += any(c["age"] == 0 for c in app["children"])
        h["child_age_19_20"] += any(c["age"] >= 19 for c in app["children"])
        first = app["first_day"]
        h["birthday_on_1st"] += any(
            bistand.parse_personnummer(c["pnr"])[1].replace(year=first.year) == first
            if bistand.parse_personnummer(c["pnr"])[1].month != 2 or bistand.parse_personnummer(c["pnr"])[1].day != 29
            else False
            for c in app["children"] + app["adults"])


def run_hrobot(hrobot: str, ruleset: Path, folder: Path) -> tuple[int, dict]:
    proc = subprocess.run([hrobot, "evaluate", "--ruleset", str(ruleset), str(folder)],
                          capture_output=True, text=True, check=False)
    results = {}
    for line in proc.stdout.splitlines():
        obj = json.loads(line)
        if "draft" in obj:
            d = obj["draft"]
            results[obj["file"]] = {"outcome": d["outcome"], "amount_sek": d["amount_sek"],
                                    "codes": sorted(d["codes"])}
        else:
            e = obj["error"]
            results[obj["file"]] = {"exit_code": e["exit_code"], "pointers": e.get("pointers", []),
                                    "message": e.get("message", "")}
    return proc.returncode, results


def agree(py: dict, rs: dict | None) -> bool:
    if rs is None:
        return False
    if "exit_code" in py or "exit_code" in rs:
        if py.get("exit_code") != rs.get("exit_code"):
            return False
        if py["exit_code"] == 2:
            # no pointer on either side (not JSON), or some pointer in common
            if not py["pointers"] and not rs["pointers"]:
                return True
            return bool(set(py["pointers"]) & set(rs["pointers"]))
        return True
    return (py["outcome"] == rs["outcome"] and py["amount_sek"] == rs["amount_sek"]
            and set(py["codes"]) == set(rs["codes"]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="hrobot vs the Python reference on random applications")
    ap.add_argument("--hrobot", help="path to the hrobot binary")
    ap.add_argument("--ruleset", type=Path, default=bistand.DEFAULT_RULESET)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--invalid-share", type=float, default=0.08)
    ap.add_argument("--out", type=Path, help="write the applications here and keep them")
    ap.add_argument("--only-generate", action="store_true", help="write the applications, compare nothing")
    ap.add_argument("--max-report", type=int, default=50, help="print at most this many mismatches")
    args = ap.parse_args(argv)
    if not args.only_generate and not args.hrobot:
        ap.error("--hrobot is required unless --only-generate")

    params = bistand.Parameters(args.ruleset)
    if args.out:
        folder = args.out
        folder.mkdir(parents=True, exist_ok=True)
        keep = True
    else:
        folder = Path(tempfile.mkdtemp(prefix="difftest-"))
        keep = False
    invalid_kinds = generate(args.n, args.seed, params, folder, args.invalid_share)
    if args.only_generate:
        print(f"wrote {args.n} applications to {folder}")
        return 0

    code, rs_results = run_hrobot(args.hrobot, args.ruleset, folder)
    mismatches = []
    tally = {}
    cover = Coverage()
    for f in sorted(folder.glob("*.json")):
        py = bistand.evaluate_bytes(f.read_bytes(), params)
        cover.add(f.read_bytes(), params)
        rs = rs_results.get(f.name)
        key = py.get("outcome") or f"invalid:{invalid_kinds.get(f.name, '?')}"
        tally[key] = tally.get(key, 0) + 1
        if not agree(py, rs):
            mismatches.append((f.name, py, rs))
    if rs_results and any(r.get("exit_code") == 1 for r in rs_results.values()):
        print("hrobot reported ruleset or I/O errors (exit code 1) for some files")

    print(f"difftest: seed {args.seed}, {args.n} applications, hrobot exit code {code}")
    print("  " + ", ".join(f"{k} {v}" for k, v in sorted(tally.items())))
    print("  boundaries hit in decided cases: " + ", ".join(f"{k} {v}" for k, v in cover.hits.items()))
    for name, py, rs in mismatches[: args.max_report]:
        print(f"MISMATCH {name}")
        print(f"  reference: {json.dumps(py, ensure_ascii=False)}")
        print(f"  hrobot:    {json.dumps(rs, ensure_ascii=False)}")
    if len(mismatches) > args.max_report:
        print(f"… and {len(mismatches) - args.max_report} more")
    print(f"{len(mismatches)} mismatches")
    if mismatches:
        keep = True
    if keep:
        print(f"applications kept in {folder}")
    else:
        shutil.rmtree(folder)
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
