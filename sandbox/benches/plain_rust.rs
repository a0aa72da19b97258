//! The ekonomiskt-bistånd calculation (contract v1) written directly in
//! Rust, for the benchmark only: the "physical limit" the Rhai ruleset is
//! measured against. It reads the same parameter files (through the loaded
//! ruleset), converted once per period into plain integers, and computes
//! outcome, amount, codes and the section totals. It builds no rows,
//! reasons, warnings or trace, so it does strictly less than the ruleset.
//!
//! Never used outside `benches/drafts.rs`; the rules themselves live in the
//! ruleset's Rhai scripts.

use domain::{Application, ApplicationKind, IncomeKind, Money, Outcome, Period, Personnummer, ReasonCode, Relation};
use sandbox::{ParamValue, ResolvedParams, Ruleset};
use serde::Serialize;

/// All parameters of one period as öre and integers.
#[derive(Debug, Clone)]
struct Params {
    ensamstaende: i64,
    sambor: i64,
    /// barn_0, barn_1_2, barn_3, barn_4_6, barn_7_10, barn_11_14, barn_15_18, barn_19_20
    barn: [i64; 8],
    /// barn_0 … barn_4_6 "ej lunch"
    barn_ej_lunch: [i64; 4],
    /// gemensamma_1 … gemensamma_7
    gemensamma: [i64; 7],
    /// hyra_riktvarde_0_barn … hyra_riktvarde_4_barn
    hyra: [i64; 5],
    radrum: i64,
    resetak: i64,
    fribelopp: i64,
    tolerans: i64,
    stim_manader: i64,
    stim_max: i64,
    stim_procent: i64,
    barn_lon_fritt: i64,
}

fn get(r: &ResolvedParams, name: &str) -> Option<i64> {
    match &r.get(name)?.value {
        ParamValue::Money(m) => Some(m.ore()),
        ParamValue::Integer(i) => Some(*i),
        ParamValue::Text(_) => None,
    }
}

impl Params {
    fn from_resolved(r: &ResolvedParams) -> Option<Params> {
        let g = |n: &str| get(r, n);
        let list = |names: &[&str]| -> Option<Vec<i64>> { names.iter().map(|n| g(n)).collect() };
        let barn = list(&[
            "riksnorm.barn_0",
            "riksnorm.barn_1_2",
            "riksnorm.barn_3",
            "riksnorm.barn_4_6",
            "riksnorm.barn_7_10",
            "riksnorm.barn_11_14",
            "riksnorm.barn_15_18",
            "riksnorm.barn_19_20",
        ])?;
        let ej_lunch = list(&[
            "riksnorm.barn_0_ej_lunch",
            "riksnorm.barn_1_2_ej_lunch",
            "riksnorm.barn_3_ej_lunch",
            "riksnorm.barn_4_6_ej_lunch",
        ])?;
        let gemensamma: Vec<i64> = (1..=7)
            .map(|n| g(&format!("riksnorm.gemensamma_{n}")))
            .collect::<Option<_>>()?;
        let hyra: Vec<i64> = (0..=4)
            .map(|n| g(&format!("kommun.hyra_riktvarde_{n}_barn")))
            .collect::<Option<_>>()?;
        Some(Params {
            ensamstaende: g("riksnorm.ensamstaende")?,
            sambor: g("riksnorm.sambor")?,
            barn: barn.try_into().ok()?,
            barn_ej_lunch: ej_lunch.try_into().ok()?,
            gemensamma: gemensamma.try_into().ok()?,
            hyra: hyra.try_into().ok()?,
            radrum: g("kommun.radrum_manader")?,
            resetak: g("kommun.arbetsresor_tak")?,
            fribelopp: g("kommun.tillgangar_fribelopp")?,
            tolerans: g("kommun.register_tolerans")?,
            stim_manader: g("jobbstimulans.manader_med_bistand")?,
            stim_max: g("jobbstimulans.max_manader")?,
            stim_procent: g("jobbstimulans.procent")?,
            // prisbasbelopp / 12 in öre, rounded down
            barn_lon_fritt: g("prisbasbelopp.belopp")?.div_euclid(12),
        })
    }

