//! Closed vocabularies: decision outcomes and the routing/cap codes of the
//! ruleset contract. The database stores the same names.

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $err:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result { f.write_str(self.as_str()) }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::UnknownName;
            fn from_str(s: &str) -> Result<Self, $crate::UnknownName> {
                match s { $($text => Ok($name::$variant),)+ _ => Err($crate::UnknownName { kind: $err, value: s.chars().take(64).collect() }) }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> { s.serialize_str(self.as_str()) }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use string_enum;

/// A name a casework type declares (a code, a part of the calculation):
/// 1–64 of `a–z`, `0–9`, `_`.
pub(crate) fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("okänt värde för {kind}: {value:?}")]
pub struct UnknownName {
    pub kind: &'static str,
    pub value: String,
}

string_enum! {
    /// What the draft proposes.
    Outcome, "utfall" {
        Bifall => "bifall",
        DelvisBifall => "delvis_bifall",
        Avslag => "avslag",
        Faststalld => "faststalld",
        Manuell => "manuell",
    }
}

impl Outcome {
    /// Swedish, as an official or citizen reads it.
    pub const fn label(self) -> &'static str {
        match self {
            Outcome::Bifall => "Bifall",
            Outcome::DelvisBifall => "Delvis bifall",
            Outcome::Avslag => "Avslag",
            Outcome::Faststalld => "Fastställt belopp",
            Outcome::Manuell => "Manuell handläggning",
        }
    }
}

/// A code in a draft: why a case goes to a person, which cap was applied,
/// why an application is rejected. The codes belong to the casework type
/// (its manifest declares each with a label and whether it routes to a
/// person); the runtime adds two of its own to any type
/// ([`ReasonCode::DUBBLETT_PERIOD`], [`ReasonCode::ANDRAD_ANSOKAN`]).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ReasonCode(std::borrow::Cow<'static, str>);

impl ReasonCode {
    /// Routing the runtime adds: another case for the same person and period.
    pub const DUBBLETT_PERIOD: ReasonCode = ReasonCode(std::borrow::Cow::Borrowed("dubblett_period"));
    /// Routing the runtime adds: the application came again, changed.
    pub const ANDRAD_ANSOKAN: ReasonCode = ReasonCode(std::borrow::Cow::Borrowed("andrad_ansokan"));

    /// A code name: 1–64 of `a–z`, `0–9`, `_`.
    pub fn new(name: &str) -> Result<ReasonCode, UnknownName> {
        if !is_name(name) {
            return Err(UnknownName {
                kind: "kod",
                value: name.chars().take(64).collect(),
            });
        }
        Ok(match name {
            "dubblett_period" => ReasonCode::DUBBLETT_PERIOD,
            "andrad_ansokan" => ReasonCode::ANDRAD_ANSOKAN,
            _ => ReasonCode(std::borrow::Cow::Owned(name.to_string())),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Routing codes the runtime adds from what is in the case store (a
    /// ruleset sees one application and cannot know them).
    pub fn is_store_route(&self) -> bool {
        *self == ReasonCode::DUBBLETT_PERIOD || *self == ReasonCode::ANDRAD_ANSOKAN
    }

    /// The Swedish label of the runtime's own codes; a casework type's
    /// codes are labelled in its manifest.
    pub fn store_label(&self) -> Option<&'static str> {
        if *self == ReasonCode::DUBBLETT_PERIOD {
            Some("Det finns redan en ansökan för samma person och period")
        } else if *self == ReasonCode::ANDRAD_ANSOKAN {
            Some("Ansökan har kommit in på nytt med ändrat innehåll")
        } else {
            None
        }
    }
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ReasonCode {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        ReasonCode::new(s)
    }
}

impl serde::Serialize for ReasonCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ReasonCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        ReasonCode::new(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>().unwrap(), *o);
        }
        for name in ["nyansokan", "hogkostnadsskydd", "dubblett_period"] {
            let c: ReasonCode = name.parse().unwrap();
            assert_eq!(c.as_str(), name);
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{name}\""));
        }
        assert!("dubblett_period".parse::<ReasonCode>().unwrap().is_store_route());
        for bad in ["", "Nyansokan", "a b", "å", &"x".repeat(65)] {
            assert!(bad.parse::<ReasonCode>().is_err(), "{bad:?}");
        }
        assert!("Bifall".parse::<Outcome>().is_err());
        assert_eq!(
            serde_json::to_string(&Outcome::DelvisBifall).unwrap(),
            "\"delvis_bifall\""
        );
    }
}
