#!/usr/bin/env python3
"""Writes the demo data: applications in inbox/, register answers in
register/<personnummer>/<period>.json, the personnummer used in
testpersonnummer.txt and the scenario table in README.md.

Every personnummer is one of Skatteverket's test personnummer (the open data
set "Testpersonnummer"): numbers that Skatteverket keeps for testing and that
belong to no real person. Names are ordinary and neutral; the scenario is in
`external_id`, never in a name.

    python3 ops/demo/generate.py                  # rebuild from testpersonnummer.txt
    python3 ops/demo/generate.py --full-list F    # draw anew from Skatteverket's list (CSV)
    python3 ops/demo/generate.py --check          # only check the files in ops/demo

Without --full-list the numbers are drawn from testpersonnummer.txt, which
holds exactly the numbers the demo uses, so the output is the same as the run
that wrote it. A scenario that needs a new age or sex needs Skatteverket's
full list once (see the header of testpersonnummer.txt)."""
import argparse, datetime, hashlib, glob, json, os, re, shutil, sys

HERE = os.path.dirname(os.path.abspath(__file__))
PERIOD = "2026-12"
FIRST_DAY = datetime.date(2026, 12, 1)  # ages are whole years on this day
RECEIVED = "2026-11-25T08:15:00+01:00"
SUBSET = os.path.join(HERE, "testpersonnummer.txt")
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

SUBSET_HEADER = """\
# Skatteverket's test personnummer used by the demo (ops/demo/generate.py).
#
# Source: Skatteverket, open data set "Testpersonnummer" (personal identity
# numbers that Skatteverket reserves for testing; they belong to no real
# person), listed on dataportal.se (datasets/6_67959/testpersonnummer) as CSV
# files per birth-year range with one column, "testpersonnummer".
# Skatteverket publishes it as open data for reuse; the exact licence was not
# checked when this file was written (see the data set's page).
# The numbers were drawn from the list as published in February 2023 (birth
# years 1890-2023, 21 728 numbers), read from a public copy generated from
# Skatteverket's CSV files (ActiveLogin/ActiveLogin.Identity, TestData
# AllPins.fs, commit e74aab6); every number's check digit is verified.
#
# Only the numbers the demo uses are kept here, one a line, sorted; the full
# list is not vendored. To draw numbers for a new scenario, download the CSV
# files from the data set and run
#     python3 ops/demo/generate.py --full-list FILE [--full-list FILE ...]
# which rewrites this file. Every personnummer in ops/demo must be listed
# here (generate.py --check and robot-runtime's demo_data test check it); the
# only exception is the deliberately invalid application, whose number has a
# wrong check digit and so is no one's personnummer.
#
# That list has no numbers born after 2023, so the demo has no child younger
# than 2 on 2026-12-01 (the youngest is born in December 2023), and few born
# 1971-1978 (ages 48-55 are avoided).
"""


def luhn(nine):
    s = 0
    for i, ch in enumerate(nine):
        v = int(ch) * (2 if i % 2 == 0 else 1)
        s += v - 9 if v > 9 else v
    return (10 - s % 10) % 10


def valid_pnr(p):
    return bool(re.fullmatch(r"(18|19|20)\d{10}", p)) and luhn(p[2:11]) == int(p[11])


def birth_date(p):
    return datetime.date(int(p[0:4]), int(p[4:6]), int(p[6:8]))


def age_on(p, day=FIRST_DAY):
    b = birth_date(p)
    return day.year - b.year - ((day.month, day.day) < (b.month, b.day))


def read_numbers(path):
    out = set()
    with open(path, encoding="utf-8-sig") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            for tok in re.findall(r"\d{12}", line):
                if valid_pnr(tok):
                    out.add(tok)
    return out


# ---------------------------------------------------------------- drawing


class Pool:
    """Test personnummer: of the unused numbers of the right age and sex, the
    one whose hash with the person's name is smallest (so birth dates spread
    over the year). Drawing from the subset the last run wrote gives the same
    numbers as drawing from the full list did: each number drawn was the
    smallest among everything still unused, so also among the subset."""

    def __init__(self, numbers):
        self.numbers = sorted(numbers)
        self.used = []

    def draw(self, age, sex, key):
        assert sex in ("F", "M")
        best = None
        for p in self.numbers:
            if p in self.used or age_on(p) != age:
                continue
            # The ninth digit (third of the serial) is odd for men, even for women.
            if (int(p[10]) % 2 == 1) != (sex == "M"):
                continue
            h = hashlib.sha256(f"{key}|{p}".encode()).hexdigest()
            if best is None or h < best[0]:
                best = (h, p)
        if best:
            self.used.append(best[1])
            return best[1]
        sys.exit(
            f"no test personnummer left for age {age} ({sex}) on {FIRST_DAY}: "
            f"run with --full-list (Skatteverket's CSV); if the full list has none either, "
            f"choose another age for the scenario"
        )


