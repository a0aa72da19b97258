//! A declarative field map: how another system's JSON becomes our
//! application document. Configuration, not code, so that a municipality
//! can follow its platform's form changes without a new release.
//!
//! ```toml
//! # target (a JSON pointer in the application) = rule
//! "/schema"      = { const = "ekonomiskt-bistand/ansokan/v1" }
//! "/external_id" = { from = "/id" }
//! "/period"      = { from = "/values/ansokningsmanad" }
//! "/costs/rent"  = { from = "/values/utgifter/hyra", as = "belopp", optional = true }
//! "/household/adults" = { each = "/values/vuxna", fields = { "/personnummer" = { from = "/personnummer" }, "/job_seeking" = { from = "/arbetssokande", as = "ja_nej" } } }
//! ```
//!
//! `from` reads a JSON pointer (inside `each`, relative to the element);
//! `as` converts: `text`, `number`, `integer`, `ja_nej` (ja/nej → true/false),
//! `belopp` (Swedish amount text like "5 200,50" → a JSON number, exactly).
//! `optional = true` leaves the target out when the source is missing,
//! null or empty; otherwise a missing source is an error naming both
//! pointers. The result still goes through `Application::parse`, which
//! validates every field.

use domain::Money;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FieldMap {
    pub fields: BTreeMap<String, Rule>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Convert {
    Text,
    Number,
    Integer,
    JaNej,
    Belopp,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Rule {
    Const(ConstRule),
    Each(EachRule),
    From(FromRule),
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ConstRule {
    #[serde(rename = "const")]
    pub value: toml_value::Any,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EachRule {
    pub each: String,
    pub fields: BTreeMap<String, Rule>,
    #[serde(default)]
    pub optional: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FromRule {
    pub from: String,
    #[serde(rename = "as")]
    pub convert: Option<Convert>,
    #[serde(default)]
    pub optional: bool,
}

/// A constant of any JSON-compatible type, from TOML or JSON.
pub mod toml_value {
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Any(pub serde_json::Value);

    impl<'de> Deserialize<'de> for Any {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            serde_json::Value::deserialize(d).map(Any)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field map: {target} ← {source_pointer}: {problem}")]
pub struct MapError {
    pub target: String,
    pub source_pointer: String,
    pub problem: String,
}

impl FieldMap {
    /// Builds the application document from the other system's JSON.
    pub fn apply(&self, source: &Value) -> Result<Value, MapError> {
        let mut out = Value::Object(Map::new());
        apply_fields(&self.fields, source, &mut out, "", &mut Strict)?;
        Ok(out)
    }

    /// As [`FieldMap::apply`], but a rule that fails leaves its target out
    /// and is reported, so the document can still be stored (and refused
    /// with the field's pointer by the application parser).
    pub fn apply_lenient(&self, source: &Value) -> (Value, Vec<MapError>) {
        let mut out = Value::Object(Map::new());
        let mut problems = Vec::new();
        let _ = apply_fields(&self.fields, source, &mut out, "", &mut Lenient(&mut problems));
        (out, problems)
    }
}

/// What to do with a rule that fails.
trait OnError {
    fn fail(&mut self, e: MapError) -> Result<(), MapError>;
    /// A value that could not be converted: strict mapping stops; lenient
    /// mapping keeps the raw value, so the application parser refuses it at
    /// its pointer instead of the field silently disappearing.
    fn keep_raw(&self) -> bool {
        false
    }
}

struct Strict;
impl OnError for Strict {
    fn fail(&mut self, e: MapError) -> Result<(), MapError> {
        Err(e)
    }
}

struct Lenient<'a>(&'a mut Vec<MapError>);
impl OnError for Lenient<'_> {
    fn fail(&mut self, e: MapError) -> Result<(), MapError> {
        self.0.push(e);
        Ok(())
    }
    fn keep_raw(&self) -> bool {
        true
    }
}

fn empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

fn apply_fields(
    fields: &BTreeMap<String, Rule>,
    source: &Value,
    out: &mut Value,
    prefix: &str,
    on_error: &mut dyn OnError,
) -> Result<(), MapError> {
    for (target, rule) in fields {
        let err = |src: &str, problem: &str| MapError {
            target: format!("{prefix}{target}"),
            source_pointer: src.to_string(),
            problem: problem.to_string(),
        };
        let value = match rule {
            Rule::Const(ConstRule { value }) => Ok(Some(value.0.clone())),
            Rule::From(FromRule {
                from,
                convert,
                optional,
            }) => match source.pointer(from) {
                Some(v) if !empty(v) => match convert_value(v, *convert) {
                    Ok(c) => Ok(Some(c)),
                    Err(p) if on_error.keep_raw() => {
                        on_error.fail(err(from, &p))?;
                        Ok(Some(v.clone()))
                    }
                    Err(p) => Err(err(from, &p)),
                },
                _ if *optional => Ok(None),
                _ => Err(err(from, "missing")),
            },
            Rule::Each(EachRule { each, fields, optional }) => match source.pointer(each) {
                Some(Value::Array(items)) => {
                    let mut list = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        let mut o = Value::Object(Map::new());
                        apply_fields(fields, item, &mut o, &format!("{prefix}{target}/{i}"), on_error)?;
                        list.push(o);
                    }
                    Ok(Some(Value::Array(list)))
                }
                Some(v) if empty(v) && *optional => Ok(None),
                None if *optional => Ok(None),
                Some(_) => Err(err(each, "not a list")),
                None => Err(err(each, "missing")),
            },
        };
        match value.and_then(|v| match v {
            Some(v) => set(out, target, v).map_err(|p| err("", &p)),
            None => Ok(()),
        }) {
            Ok(()) => {}
            Err(e) => on_error.fail(e)?,
        }
    }
    Ok(())
}

fn convert_value(v: &Value, convert: Option<Convert>) -> Result<Value, String> {
    let Some(c) = convert else { return Ok(v.clone()) };
    match c {
        Convert::Text => match v {
            Value::String(_) => Ok(v.clone()),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            _ => Err("not text".into()),
        },
        Convert::JaNej => match v {
            Value::Bool(_) => Ok(v.clone()),
            Value::String(s) => match s.trim().to_lowercase().as_str() {
                "ja" | "j" | "yes" | "true" | "1" => Ok(Value::Bool(true)),
                "nej" | "n" | "no" | "false" | "0" => Ok(Value::Bool(false)),
                _ => Err("not ja/nej".into()),
            },
            _ => Err("not ja/nej".into()),
        },
        Convert::Belopp | Convert::Number => {
            let text = match v {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                _ => return Err("not an amount".into()),
            };
            let m = Money::parse_kronor_text(&text).map_err(|e| e.to_string())?;
            serde_json::from_str(&m.to_json_number_string()).map_err(|e| e.to_string())
        }
        Convert::Integer => {
            let text = match v {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.trim().to_string(),
                _ => return Err("not an integer".into()),
            };
            text.parse::<i64>()
                .map(Value::from)
                .map_err(|_| "not an integer".into())
        }
    }
}

/// Sets `pointer` in `out`, creating objects on the way.
fn set(out: &mut Value, pointer: &str, value: Value) -> Result<(), String> {
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(format!("{pointer:?} is not a JSON pointer"));
    };
    let parts: Vec<String> = rest
        .split('/')
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut cur = out;
    for (i, part) in parts.iter().enumerate() {
        let Value::Object(map) = cur else {
            return Err(format!("{pointer:?} goes through something that is not an object"));
        };
        if i == parts.len() - 1 {
            map.insert(part.clone(), value);
            return Ok(());
        }
        cur = map.entry(part.clone()).or_insert_with(|| Value::Object(Map::new()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(toml_text: &str) -> FieldMap {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn builds_nested_documents_with_conversions() {
        let m = map(r#"
[fields]
"/schema" = { const = "ekonomiskt-bistand/ansokan/v1" }
"/external_id" = { from = "/id" }
"/costs/rent" = { from = "/v/utgifter/hyra", as = "belopp" }
"/costs/childcare" = { from = "/v/utgifter/barnomsorg", as = "belopp", optional = true }
"/household/dwelling_persons" = { from = "/v/antal", as = "integer", optional = true }
"/household/adults" = { each = "/v/vuxna", fields = { "/personnummer" = { from = "/pnr" }, "/job_seeking" = { from = "/as", as = "ja_nej" } } }
"#);
        let src = json!({"id": "E-1", "v": {"utgifter": {"hyra": "5 200,50", "barnomsorg": ""}, "antal": "3",
            "vuxna": [{"pnr": "198112189876", "as": "ja"}, {"pnr": "198504039820", "as": "Nej"}]}});
        let out = m.apply(&src).unwrap();
        assert_eq!(
            out,
            json!({"schema": "ekonomiskt-bistand/ansokan/v1", "external_id": "E-1", "costs": {"rent": 5200.5},
                "household": {"dwelling_persons": 3, "adults": [{"personnummer": "198112189876", "job_seeking": true},
                {"personnummer": "198504039820", "job_seeking": false}]}})
        );
        // The amount text is exact.
        assert_eq!(out["costs"]["rent"].to_string(), "5200.5");
    }

    #[test]
    fn missing_and_wrong_sources_are_errors_that_name_both_ends() {
        let m = map("[fields]\n\"/period\" = { from = \"/v/manad\" }\n");
        let e = m.apply(&json!({"v": {}})).unwrap_err();
        assert_eq!((e.target.as_str(), e.source_pointer.as_str()), ("/period", "/v/manad"));
        let m = map("[fields]\n\"/costs/rent\" = { from = \"/hyra\", as = \"belopp\" }\n");
        assert!(m.apply(&json!({"hyra": "fem tusen"})).is_err());
        assert!(m.apply(&json!({"hyra": "5,555"})).is_err(), "three decimals");
        let m = map("[fields]\n\"/x\" = { each = \"/l\", fields = {} }\n");
        assert!(m.apply(&json!({"l": 5})).is_err());
    }

    #[test]
    fn lenient_mapping_leaves_out_what_fails_and_says_so() {
        let m = map("[fields]\n\"/period\" = { from = \"/manad\" }\n\"/external_id\" = { from = \"/id\" }\n");
        let (doc, problems) = m.apply_lenient(&json!({"id": "E-9"}));
        assert_eq!(doc, json!({"external_id": "E-9"}));
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].target, "/period");
        // A value that cannot be converted is kept as it was, so the
        // application parser refuses it at its pointer.
        let m = map("[fields]\n\"/costs/rent\" = { from = \"/hyra\", as = \"belopp\" }\n");
        let (doc, problems) = m.apply_lenient(&json!({"hyra": "250,555"}));
        assert_eq!(doc, json!({"costs": {"rent": "250,555"}}));
        assert_eq!(problems.len(), 1);
    }

    #[test]
    fn unknown_keys_in_a_map_are_refused() {
        assert!(toml::from_str::<FieldMap>("[fields]\n\"/a\" = { form = \"/b\" }\n").is_err());
        assert!(toml::from_str::<FieldMap>("[fields]\n\"/a\" = { from = \"/b\", optinal = true }\n").is_err());
    }
}