    fn common(&self, persons: usize) -> i64 {
        if persons <= 7 {
            return self.gemensamma[persons.saturating_sub(1)];
        }
        let step = self.gemensamma[6] - self.gemensamma[5];
        self.gemensamma[6] + step * (persons as i64 - 7)
    }

    fn child(&self, age: i32, lunch: bool) -> i64 {
        let group = match age {
            i32::MIN..=0 => 0,
            1..=2 => 1,
            3 => 2,
            4..=6 => 3,
            7..=10 => 4,
            11..=14 => 5,
            15..=18 => 6,
            _ => 7,
        };
        if lunch && group <= 3 {
            self.barn_ej_lunch[group]
        } else {
            self.barn[group]
        }
    }
}

/// `x × num ÷ den` rounded to whole kronor, half up (x ≥ 0), in öre.
fn share_kr(x: i64, num: i64, den: i64) -> i64 {
    let v = i128::from(x) * i128::from(num);
    let d = i128::from(den) * 100;
    ((v + d / 2).div_euclid(d) * 100) as i64
}

fn round_kr(x: i64) -> i64 {
    (x + 50).div_euclid(100) * 100
}

/// The result of the plain calculation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlainDraft {
    pub schema: &'static str,
    pub external_id: String,
    pub period: Period,
    pub outcome: Outcome,
    pub amount_sek: Option<Money>,
    pub codes: Vec<ReasonCode>,
    pub norm_sek: Money,
    pub costs_sek: Money,
    pub incomes_sek: Money,
    pub assets_sek: Money,
}

/// The parameters of every month the ruleset covers, looked up by index.
pub struct PlainRules {
    first: i64,
    months: Vec<Option<Params>>,
}

impl PlainRules {
    /// Resolves the ruleset's parameters for every month of `from..=to`.
    pub fn new(ruleset: &Ruleset, from: Period, to: Period) -> PlainRules {
        let mut months = Vec::new();
        let mut p = Some(from);
        while let Some(period) = p.filter(|p| p.index() <= to.index()) {
            months.push(
                ruleset
                    .resolved(period.first_day())
                    .ok()
                    .and_then(|r| Params::from_resolved(&r)),
            );
            p = period.plus_months(1);
        }
        PlainRules {
            first: from.index(),
            months,
        }
    }

