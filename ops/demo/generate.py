#!/usr/bin/env python3
"""Writes the demo data: applications in inbox/ and register answers in
register/<personnummer>/<period>.json. Every personnummer is generated (a
valid check digit on a made-up birth date and serial), never a real
person's. Run from anywhere: python3 ops/demo/generate.py"""
import json, os, shutil

HERE = os.path.dirname(os.path.abspath(__file__))
PERIOD = "2026-12"
RECEIVED = "2026-11-25T08:15:00+01:00"

def luhn(nine):
    s = 0
    for i, ch in enumerate(nine):
        v = int(ch) * (2 if i % 2 == 0 else 1)
        s += v - 9 if v > 9 else v
    return (10 - s % 10) % 10

def pnr(ymd, serial):
    return f"{ymd}{serial}{luhn(ymd[2:] + serial)}"

apps, register = [], {}

def adult(ymd, serial, name, **kw):
    a = {"personnummer": pnr(ymd, serial), "name": name, "job_seeking": True}
    a.update(kw)
    return a

def child(ymd, serial, name, **kw):
    c = {"personnummer": pnr(ymd, serial), "name": name}
    c.update(kw)
    return c

def app(n, adults, children=(), costs=None, incomes=(), assets=(), kind="fortsatt", history=None, other_needs=None, dwelling=None):
    a = {
        "schema": "ekonomiskt-bistand/ansokan/v1",
        "external_id": f"DEMO-{PERIOD.replace('-', '')}-{n:03d}",
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
    return a

def answer(p, job_seeker=True, incomes=()):
    register[p] = {"job_seeker": job_seeker, "incomes": list(incomes)}

def inc(person, kind, amount):
    return {"person": person, "kind": kind, "amount": amount}

def reg_inc(source, kind, amount):
    return {"source": source, "kind": kind, "amount": amount}

def registered(a, job=True):
    """Register answers that agree with what the application declares."""
    for ad in a["household"]["adults"]:
        mine = [i for i in a["incomes"] if i["person"] == ad["personnummer"]]
        answer(ad["personnummer"], job, [reg_inc("FK", i["kind"], i["amount"]) for i in mine if i["kind"] != "lon"] +
               [reg_inc("SKV", "lon", i["amount"]) for i in mine if i["kind"] == "lon"])
    for c in a["household"]["children"]:
        mine = [i for i in a["incomes"] if i["person"] == c["personnummer"]]
        if mine:
            answer(c["personnummer"], False, [reg_inc("FK", i["kind"], i["amount"]) for i in mine])

# 1–6: bifall of different shapes
a = app(1, [adult("19790412", "963", "Karin Demosdotter")]); registered(a)
p = adult("19880923", "974", "Omar Exempelsson")
a = app(2, [p], incomes=[inc(p["personnummer"], "a_kassa", 7200)], costs={"rent": 6100, "electricity": 280, "home_insurance": 130, "unemployment_fund_fee": 160}); registered(a)
p1, p2 = adult("19850317", "951", "Sara Provsson"), adult("19830802", "957", "Jonas Provsson", relation="sambo")
c1, c2 = child("20170605", "962", "Alva Provsson"), child("20210214", "968", "Nils Provsson", lunch_at_preschool=True)
a = app(3, [p1, p2], [c1, c2], costs={"rent": 8100, "electricity": 520, "home_insurance": 210, "childcare": 380},
        incomes=[inc(p1["personnummer"], "barnbidrag", 2500), inc(p1["personnummer"], "bostadsbidrag", 1900)]); registered(a)
p = adult("19920101", "935", "Leila Testsson")
a = app(4, [p], incomes=[inc(p["personnummer"], "lon", 6400)], costs={"rent": 5500, "electricity": 250, "home_insurance": 120, "work_travel": 640},
        history={"consecutive_months_with_bistand": 9, "jobbstimulans_months_used": 3}); registered(a)
p = adult("19700707", "941", "Bengt Exempel")
a = app(5, [p], [child("20121120", "947", "Maja Exempel", residence_share_percent=50)], costs={"rent": 6900, "electricity": 300, "home_insurance": 140},
        incomes=[inc(p["personnummer"], "underhallsbidrag", 1000)]); registered(a)
a = app(6, [adult("19990530", "926", "Elin Demo")], costs={"rent": 2600, "home_insurance": 95}, dwelling=4); registered(a)
# 7–8: delvis bifall (caps)
a = app(7, [adult("19760228", "932", "Per Taksson")], costs={"rent": 7600, "electricity": 310, "home_insurance": 130},
        history={"consecutive_months_with_bistand": 12, "jobbstimulans_months_used": 0, "rent_notice_period": "2026-05"}); registered(a)
p = adult("19810909", "918", "Anna Resa")
a = app(8, [p], incomes=[inc(p["personnummer"], "lon", 5200)], costs={"rent": 5400, "electricity": 260, "home_insurance": 120, "work_travel": 1150}); registered(a)
# 9–10: avslag
p = adult("19650403", "924", "Göran Inkomstsson")
a = app(9, [p], incomes=[inc(p["personnummer"], "sjukersattning", 14500)]); registered(a)
p = adult("19900615", "909", "Sofia Sparsson")
a = app(10, [p], assets=[{"kind": "bankmedel", "amount": 16000}]); registered(a)
# 11–17: manual routes
a = app(11, [adult("19870814", "915", "Mehmet Nyström")], kind="nyansokan"); registered(a)
p = adult("19931111", "981", "Lina Avvik")
a = app(12, [p], incomes=[inc(p["personnummer"], "a_kassa", 3000)])
answer(p["personnummer"], True, [reg_inc("AKASSA", "a_kassa", 6200)])
p = adult("19780320", "987", "Kalle Ej Inskriven")
a = app(13, [p]); answer(p["personnummer"], False)
a = app(14, [adult("19951224", "993", "Fatima Tandvård")], other_needs=[{"kind": "tandvard", "amount": 3400, "description": "Akut tandvård enligt kostnadsförslag"}]); registered(a)
a = app(15, [adult("19860505", "999", "Tove Sambo"), adult("19840404", "908", "Rikard Inneboende", relation="annan")]); registered(a)
a = app(16, [adult("20090101", "914", "Unga Vuxen")]); registered(a)
a = app(17, [adult("19740610", "921", "Hassan Sjukskriven", exempt_reason="Sjukskriven på heltid enligt läkarintyg")]); registered(a)
# 18–22: more ordinary continued applications
p1, p2 = adult("19800112", "938", "Eva Stor"), adult("19790223", "944", "Olof Stor", relation="make")
kids = [child(d, s, n) for d, s, n in [("20090303", "950", "Ebba Stor"), ("20111010", "956", "Hugo Stor"), ("20140707", "962", "Lisa Stor"), ("20190909", "968", "Sam Stor")]]
a = app(18, [p1, p2], kids, costs={"rent": 9900, "electricity": 650, "home_insurance": 260},
        incomes=[inc(p1["personnummer"], "barnbidrag", 5950), inc(p2["personnummer"], "aktivitetsstod", 5600)],
        history={"consecutive_months_with_bistand": 2, "jobbstimulans_months_used": 0, "rent_notice_period": "2026-10"}); registered(a)
p = adult("19970808", "974", "Ali Student")
a = app(19, [p], [child("20091212", "980", "Noor Student")], incomes=[inc(pnr("20091212", "980"), "lon", 2800)], costs={"rent": 6300, "electricity": 290, "home_insurance": 140}); registered(a)
p = adult("19680919", "986", "Birgitta Pension")
a = app(20, [p], incomes=[inc(p["personnummer"], "pension", 4100), inc(p["personnummer"], "bostadsbidrag", 1200)], costs={"rent": 5900, "electricity": 240, "home_insurance": 110}); registered(a)
p = adult("19910214", "992", "Johanna Föräldraledig")
a = app(21, [p], [child("20260301", "905", "Bebis Föräldraledig")], incomes=[inc(p["personnummer"], "foraldrapenning", 5400), inc(p["personnummer"], "barnbidrag", 1250)], costs={"rent": 6600, "electricity": 330, "home_insurance": 150}); registered(a)
p = adult("19830130", "911", "Mikael Etablering")
a = app(22, [p], incomes=[inc(p["personnummer"], "etableringsersattning", 3900)], costs={"rent": 5200, "electricity": 260, "home_insurance": 120}); registered(a)
# 23–24: invalid applications (they become invalid cases with the reasons)
bad = dict(app(23, [adult("19750505", "917", "Fel Personnummer")]))
apps[-1] = (23, json.loads(json.dumps(bad).replace(bad["applicant"], bad["applicant"][:-1] + str((int(bad["applicant"][-1]) + 1) % 10))))
neg = app(24, [adult("19890909", "923", "Negativ Hyra")], costs={"rent": -5200, "electricity": 250})

inbox, regdir = os.path.join(HERE, "inbox"), os.path.join(HERE, "register")
for d in (inbox, regdir):
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
for n, a in apps:
    with open(os.path.join(inbox, f"ansokan-{n:03d}.json"), "w") as f:
        json.dump(a, f, ensure_ascii=False, indent=2)
        f.write("\n")
for p, ans in register.items():
    os.makedirs(os.path.join(regdir, p), exist_ok=True)
    with open(os.path.join(regdir, p, f"{PERIOD}.json"), "w") as f:
        json.dump(ans, f, ensure_ascii=False, indent=2)
        f.write("\n")
print(f"{len(apps)} applications, {len(register)} register answers")