pool = None
apps, register, scenarios = [], {}, []

SOURCE = {"lon": "SKV", "a_kassa": "AKASSA", "studiemedel": "CSN", "pension": "PM"}


def adult(age, sex, name, **kw):
    a = {"personnummer": pool.draw(age, sex, name), "name": name, "job_seeking": True}
    a.update(kw)
    return a


def child(age, sex, name, **kw):
    c = {"personnummer": pool.draw(age, sex, name), "name": name}
    c.update(kw)
    return c


def inc(person, kind, amount):
    return {"person": person["personnummer"], "kind": kind, "amount": amount}


def app(n, slug, expect, adults, children=(), costs=None, incomes=(), assets=(), kind="fortsatt",
        history=None, other_needs=None, dwelling=None, v1=None, note=""):
    """`expect`: (outcome, codes) under ruleset contract v2; `v1`: the same
    under the v1 ruleset where it differs (the v2 fields are ignored there)."""
    eid = f"DEMO-{PERIOD}-{n:03d}-{slug}"
    assert EXTERNAL_ID.match(eid), eid
    a = {
        "schema": "ekonomiskt-bistand/ansokan/v1",
        "external_id": eid,
        "received_at": RECEIVED,
        "period": PERIOD,
        "kind": kind,
        "applicant": adults[0]["personnummer"],
        "household": {"adults": list(adults), "children": list(children)},
        "costs": costs or {"rent": 5800, "electricity": 300, "home_insurance": 150},
        "incomes": list(incomes),
        "assets": list(assets),
        "history": history or {"consecutive_months_with_bistand": 4, "jobbstimulans_months_used": 0},
    }
    if other_needs:
        a["other_needs"] = other_needs
    if dwelling:
        a["household"]["dwelling_persons"] = dwelling
    apps.append((n, a))
    scenarios.append((eid, expect, v1, note))
    return a


def answer(person, job_seeker=True, incomes=()):
    register[person["personnummer"]] = {"job_seeker": job_seeker, "incomes": list(incomes)}


def reg_inc(source, kind, amount):
    return {"source": source, "kind": kind, "amount": amount}


def registered(a, job=True):
    """Register answers that agree with what the application declares: each
    adult's answer (job seeker or not, the incomes), and an answer for each
    child with incomes of their own."""
    for ad in a["household"]["adults"]:
        mine = [i for i in a["incomes"] if i["person"] == ad["personnummer"]]
        answer(ad, job, [reg_inc(SOURCE.get(i["kind"], "FK"), i["kind"], i["amount"]) for i in mine])
    for c in a["household"]["children"]:
        mine = [i for i in a["incomes"] if i["person"] == c["personnummer"]]
        if mine:
            answer(c, False, [reg_inc(SOURCE.get(i["kind"], "FK"), i["kind"], i["amount"]) for i in mine])


# Barnbidrag (Försäkringskassan, per month): 1 250 kr a child under 16, plus
# flerbarnstillägg for the second child on (2 children 2 650, 3 children
# 4 480, 4 children 6 740 in all). A youth of 16-19 in upper secondary school
# gets studiebidrag (CSN, 1 250 kr, September-June) instead, and still counts
# for flerbarnstillägg. Växelvis boende: each parent gets half.
BARNBIDRAG = {1: 1250, 2: 2650, 3: 4480, 4: 6740}
STUDIEBIDRAG = 1250
BIFALL, DELVIS, AVSLAG, MANUELL, INVALID = "bifall", "delvis_bifall", "avslag", "manuell", "invalid"


