# Writes rulesets/avgift-aldreomsorg/tests from scenarios (run: python3 tools/gen_tests.py),
# computing the expected outcome independently of rules/main.rhai (CONTRACT.md § 3).
# Personnummer: Skatteverket's test numbers, see CONTRACT.md § 8.
import json, os, math
from decimal import Decimal as D
OUT=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests')
PBB={2019:46500,2020:47300,2021:47600,2022:48300,2023:52500,2024:57300,2025:58800,2026:59200,2027:59600}
def mb_factors(y,m):
    d=(y,m)
    if d>=(2023,1): return 14789,12066
    if d>=(2022,8): return 14541,11942
    if d>=(2022,1): return 14045,11694
    return 13546,11446
K=dict(tim=450,larm=300,dag=150,hsv=400,omv=2700,mat=1000,alder=65,ink=150000,boende=30000)
def ore(x): return int((D(str(x))*100).to_integral_value())
def round_kr(ore_num, den):  # ore_num/den rounded half up to whole kronor, returned in öre
    # value in öre = ore_num/den ; kronor = ore_num/(den*100)
    q,r=divmod(ore_num, den*100)
    if 2*r>=den*100: q+=1
    return q*100
def age(pn, y, m):
    by,bm,bd=int(pn[0:4]),int(pn[4:6]),int(pn[6:8])
    a=y-by
    if (m,1)<(bm,bd): a-=1
    return a