    pub fn evaluate(&self, app: &Application) -> Option<PlainDraft> {
        let period = app.period();
        let p = self
            .months
            .get(usize::try_from(period.index() - self.first).ok()?)?
            .as_ref()?;
        let day = period.first_day();
        let hh = app.household();
        let adults = &hh.adults;
        let children = &hh.children;
        let mut codes: Vec<ReasonCode> = Vec::with_capacity(4);

        // 1. Manual routes.
        if app.kind() == ApplicationKind::Nyansokan {
            codes.push(ReasonCode::Nyansokan);
        }
        if adults.iter().any(|a| a.personnummer.age_on(day) < 18) {
            codes.push(ReasonCode::Under18);
        }
        let couple = adults.len() == 2 && matches!(adults[1].relation, Some(Relation::Sambo | Relation::Make));
        if adults.len() > 2 || (adults.len() == 2 && !couple) {
            codes.push(ReasonCode::Hushallssammansattning);
        }
        if !app.other_needs().is_empty() {
            codes.push(ReasonCode::LivsforingIOvrigt);
        }
        let register = app.register();
        if adults.iter().any(|a| {
            !a.job_seeking
                || a.exempt_reason.is_some()
                || register.is_some_and(|r| !r.job_seekers.contains(&a.personnummer))
        }) {
            codes.push(ReasonCode::EjArbetssokande);
        }
        if let Some(r) = register {
            let deviates = r.incomes.iter().enumerate().any(|(i, ri)| {
                // first register row of each (person, kind) sums the group
                if r.incomes[..i]
                    .iter()
                    .any(|x| x.person == ri.person && x.kind == ri.kind)
                {
                    return false;
                }
                let registered: i64 = r
                    .incomes
                    .iter()
                    .filter(|x| x.person == ri.person && x.kind == ri.kind)
                    .map(|x| x.amount.ore())
                    .sum();
                let declared: i64 = app
                    .incomes()
                    .iter()
                    .filter(|x| x.person == ri.person && x.kind == ri.kind)
                    .map(|x| x.amount.ore())
                    .sum();
                (declared - registered).abs() > p.tolerans
            });
            if deviates {
                codes.push(ReasonCode::RegisterAvvikelse);
            }
        }
        let manual = !codes.is_empty();

        // 2. Norm.
        let mut norm = if adults.len() == 1 {
            p.ensamstaende
        } else if couple {
            p.sambor
        } else {
            0
        };
        for c in children {
            let amount = p.child(c.personnummer.age_on(day), c.lunch_at_preschool);
            norm += if c.residence_share_percent < 100 {
                share_kr(amount, i64::from(c.residence_share_percent), 100)
            } else {
                amount
            };
        }
        let n = hh.size();
        match hh.dwelling_persons {
            Some(m) if m as usize > n => norm += share_kr(p.common(m as usize), n as i64, i64::from(m)),
            _ => norm += p.common(n),
        }

        // 3. Costs with caps.
        let c = app.costs();
        let mut capped = false;
        let ceiling = p.hyra[children.len().min(4)];
        let mut rent = c.rent.ore();
        if rent > ceiling
            && let Some(notice) = app.history().rent_notice_period
            && period.index() >= notice.index() + p.radrum
        {
            rent = ceiling;
            capped = true;
            codes.push(ReasonCode::HyraOverRiktvarde);
        }
        let mut travel = c.work_travel.ore();
        if travel > p.resetak {
            travel = p.resetak;
            capped = true;
            codes.push(ReasonCode::ArbetsresorOverTak);
        }
        let costs = rent
            + c.electricity.ore()
            + c.home_insurance.ore()
            + c.union_fee.ore()
            + c.unemployment_fund_fee.ore()
            + travel
            + c.childcare.ore();

        // 4. Incomes.
        let mut incomes: i64 = app.incomes().iter().map(|i| i.amount.ore()).sum();
        let h = app.history();
        let stim = i64::from(h.consecutive_months_with_bistand) >= p.stim_manader
            && i64::from(h.jobbstimulans_months_used) < p.stim_max;
        let wage = |person: &Personnummer| -> i64 {
            app.incomes()
                .iter()
                .filter(|i| i.kind == IncomeKind::Lon && &i.person == person)
                .map(|i| i.amount.ore())
                .sum()
        };
        if stim {
            for a in adults {
                incomes -= share_kr(wage(&a.personnummer), p.stim_procent, 100);
            }
        }
        for c in children {
            incomes -= wage(&c.personnummer).min(p.barn_lon_fritt);
        }

        // 5. Assets.
        let total_assets: i64 = app.assets().iter().map(|a| a.amount.ore()).sum();
        let assets = (total_assets - p.fribelopp).max(0);

        // 6. Result.
        let need = norm + costs - incomes - assets;
        let amount = if need > 0 { round_kr(need) } else { 0 };
        let (outcome, amount_sek) = if manual {
            (Outcome::Manuell, None)
        } else if amount == 0 {
            codes.push(ReasonCode::InkomsterTackerBehov);
            (Outcome::Avslag, Some(Money::ZERO))
        } else if capped {
            (Outcome::DelvisBifall, Some(Money::from_ore(amount)))
        } else {
            (Outcome::Bifall, Some(Money::from_ore(amount)))
        };
        Some(PlainDraft {
            schema: domain::DRAFT_SCHEMA_V1,
            external_id: app.external_id().to_string(),
            period,
            outcome,
            amount_sek,
            codes,
            norm_sek: Money::from_ore(norm),
            costs_sek: Money::from_ore(costs),
            incomes_sek: Money::from_ore(incomes),
            assets_sek: Money::from_ore(assets),
        })
    }
}