def scenarios_v2():
    # 1-10: bifall of different shapes
    a = app(1, "ensamstaende-utan-inkomst", (BIFALL, []), [adult(46, "F", "Anna Lindqvist")])
    registered(a)
    p = adult(38, "M", "Daniel Öberg")
    a = app(2, "a-kassa", (BIFALL, []), [p], incomes=[inc(p, "a_kassa", 7200)],
            costs={"rent": 6100, "electricity": 280, "home_insurance": 130, "unemployment_fund_fee": 160})
    registered(a)
    p1, p2 = adult(41, "F", "Sofia Andersson"), adult(43, "M", "Samir Haddad", relation="sambo")
    c1, c2 = child(9, "F", "Alma Haddad"), child(4, "M", "Elias Haddad", lunch_at_preschool=True)
    a = app(3, "sambor-tva-barn", (BIFALL, []), [p1, p2], [c1, c2],
            costs={"rent": 8100, "electricity": 520, "home_insurance": 210, "childcare": 380},
            incomes=[inc(p1, "barnbidrag", BARNBIDRAG[2]), inc(p1, "bostadsbidrag", 1900)])
    registered(a)
    p = adult(34, "F", "Tiina Mäkinen")
    a = app(4, "lon-med-jobbstimulans", (BIFALL, []), [p], incomes=[inc(p, "lon", 6400)],
            costs={"rent": 5500, "electricity": 250, "home_insurance": 120, "work_travel": 640},
            history={"consecutive_months_with_bistand": 9, "jobbstimulans_months_used": 3},
            note="jobbstimulans by the month count (no start month from the case system)")
    registered(a)
    p = adult(56, "M", "Marcus Ek")
    c = child(13, "F", "Wilma Ek", residence_share_percent=50)
    a = app(5, "vaxelvis-boende", (BIFALL, []), [p], [c],
            costs={"rent": 6900, "electricity": 300, "home_insurance": 140},
            incomes=[inc(p, "barnbidrag", BARNBIDRAG[1] // 2)], note="delat barnbidrag, 625 kr")
    registered(a)
    a = app(6, "delad-bostad", (BIFALL, []), [adult(27, "M", "Emil Sandberg")],
            costs={"rent": 2600, "home_insurance": 95}, dwelling=4)
    registered(a)
    p = adult(58, "F", "Maria Kowalska")
    a = app(7, "omstallningspension", (BIFALL, []), [p], incomes=[inc(p, "pension", 4100)],
            costs={"rent": 5900, "electricity": 240, "home_insurance": 110})
    registered(a)
    p = adult(35, "F", "Ida Svensson")
    c = child(2, "M", "Otto Svensson")
    a = app(8, "foraldrapenning", (BIFALL, []), [p], [c],
            incomes=[inc(p, "foraldrapenning", 5400), inc(p, "barnbidrag", BARNBIDRAG[1])],
            costs={"rent": 6600, "electricity": 330, "home_insurance": 150})
    registered(a)
    p = adult(43, "F", "Hanna Berglund")
    a = app(9, "etableringsersattning", (BIFALL, []), [p], incomes=[inc(p, "etableringsersattning", 3900)],
            costs={"rent": 5200, "electricity": 260, "home_insurance": 120})
    registered(a)
    p1, p2 = adult(46, "F", "Lena Holm"), adult(47, "M", "Peter Holm", relation="make")
    kids = [child(15, "F", "Vera Holm"), child(12, "M", "Axel Holm"), child(9, "F", "Stella Holm"),
            child(5, "M", "Love Holm")]
    a = app(10, "fyra-barn-hyra-over-riktvarde-under-radrum", (BIFALL, []), [p1, p2], kids,
            costs={"rent": 9900, "electricity": 650, "home_insurance": 260},
            incomes=[inc(p1, "barnbidrag", BARNBIDRAG[4]), inc(p2, "aktivitetsstod", 5600)],
            history={"consecutive_months_with_bistand": 2, "jobbstimulans_months_used": 0,
                     "rent_notice_period": "2026-10"},
            note="rent 9 900 over the ceiling 9 600, told 2026-10: accepted in full with a warning until 2027-01")
    registered(a)

    # 11-13: delvis bifall (caps); adverse, so kommunicering before deciding
    a = app(11, "hyra-over-riktvarde", (DELVIS, ["hyra_over_riktvarde"]), [adult(60, "M", "Oskar Nyberg")],
            costs={"rent": 7600, "electricity": 310, "home_insurance": 130},
            history={"consecutive_months_with_bistand": 12, "jobbstimulans_months_used": 0,
                     "rent_notice_period": "2026-05"},
            note="rent capped at 6 500 (told 2026-05); assessment boendekostnad_skalighet; kommunicering")
    registered(a)
    p = adult(31, "F", "Elin Johansson")
    c = child(7, "F", "Nora Johansson")
    a = app(12, "hyra-over-riktvarde-radrum-slut", (DELVIS, ["hyra_over_riktvarde"]), [p], [c],
            costs={"rent": 8400, "electricity": 320, "home_insurance": 140},
            incomes=[inc(p, "barnbidrag", BARNBIDRAG[1])],
            history={"consecutive_months_with_bistand": 7, "jobbstimulans_months_used": 0,
                     "rent_notice_period": "2026-09"},
            note="told 2026-09, capped from 2026-12 exactly (rådrum 3 months); ceiling 7 200 with one child; "
                 "assessment incl. barnets bästa; kommunicering")
    registered(a)
    p = adult(45, "F", "Aisha Abdi")
    a = app(13, "arbetsresor-over-tak", (DELVIS, ["arbetsresor_over_tak"]), [p], incomes=[inc(p, "lon", 5200)],
            costs={"rent": 5400, "electricity": 260, "home_insurance": 120, "work_travel": 1150},
            note="travel to work capped at 800; kommunicering")
    registered(a)

    # 14-16: avslag
    p = adult(36, "M", "Reza Ahmadi")
    a = app(14, "inkomst-over-norm", (AVSLAG, ["inkomster_tacker_behov"]), [p], incomes=[inc(p, "lon", 16500)],
            history={"consecutive_months_with_bistand": 2, "jobbstimulans_months_used": 0})
    registered(a)
    a = app(15, "tillgangar-over-fribelopp", (AVSLAG, ["inkomster_tacker_behov"]), [adult(30, "F", "Camilla Strand")],
            assets=[{"kind": "bankmedel", "amount": 16000}])
    registered(a)
    p = adult(59, "M", "Jukka Virtanen")
    a = app(16, "hyra-over-riktvarde-avslag", (AVSLAG, ["inkomster_tacker_behov", "hyra_over_riktvarde"]), [p],
            incomes=[inc(p, "a_kassa", 12600)],
            costs={"rent": 8000, "electricity": 300, "home_insurance": 150},
            history={"consecutive_months_with_bistand": 5, "jobbstimulans_months_used": 0,
                     "rent_notice_period": "2026-06"},
            note="with the full rent the need is positive; with the rent capped at 6 500 it is not; kommunicering")
    registered(a)

    # 17-24: manual routes, one for each routing code
    a = app(17, "nyansokan", (MANUELL, ["nyansokan"]), [adult(39, "M", "Liam Persson")], kind="nyansokan")
    registered(a)
    p = adult(33, "F", "Josefin Wallin")
    app(18, "register-avvikelse", (MANUELL, ["register_avvikelse"]), [p], incomes=[inc(p, "a_kassa", 3000)],
        note="declares 3 000 a-kassa, the register says 6 200 (from the register answers: "
             "`hrobot evaluate` on the file alone drafts bifall)")
    answer(p, True, [reg_inc("AKASSA", "a_kassa", 6200)])
    p = adult(44, "M", "Henrik Sundström")
    app(19, "ej-inskriven-arbetsformedlingen", (MANUELL, ["ej_arbetssokande"]), [p],
        note="says job seeking, the register does not list him (from the register answers: "
             "`hrobot evaluate` on the file alone drafts bifall)")
    answer(p, False)
    a = app(20, "tandvard", (MANUELL, ["livsforing_i_ovrigt"]), [adult(31, "F", "Yasmin Eriksson")],
            other_needs=[{"kind": "tandvard", "amount": 3400, "description": "Akut tandvård enligt kostnadsförslag"}])
    registered(a)
    a = app(21, "tva-vuxna-ej-sambor", (MANUELL, ["hushallssammansattning"]),
            [adult(40, "F", "Ebba Forsberg"), adult(42, "M", "Daniel Kaya", relation="annan")])
    registered(a)
    a = app(22, "sokande-under-18", (MANUELL, ["under_18"]), [adult(17, "F", "Alicia Nordin")])
    registered(a)
    a = app(23, "sjukskriven-heltid", (MANUELL, ["ej_arbetssokande"]),
            [adult(61, "M", "Göran Lindberg", exempt_reason="Sjukskriven på heltid enligt läkarintyg")])
    registered(a)
    p = adult(45, "F", "Katarina Nowak")
    a = app(24, "ungdom-19-slutat-skolan", (MANUELL, ["ungdom_19_20"]), [p], [child(19, "M", "Viktor Nowak")],
            incomes=[inc(p, "a_kassa", 6800)], costs={"rent": 7100, "electricity": 300, "home_insurance": 150},
            v1=(BIFALL, []),
            note="a youth of 19 without in_school: applies in their own right (v2); v1 counts him with the 19-20 norm")
    registered(a)

    # 25-28: the other v2 rules
    p = adult(47, "M", "Mohammed Saleh")
    c1, c2 = child(19, "F", "Sara Saleh", in_school=True), child(12, "M", "Adam Saleh")
    a = app(25, "ungdom-19-gymnasiet", (BIFALL, []), [p], [c1, c2],
            incomes=[inc(p, "barnbidrag", BARNBIDRAG[1] + 150), inc(c1, "studiemedel", STUDIEBIDRAG)],
            costs={"rent": 7900, "electricity": 380, "home_insurance": 170},
            note="19 and in upper secondary school: counts in the household; barnbidrag 1 250 + flerbarnstillägg 150, "
                 "studiebidrag 1 250")
    registered(a)
    p = adult(44, "F", "Malin Hedlund")
    c = child(17, "M", "Isak Hedlund", in_school=True, wage_earlier_this_year=55000)
    a = app(26, "barns-lon-sommarjobb-tidigare-i-ar", (BIFALL, []), [p], [c],
            incomes=[inc(c, "lon", 6500), inc(c, "studiemedel", STUDIEBIDRAG)],
            costs={"rent": 6800, "electricity": 300, "home_insurance": 150},
            note="55 000 earned earlier in 2026 (summer job): only 4 200 of December's 6 500 is disregarded "
                 "(prisbasbelopp 59 200 a year); v1 disregards a twelfth a month")
    registered(a)
    p = adult(37, "M", "Minh Nguyen")
    a = app(27, "jobbstimulans-efter-uppehall", (BIFALL, []), [p], incomes=[inc(p, "lon", 6000)],
            costs={"rent": 5600, "electricity": 270, "home_insurance": 130},
            history={"consecutive_months_with_bistand": 2, "jobbstimulans_months_used": 8,
                     "jobbstimulans_start": "2025-09"},
            note="started 2025-09, break 2026-03..09: still inside the two years (through 2027-08), 25 % disregarded; "
                 "v1 needs 6 consecutive months")
    registered(a)
    p = adult(41, "M", "Patrik Engström")
    a = app(28, "jobbstimulans-tva-ar-slut", (BIFALL, []), [p], incomes=[inc(p, "lon", 7000)],
            costs={"rent": 6200, "electricity": 280, "home_insurance": 140},
            history={"consecutive_months_with_bistand": 14, "jobbstimulans_months_used": 20,
                     "jobbstimulans_start": "2024-10"},
            note="started 2024-10: the two years ended 2026-09 although only 20 months were used; "
                 "v1 still disregards 25 %")
    registered(a)

    # 29-30: invalid applications (they become invalid cases with the reasons)
    bad = app(29, "ogiltigt-personnummer", (INVALID, ["/household/adults/0/personnummer", "/applicant"]), [adult(35, "F", "Sanna Lehto")])
    good = bad["applicant"]
    wrong = good[:-1] + str((int(good[-1]) + 1) % 10)
    apps[-1] = (29, json.loads(json.dumps(bad).replace(good, wrong)))
    app(30, "negativ-hyra", (INVALID, ["/costs/rent"]), [adult(29, "M", "Tobias Ljung")],
        costs={"rent": -5200, "electricity": 250})


# ---------------------------------------------------------------- checks


def people(a):
    h = a.get("household", {})
    for m in h.get("adults", []) + h.get("children", []):
        yield m.get("personnummer", "")
    yield a.get("applicant", "")
    for i in a.get("incomes", []):
        yield i.get("person", "")


def check(listed):
    """Every personnummer in ops/demo is a listed test personnummer, except
    deliberately broken ones (a wrong check digit: no one's number); every
    register answer belongs to a member of a valid application."""
    problems, members = [], set()
    for path in sorted(glob.glob(os.path.join(HERE, "inbox", "*.json"))):
        with open(path, encoding="utf-8") as f:
            a = json.load(f)
        name = os.path.basename(path)
        if not EXTERNAL_ID.match(a.get("external_id", "")):
            problems.append(f"{name}: external_id {a.get('external_id')!r} is not 1-64 of [A-Za-z0-9._-]")
        for p in people(a):
            digits = p.replace("-", "").replace("+", "")
            if valid_pnr(digits):
                members.add(digits)
                if digits not in listed:
                    problems.append(f"{name}: {p} is not a listed Skatteverket test personnummer")
            elif not (re.fullmatch(r"\d{12}", digits) and "ogiltig" in a.get("external_id", "")):
                problems.append(f"{name}: {p!r} is not a valid personnummer outside the invalid-input scenario")
    for d in sorted(os.listdir(os.path.join(HERE, "register"))):
        if d not in listed:
            problems.append(f"register/{d}: not a listed Skatteverket test personnummer")
        if d not in members:
            problems.append(f"register/{d}: no application has this person")
    return problems


# ---------------------------------------------------------------- output


def write_readme(evaluated=None):
    lines = [
        "# Demo data",
        "",
        "`hrobot demo` copies `inbox/` into its data directory and answers register",
        "look-ups from `register/<personnummer>/<period>.json` (one answer per",
        "household member and period; a member without a file is unknown to the",
        "registers: not a job seeker, no incomes). `generate.py` writes all of it;",
        "edit the scenarios there, not the JSON.",
        "",
        "- Personnummer: Skatteverket's test personnummer only (`testpersonnummer.txt`",
        "  says where they come from); the list has none born after 2023, so the",
        "  youngest child is 2.",
        "- Names are ordinary names chosen without regard to the case; the scenario",
        "  is in `external_id`.",
        "- Barnbidrag as Försäkringskassan pays it: 1 250 kr a child under 16 plus",
        "  flerbarnstillägg (2 children 2 650, 3 children 4 480, 4 children 6 740);",
        "  youth in upper secondary school have studiebidrag (1 250 kr) instead.",
        "- Every application is for 2026-12. The 2026 riksnorm values other than the",
        "  published totals are not verified, so every demo draft carries the",
        "  warning that names them: that is expected.",
        "- Amounts are the applicants' monthly net amounts in kronor; the municipal",
        "  values (rent ceilings, rådrum, travel cap) are Exempelkommun's.",
        "",
        f"## Scenarios ({len(scenarios)} applications)",
        "",
        "Expected under ruleset contract v2 (`shared/domain/ekonomiskt-bistand.md`).",
        "Delvis bifall and avslag go against the applicant: the official",
        "communicates the grounds (FL 25 §) before deciding.",
        "",
        "| external_id | v2 outcome | codes / pointer | v1 ruleset, where different | notes |",
        "|---|---|---|---|---|",
    ]
    for eid, (outcome, codes), v1, note in scenarios:
        v1s = f"{v1[0]} {', '.join(v1[1])}".strip() if v1 else ""
        lines.append(f"| `{eid}` | {outcome} | {', '.join(codes)} | {v1s} | {note} |")
    with open(os.path.join(HERE, "README.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def main():
    global pool
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full-list", action="append", default=[],
                    help="Skatteverket's test personnummer CSV (repeatable); draws anew and rewrites testpersonnummer.txt")
    ap.add_argument("--check", action="store_true", help="only check the files in ops/demo")
    args = ap.parse_args()

    listed = read_numbers(SUBSET) if os.path.exists(SUBSET) else set()
    if args.check:
        problems = check(listed)
        for p in problems:
            print(p, file=sys.stderr)
        print("ok" if not problems else f"{len(problems)} problems")
        sys.exit(1 if problems else 0)

    full = set()
    for path in args.full_list:
        full |= read_numbers(path)
    if args.full_list and not full:
        sys.exit("no valid personnummer in the --full-list files")
    pool = Pool(full or listed)
    scenarios_v2()

    inbox, regdir = os.path.join(HERE, "inbox"), os.path.join(HERE, "register")
    for d in (inbox, regdir):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    for n, a in apps:
        with open(os.path.join(inbox, f"ansokan-{n:03d}.json"), "w", encoding="utf-8") as f:
            json.dump(a, f, ensure_ascii=False, indent=2)
            f.write("\n")
    for p, ans in register.items():
        os.makedirs(os.path.join(regdir, p), exist_ok=True)
        with open(os.path.join(regdir, p, f"{PERIOD}.json"), "w", encoding="utf-8") as f:
            json.dump(ans, f, ensure_ascii=False, indent=2)
            f.write("\n")
    if full:
        with open(SUBSET, "w", encoding="utf-8") as f:
            f.write(SUBSET_HEADER)
            for p in sorted(pool.used):
                f.write(p + "\n")
        listed = set(pool.used)
    write_readme()
    problems = check(listed)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"{len(apps)} applications, {len(register)} register answers, {len(pool.used)} test personnummer")


if __name__ == "__main__":
    main()