def expect(doc):
    y,m=int(doc['period'][:4]),int(doc['period'][5:7])
    py=max(k for k in PBB if k<=y)
    pbb=PBB[py]*100
    codes=[]; manual=[]
    if py!=y: manual.append('parametrar_saknas')
    if age(doc['applicant'].replace('-',''),y,m)<K['alder']: manual.append('under_65')
    if doc.get('income_statement_submitted') is False: manual.append('inkomstuppgift_saknas')
    living=doc['living']; hh=doc['household']; p=doc.get('partner')
    sam= hh!='ensamstaende'
    if sam and (p.get('living') or living)!=living: manual.append('make_annat_boende')
    if living=='sarskilt_boende' and doc.get('rental_contract') is False: manual.append('bostad_utan_hyreskontrakt')
    adj=doc.get('minimum_adjustment')
    if adj: manual.append('hojt_minimibelopp' if adj['kind']=='hojning' else 'minskat_minimibelopp')
    own=sum(ore(i['amount']) for i in doc['incomes'])
    und=own
    if hh=='gift':
        tot=own+sum(ore(i['amount']) for i in p['incomes'])
        und=tot//2; codes.append('makar_inkomster_delas')
    if und>K['ink']*100: manual.append('orimlig_inkomst')
    fe,fs=mb_factors(y,m)
    mb=round_kr(pbb*(fs if sam else fe),120000)
    hc=ore(doc['housing_cost'])
    if hc>K['boende']*100: manual.append('orimlig_boendekostnad')
    share=(hc+1)//2 if (sam and living=='ordinart_boende') else hc
    forb=mb+share+(K['mat']*100 if living=='sarskilt_boende' else 0)
    taxa=0
    for s in doc['services']:
        taxa+={'hemtjanst':lambda s:s['hours']*K['tim'],'trygghetslarm':lambda s:K['larm'],'dagverksamhet':lambda s:s['days']*K['dag'],
               'hemsjukvard':lambda s:K['hsv'],'omvardnad_sarskilt_boende':lambda s:K['omv']}[s['kind']](s)*100
    taxa=taxa//100*100
    tak=round_kr(pbb*5392,120000)
    U=und-forb
    Uk=U//100*100 if U>0 else 0
    fee=min(Uk,taxa,tak)
    if manual:
        return dict(outcome='manuell',amount_sek=None,codes=sorted(set(manual+codes))), dict(U=U,fee=fee,mb=mb,tak=tak,taxa=taxa)
    if fee==0: codes.append('ingen_avgift')
    elif Uk<min(taxa,tak): codes.append('avgiftsutrymme_begransar')
    elif tak<taxa: codes.append('hogkostnadsskydd')
    if doc.get('previous_fee') is not None:
        codes.append('avgiften_andras' if ore(doc['previous_fee'])//100*100!=fee else 'avgiften_oforandrad')
    return dict(outcome='faststalld',amount_sek=fee//100,codes=sorted(codes)), dict(U=U,fee=fee,mb=mb,tak=tak,taxa=taxa)

A='194204099222'; B='194305239065'; C='194403059100'; Dp='194504069248'; E='194606109108'
F='194210219269'; G='194411219183'; H='194112169182'; Y='196507132758'; Z='196604072634'
n=[0]
def base(pn, period, **kw):
    d={"schema":"avgift-aldreomsorg/ansokan/v1","external_id":"","received_at":"2026-11-20T09:00:00+01:00",
       "period":period,"applicant":pn,"applicant_name":"Testperson","living":"ordinart_boende","household":"ensamstaende",
       "incomes":[{"kind":"pension","amount":15000}],"housing_cost":6000,"services":[{"kind":"hemtjanst","hours":4}]}
    d.update(kw); return d
cases=[]
def case(name, doc, note, invalid=None):
    cases.append((name,doc,note,invalid))

# Single person, 2026: mb 7296, tak 2660.
case('01-ensam-hemtjanst-full-taxa', base(A,'2026-03',incomes=[{"kind":"pension","amount":14500},{"kind":"bostadstillagg","amount":3500}],housing_cost=7000,
     services=[{"kind":"hemtjanst","hours":4},{"kind":"trygghetslarm"}]), 'avgiftsutrymme 3 704 kr räcker till taxan 2 100 kr')
case('02-hogkostnadsskydd', base(B,'2026-03',incomes=[{"kind":"pension","amount":22000}],housing_cost=6000,services=[{"kind":"hemtjanst","hours":10}]),
     'taxa 4 500 kr över högkostnadsskyddet 2 660 kr')
# U = inc - (7296+6000) ; want U = 1234.56 -> inc = 14530.56
case('03-avgiftsutrymme-begransar', base(C,'2026-03',incomes=[{"kind":"pension","amount":14530.56}],housing_cost=6000,services=[{"kind":"hemtjanst","hours":10}]),
     'avgiftsutrymme 1 234,56 kr avrundas nedåt till 1 234 kr')
case('04-avgiftsutrymme-exakt-noll', base(Dp,'2026-03',incomes=[{"kind":"pension","amount":13296}],housing_cost=6000), 'inkomst = förbehållsbelopp')
case('05-negativt-avgiftsutrymme', base(E,'2026-03',incomes=[{"kind":"garantipension","amount":9800},{"kind":"bostadstillagg","amount":2100}],housing_cost=6000),
     'inkomsterna räcker inte: ingen avgift')
# U == tak 2660: inc = 13296+2660 = 15956
case('06-avgiftsutrymme-lika-med-hogkostnadsskydd', base(F,'2026-03',incomes=[{"kind":"pension","amount":15956}],housing_cost=6000,services=[{"kind":"hemtjanst","hours":10}]),
     'avgiftsutrymme exakt 2 660 kr = högkostnadsskyddet, taxan högre: koden hogkostnadsskydd')
case('07-en-krona-over-hogkostnadsskydd', base(G,'2026-03',incomes=[{"kind":"pension","amount":15957}],housing_cost=6000,services=[{"kind":"hemtjanst","hours":10}]),
     'avgiftsutrymme 2 661 kr')
case('08-en-krona-under-hogkostnadsskydd', base(H,'2026-03',incomes=[{"kind":"pension","amount":15955}],housing_cost=6000,services=[{"kind":"hemtjanst","hours":10}]),
     'avgiftsutrymme 2 659 kr: avgiftsutrymmet begränsar')
case('09-taxa-under-hogkostnadsskydd', base(A,'2026-04',incomes=[{"kind":"pension","amount":25000}],housing_cost=6000,
     services=[{"kind":"hemtjanst","hours":4},{"kind":"trygghetslarm"},{"kind":"hemsjukvard"},{"kind":"dagverksamhet","days":1}]),
     'taxa 2 650 kr, tio kronor under högkostnadsskyddet: full taxa')
case('10-taxa-over-hogkostnadsskydd', base(B,'2026-04',incomes=[{"kind":"pension","amount":25000}],housing_cost=6000,services=[{"kind":"hemtjanst","hours":6}]),
     'taxa 2 700 kr över högkostnadsskyddet 2 660 kr')
# U == taxa 2100 : inc = 13296 + 2100 = 15396
case('11-avgiftsutrymme-lika-med-taxan', base(C,'2026-04',incomes=[{"kind":"pension","amount":15396}],housing_cost=6000,services=[{"kind":"hemtjanst","hours":4},{"kind":"trygghetslarm"}]),
     'avgiftsutrymme exakt = taxan 2 100 kr: ingen begränsningskod')
case('12-avgiftsutrymme-oren-over-taxan', base(Dp,'2026-04',incomes=[{"kind":"pension","amount":15396.99}],housing_cost=6000,services=[{"kind":"hemtjanst","hours":4},{"kind":"trygghetslarm"}]),
     'avgiftsutrymme 2 100,99 kr, taxan 2 100 kr')
case('13-avgiftsutrymme-oren-under-taxan', base(E,'2026-04',incomes=[{"kind":"pension","amount":15395.99}],housing_cost=6000,services=[{"kind":"hemtjanst","hours":4},{"kind":"trygghetslarm"}]),
     'avgiftsutrymme 2 099,99 kr avrundas till 2 099 kr')
# couples 2026: mb sammanlevande 5953
case('14-makar-inkomster-delas', base(F,'2026-03',household="gift",incomes=[{"kind":"pension","amount":12000}],housing_cost=9000,
     partner={"personnummer":G,"name":"Make","incomes":[{"kind":"pension","amount":20000}]},services=[{"kind":"hemtjanst","hours":4}]),
     'hälften av 32 000 kr = 16 000 kr; förbehåll 5 953 + 4 500')
case('15-makar-udda-oren', base(G,'2026-03',household="gift",incomes=[{"kind":"pension","amount":10000.01}],housing_cost=9000.01,
     partner={"personnummer":F,"incomes":[{"kind":"tjanstepension","amount":1500.02},{"kind":"pension","amount":1500}]},services=[{"kind":"hemtjanst","hours":10}]),
     'sammanlagt 13 000,03 kr, hälften 6 500,01 kr (nedåt); boendekostnad hälften 4 500,01 kr (uppåt): negativt utrymme')
case('16-sambo-egna-inkomster', base(H,'2026-03',household="sambo",incomes=[{"kind":"pension","amount":12000}],housing_cost=9000,
     partner={"personnummer":A,"incomes":[{"kind":"pension","amount":20000}]},services=[{"kind":"hemtjanst","hours":4}]),
     'sambons inkomster räknas inte; minimibelopp för sammanlevande, halva boendekostnaden')
case('17-gift-samma-siffror-som-sambo', base(H,'2026-03',household="gift",incomes=[{"kind":"pension","amount":12000}],housing_cost=9000,
     partner={"personnummer":A,"incomes":[{"kind":"pension","amount":20000}]},services=[{"kind":"hemtjanst","hours":4}]),
     'som 16 men gifta: inkomsterna delas')
case('18-sambo-utan-partnerinkomster', base(A,'2026-03',household="sambo",incomes=[{"kind":"pension","amount":16000}],housing_cost=8000,
     partner={"personnummer":B},services=[{"kind":"trygghetslarm"}]),
     'sambo utan inkomstuppgift för sambon är giltigt')
# Year boundary Dec 2025 vs Jan 2026 (2025: mb 7247, tak 2642)
case('19-arsskifte-december-2025', base(B,'2025-12',incomes=[{"kind":"pension","amount":15000}],housing_cost=6000,services=[{"kind":"hemtjanst","hours":10}]),
     '2025: minimibelopp 7 247 kr, avgiftsutrymme 1 753 kr')
case('20-arsskifte-januari-2026', base(B,'2026-01',incomes=[{"kind":"pension","amount":15000}],housing_cost=6000,services=[{"kind":"hemtjanst","hours":10}]),
     '2026: minimibelopp 7 296 kr, avgiftsutrymme 1 704 kr')
case('21-hogkostnadsskydd-2025', base(C,'2025-06',incomes=[{"kind":"pension","amount":30000}],housing_cost=6000,services=[{"kind":"hemtjanst","hours":10}]),
     'före lagändringen 2025-07-01: 2 642 kr')
case('22-hogkostnadsskydd-efter-lagandringen', base(C,'2025-07',incomes=[{"kind":"pension","amount":30000}],housing_cost=6000,services=[{"kind":"hemtjanst","hours":10}]),
     'från 2025-07-01 (socialtjänstlagen 2025:400): samma belopp, ej verifierade lagrum ger varning')
case('23-sarskilt-boende-hogkostnadsskydd', base(Dp,'2026-03',living="sarskilt_boende",incomes=[{"kind":"pension","amount":21000},{"kind":"bostadstillagg","amount":4000}],
     housing_cost=6500,services=[{"kind":"omvardnad_sarskilt_boende"}]), 'omvårdnad 2 700 kr begränsas till 2 660 kr; förbehåll 7 296 + 6 500 + 1 000')
case('24-sarskilt-boende-lag-inkomst', base(E,'2026-03',living="sarskilt_boende",incomes=[{"kind":"garantipension","amount":10500},{"kind":"bostadstillagg","amount":5200}],
     housing_cost=6500,rental_contract=True,services=[{"kind":"omvardnad_sarskilt_boende"}]), 'avgiftsutrymme 904 kr')
case('25-makar-bada-i-sarskilt-boende', base(F,'2026-03',living="sarskilt_boende",household="gift",incomes=[{"kind":"pension","amount":20000}],housing_cost=6500,
     partner={"personnummer":H,"living":"sarskilt_boende","incomes":[{"kind":"pension","amount":14000}]},services=[{"kind":"omvardnad_sarskilt_boende"}]),
     'båda i särskilt boende: egen hyra räknas hel, minimibelopp för sammanlevande')
case('26-manuell-make-hemma', base(G,'2026-03',living="sarskilt_boende",household="gift",incomes=[{"kind":"pension","amount":20000}],housing_cost=6500,
     partner={"personnummer":H,"living":"ordinart_boende","incomes":[{"kind":"pension","amount":9000}]},services=[{"kind":"omvardnad_sarskilt_boende"}]),
     'make bor kvar hemma (8 kap. 9 §)')
case('27-manuell-sambo-i-sarskilt-boende', base(H,'2026-03',household="sambo",incomes=[{"kind":"pension","amount":18000}],housing_cost=8000,
     partner={"living":"sarskilt_boende"},services=[{"kind":"hemtjanst","hours":3}]), 'sambon bor i särskilt boende, den enskilde hemma')
case('28-manuell-utan-hyreskontrakt', base(A,'2026-03',living="sarskilt_boende",rental_contract=False,incomes=[{"kind":"pension","amount":20000}],housing_cost=5000,
     services=[{"kind":"omvardnad_sarskilt_boende"}]), 'bostad utan hyreskontrakt')
case('29-manuell-hojt-minimibelopp', base(B,'2026-03',incomes=[{"kind":"pension","amount":20000}],
     minimum_adjustment={"kind":"hojning","amount":800,"reason":"Fördyrad kost"}), 'begärd höjning')
case('30-manuell-minskat-minimibelopp', base(C,'2026-03',living="sarskilt_boende",incomes=[{"kind":"pension","amount":20000}],housing_cost=6000,
     services=[{"kind":"omvardnad_sarskilt_boende"}],minimum_adjustment={"kind":"minskning","amount":250.5}), 'föreslagen minskning')
case('31-manuell-under-65', base(Y,'2026-03',incomes=[{"kind":"sjukersattning","amount":14000}]), 'född 1965, 60 år')
case('32-manuell-inkomstuppgift-saknas', base(Dp,'2026-03',incomes=[],income_statement_submitted=False), 'ingen inkomstuppgift')
case('33-manuell-orimlig-inkomst', base(E,'2026-03',incomes=[{"kind":"pension","amount":180000}]), 'troligen ett årsbelopp')
case('34-manuell-orimlig-boendekostnad', base(F,'2026-03',incomes=[{"kind":"pension","amount":40000}],housing_cost=35000), 'boendekostnad 35 000 kr')
case('35-manuell-prisbasbelopp-saknas-2028', base(G,'2028-01',incomes=[{"kind":"pension","amount":20000}],previous_fee=1800), 'prisbasbeloppet 2028 finns inte')
case('36-manuell-flera-skal', base(Y,'2026-03',household="gift",incomes=[{"kind":"sjukersattning","amount":9000}],income_statement_submitted=False,
     partner={"personnummer":Z,"incomes":[]},minimum_adjustment={"kind":"hojning","amount":500}), 'under 65, ingen inkomstuppgift, höjning; makar')
# batch 2027: tak 2678, mb 7345
case('37-omrakning-2027-hogkostnadsskydd-hojs', base(H,'2027-01',incomes=[{"kind":"pension","amount":25000}],housing_cost=6000,services=[{"kind":"hemtjanst","hours":10}],previous_fee=2660),
     'omräkning nytt år: 2 660 kr -> 2 678 kr')
case('38-omrakning-oforandrad', base(A,'2027-01',incomes=[{"kind":"pension","amount":25000}],housing_cost=6000,services=[{"kind":"hemtjanst","hours":4},{"kind":"trygghetslarm"}],previous_fee=2100),
     'taxan oförändrad 2 100 kr')
case('39-omrakning-sankt-avgift', base(B,'2027-01',incomes=[{"kind":"pension","amount":14579}],housing_cost=6000,services=[{"kind":"hemtjanst","hours":10}],previous_fee=1500),
     'avgiften sänks från 1 500 kr till 1 234 kr (avgiftsutrymmet)')
case('40-omrakning-till-ingen-avgift', base(C,'2027-01',incomes=[{"kind":"pension","amount":13000}],housing_cost=6000,previous_fee=350.50),
     'tidigare 350 kr, nu ingen avgift')
case('41-dagverksamhet-och-hemsjukvard', base(Dp,'2026-05',incomes=[{"kind":"pension","amount":19000},{"kind":"kapitalinkomst","amount":120.40}],housing_cost=5200,
     services=[{"kind":"dagverksamhet","days":8},{"kind":"hemsjukvard"}]), 'taxa 8 × 150 + 400 = 1 600 kr')
case('42-ar-2023-hojt-minimibelopp', base(E,'2023-05',incomes=[{"kind":"pension","amount":12000}],housing_cost=5000,services=[{"kind":"hemtjanst","hours":10}]),
     '2023: minimibelopp 6 470 kr (1,4789, ej verifierat), högkostnadsskydd 2 359 kr')
case('43-ar-2022-augusti', base(F,'2022-09',incomes=[{"kind":"pension","amount":11000}],housing_cost=4500,services=[{"kind":"hemtjanst","hours":10}]),
     '2022-08-01: 1,4541 × 48 300 ÷ 12 = 5 853 kr')
case('44-ar-2022-mars', base(F,'2022-03',incomes=[{"kind":"pension","amount":11000}],housing_cost=4500,services=[{"kind":"hemtjanst","hours":10}]),
     '2022-01-01: 1,4045 × 48 300 ÷ 12 = 5 653 kr (ej verifierat)')
case('45-ar-2021-sammanlevande', base(G,'2021-06',household="sambo",incomes=[{"kind":"pension","amount":9000}],housing_cost=5000,partner={},services=[{"kind":"hemtjanst","hours":10}]),
     '2021: 1,1446 × 47 600 ÷ 12 = 4 540 kr; tak 2 139 kr')
case('46-personnummer-med-bindestreck', base('19420409-9222','2026-03',incomes=[{"kind":"pension","amount":16000}],housing_cost=6000,services=[{"kind":"trygghetslarm"}]),
     'personnummer med bindestreck är giltigt')
# invalid
case('50-ogiltig-tre-decimaler', base(A,'2026-03',incomes=[{"kind":"pension","amount":15000.123}]), 'belopp med tre decimaler', ['/incomes/0/amount'])
case('51-ogiltigt-personnummer', base('194204099223','2026-03'), 'fel kontrollsiffra', ['/applicant'])
case('52-ogiltig-gift-utan-make', base(A,'2026-03',household="gift"), 'gift utan uppgifter om make', ['/partner'])
case('53-ogiltig-ensam-med-make', base(A,'2026-03',partner={"personnummer":B,"incomes":[]}), 'ensamstående med make', ['/partner'])
case('54-ogiltig-hemtjanst-utan-timmar', base(A,'2026-03',services=[{"kind":"hemtjanst"}]), 'timmar saknas', ['/services/0/hours','/services/0'])
case('55-ogiltig-omvardnad-i-ordinart-boende', base(A,'2026-03',services=[{"kind":"omvardnad_sarskilt_boende"}]), 'omvårdnad i särskilt boende för den som bor hemma', ['/services/0/kind'])
case('56-ogiltig-dubbel-insats', base(A,'2026-03',services=[{"kind":"trygghetslarm"},{"kind":"trygghetslarm"}]), 'samma insats två gånger', ['/services/1'])
case('57-ogiltigt-schema', base(A,'2026-03',schema="ekonomiskt-bistand/ansokan/v1"), 'fel schema', ['/schema'])
case('58-ogiltig-negativ-boendekostnad', base(A,'2026-03',housing_cost=-100), 'negativ boendekostnad', ['/housing_cost'])
case('59-ogiltig-period', base(A,'2026-13'), 'månad 13', ['/period'])
case('60-ogiltig-gift-utan-makens-inkomster', base(A,'2026-03',household="gift",partner={"personnummer":B}), 'makens inkomster saknas', ['/partner/incomes'])
case('61-ogiltig-inga-insatser', base(A,'2026-03',services=[]), 'inga insatser', ['/services'])
case('62-ogiltigt-hyreskontrakt-i-ordinart-boende', base(A,'2026-03',rental_contract=True), 'hyreskontrakt gäller bara särskilt boende', ['/rental_contract'])
case('63-ogiltiga-timmar-for-trygghetslarm', base(A,'2026-03',services=[{"kind":"trygghetslarm","hours":2}]), 'timmar för trygghetslarm', ['/services/0/hours'])
case('64-ogiltig-make-samma-personnummer', base(A,'2026-03',household="sambo",partner={"personnummer":A}), 'sambon har den enskildes personnummer', ['/partner/personnummer'])
case('65-ogiltigt-inkomstslag', base(A,'2026-03',incomes=[{"kind":"lotterivinst","amount":100}]), 'okänt inkomstslag', ['/incomes/0/kind'])
case('66-ogiltig-minskning-noll', base(A,'2026-03',minimum_adjustment={"kind":"minskning","amount":0}), 'justering 0 kr', ['/minimum_adjustment/amount'])

os.makedirs(OUT,exist_ok=True)
for f in os.listdir(OUT): os.remove(os.path.join(OUT,f))
summary=[]
for i,(name,doc,note,invalid) in enumerate(cases):
    doc['external_id']='AO-'+name.split('-')[0]
    json.dump(doc,open(f'{OUT}/{name}.json','w'),ensure_ascii=False,indent=2); open(f'{OUT}/{name}.json','a').write('\n')
    if invalid:
        exp={"exit_code":2,"pointer_any":invalid}; info=''
    else:
        exp,info=expect(doc)
    json.dump(exp,open(f'{OUT}/{name}.expected.json','w'),ensure_ascii=False,indent=2); open(f'{OUT}/{name}.expected.json','a').write('\n')
    summary.append((name,exp,info,note))
for s in summary: print(s[0], json.dumps(s[1],ensure_ascii=False), s[2], '|', s[3])
print(len(summary),'tests')
