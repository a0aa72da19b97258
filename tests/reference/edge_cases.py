#!/usr/bin/env python3
"""Hand-made edge cases where the guide is silent or open to two readings.

Runs each case through hrobot and the Python reference and prints whether
they agree, with a note on what the guide says. Informational: disagreements
here are documented choices (see README.md), not test failures, unless
--strict is given.

    python3 tests/reference/edge_cases.py --hrobot target-bench/release/hrobot
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bistand  # noqa: E402

BASE = {
    "schema": bistand.SCHEMA,
    "external_id": "EDGE-1",
    "received_at": "2021-03-02T09:30:00+01:00",
    "period": "2021-03",
    "kind": "fortsatt",
    "applicant": "198112189876",
    "household": {"adults": [{"personnummer": "198112189876", "name": "Tolvan Test", "job_seeking": True}],
                  "children": []},
    "costs": {"rent": 5200, "electricity": 250, "home_insurance": 120},
    "incomes": [],
    "assets": [],
    "register": {"job_seekers": ["198112189876"], "incomes": []},
}
APPLICANT = BASE["applicant"]


def pnr(y: int, m: int, d: int, serial: int = 985) -> str:
    nine = f"{y % 100:02d}{m:02d}{d:02d}{serial:03d}"
    return f"{y:04d}{m:02d}{d:02d}{serial:03d}{bistand.luhn_check_digit(nine)}"


def case(change=None, raw=None):
    if raw is not None:
        return raw
    app = copy.deepcopy(BASE)
    if change:
        change(app)
    return json.dumps(app, ensure_ascii=False)


def child(**kw):
    return lambda a: a["household"]["children"].append(dict(name="Barn Test", **kw))


def two_adults(relation_first=None, relation_second=None):
    def f(a):
        second = {"personnummer": pnr(1985, 5, 5), "name": "Elva Test", "job_seeking": True}
        if relation_second is not None:
            second["relation"] = relation_second
        if relation_first is not None:
            a["household"]["adults"][0]["relation"] = relation_first
        a["household"]["adults"].append(second)
        a.pop("register")
    return f


def lon_rows(rows, months=6):
    def f(a):
        a["incomes"] = [{"person": APPLICANT, "kind": "lon", "amount": x} for x in rows]
        a.pop("register")
        a["history"] = {"consecutive_months_with_bistand": months, "jobbstimulans_months_used": 0}
    return f


def setp(path, value):
    def f(a):
        obj = a
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value
    return f


# name -> (application text, note on what the guide says)
CASES = {
    "manual_with_cap": (case(lambda a: (a.__setitem__("kind", "nyansokan"), a["costs"].__setitem__("work_travel", 900)))
                        , "3.3 gives the cap code whenever a cap applies; 3.1 lists the manual codes. Both: manual codes + cap codes."),
    "ten_digit_personnummer": (case(lambda a: (a.__setitem__("applicant", "811218-9876"),
                                               a["household"]["adults"][0].__setitem__("personnummer", "8112189876"))),
                               "2: '+ for age >= 100 (normalise to 12 digits)' implies the 10-digit form; century from the period's first day."),
    "plus_in_12_digits_under_100": (case(lambda a: a["household"]["adults"][0].__setitem__("personnummer", "19811218+9876")),
                                    "12 digits carry the century; '+' is redundant. Silent."),
    "child_born_later_in_period_month": (case(child(personnummer=pnr(2021, 3, 15))),
                                         "Age on the 1st would be -1. Silent. Both count the child as 0 years."),
    "child_born_after_period": (case(child(personnummer=pnr(2021, 6, 15))),
                                "Silent. hrobot: invalid; reference: counted as 0 years."),
    "duplicate_person": (case(child(personnummer=APPLICANT)),
                         "Silent. Both reject (a person counted twice)."),
    "duplicate_json_key": (json.dumps(BASE)[:-1] + ', "kind": "nyansokan"}',
                           "Silent (RFC 8259: names SHOULD be unique). hrobot rejects /kind; reference keeps the last."),
    "utf8_bom": ("\ufeff" + json.dumps(BASE), "'JSON, UTF-8'. RFC 8259 lets a parser ignore a BOM. hrobot accepts; reference rejects."),
    "integer_written_3.0": (case(raw=json.dumps(BASE).replace('"children": []', '"children": [], "dwelling_persons": 3.0')),
                            "'integer' fields: is 3.0 an integer? hrobot accepts; reference rejects."),
    "amount_1.500": (case(raw=json.dumps(BASE).replace('"rent": 5200', '"rent": 5200.500')),
                     "'at most two decimals': value or notation? Both accept (value)."),
    "amount_exponent": (case(raw=json.dumps(BASE).replace('"rent": 5200', '"rent": 5.2e3')), "Both accept."),
    "amount_above_1e9": (case(setp(["costs", "rent"], 1000000001)),
                         "No upper bound in the guide. hrobot rejects amounts above 1e9 kr (integer öre limit); reference accepts."),
    "exempt_reason_empty": (case(setp(["household", "adults", 0, "exempt_reason"], "")),
                            "'has an exempt_reason': is \"\" a reason? hrobot: no; reference: yes (manual)."),
    "exempt_reason_null": (case(setp(["household", "adults", 0, "exempt_reason"], None)), "Both: no reason."),
    "job_seeking_null": (case(setp(["household", "adults", 0, "job_seeking"], None)), "'missing counts as false'. Both: manual."),
    "name_empty": (case(setp(["household", "adults", 0, "name"], "")), "Silent. hrobot rejects; reference accepts."),
    "name_500_chars": (case(setp(["household", "adults", 0, "name"], "N" * 500)), "Silent. hrobot: at most 200 characters."),
    "register_job_seeker_not_in_household": (case(lambda a: a["register"]["job_seekers"].append(pnr(1970, 1, 1))),
                                             "Silent. hrobot rejects; reference ignores the extra number."),
    "register_income_not_in_household": (case(lambda a: a["register"]["incomes"].append(
        {"person": pnr(1970, 1, 1), "source": "FK", "kind": "lon", "amount": 5})), "Silent. Both reject."),
    "register_empty_object": (case(setp(["register"], {})), "Register present, no job seekers listed: both manual (ej_arbetssokande)."),
    "relation_on_first_adult_only": (case(two_adults(relation_first="sambo")),
                                     "'relation of the second adult'. Both: manual (hushallssammansattning)."),
    "second_adult_without_relation": (case(two_adults()), "Both: manual."),
    "jobbstimulans_two_wage_rows": (case(lon_rows([1001, 1001])),
                                    "'25 % (rounded) of each adult's lon': per adult (500.50 -> 501), not per row (250 + 250). Both per adult."),
    "child_wage_two_rows": (case(lambda a: (child(personnummer=pnr(2005, 5, 5))(a), a.pop("register"),
                                            a.__setitem__("incomes", [{"person": pnr(2005, 5, 5), "kind": "lon", "amount": 3000}] * 2))),
                            "Disregard is per child per month (sum of rows). Both."),
    "rent_notice_in_the_future": (case(lambda a: (a["costs"].__setitem__("rent", 7000), a.__setitem__(
        "history", {"consecutive_months_with_bistand": 6, "jobbstimulans_months_used": 0, "rent_notice_period": "2021-05"}))),
                                  "Not yet capped. Both."),
    "partial_history": (case(setp(["history"], {"consecutive_months_with_bistand": 7})), "Missing fields count as 0. Both accept."),
    "period_before_parameters": (case(setp(["period"], "2018-12")), "No parameters: hrobot exit 1 (ruleset error); reference the same."),
    "period_after_parameters": (case(setp(["period"], "2027-01")), "Latest value sets (2026) still apply. Both."),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hrobot", required=True)
    ap.add_argument("--ruleset", type=Path, default=bistand.DEFAULT_RULESET)
    ap.add_argument("--strict", action="store_true", help="exit 1 if any case disagrees")
    args = ap.parse_args(argv)
    params = bistand.Parameters(args.ruleset)
    with tempfile.TemporaryDirectory(prefix="edge-cases-") as tmp:
        folder = Path(tmp)
        for name, (text, _) in CASES.items():
            (folder / f"{name}.json").write_text(text, encoding="utf-8")
        proc = subprocess.run([args.hrobot, "evaluate", "--ruleset", str(args.ruleset), str(folder)],
                              capture_output=True, text=True, check=False)
        rs = {}
        for line in proc.stdout.splitlines():
            o = json.loads(line)
            if "draft" in o:
                d = o["draft"]
                rs[o["file"]] = {"outcome": d["outcome"], "amount_sek": d["amount_sek"], "codes": sorted(d["codes"])}
            else:
                rs[o["file"]] = {"exit_code": o["error"]["exit_code"], "pointers": o["error"]["pointers"]}
        differ = 0
        for name, (_, note) in CASES.items():
            f = folder / f"{name}.json"
            py = bistand.evaluate_bytes(f.read_bytes(), params)
            py.pop("error", None)
            r = rs.get(f.name)
            if "exit_code" in py or (r and "exit_code" in r):
                same = r is not None and py.get("exit_code") == r.get("exit_code")
            else:
                same = r is not None and all(py[k] == r.get(k) for k in ("outcome", "amount_sek", "codes"))
            differ += not same
            print(f"{'same' if same else 'DIFF'}  {name}")
            print(f"      reference {json.dumps(py, ensure_ascii=False)}")
            print(f"      hrobot    {json.dumps(r, ensure_ascii=False)}")
            print(f"      guide: {note}")
    print(f"{len(CASES)} cases, {differ} where the implementations differ")
    return 1 if args.strict and differ else 0


if __name__ == "__main__":
    sys.exit(main())
