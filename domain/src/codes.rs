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
            Outcome::Manuell => "Manuell handläggning",
        }
    }
}

string_enum! {
    /// The stable codes of ruleset contract v2: why a case goes to a person,
    /// which cap was applied, why the application is rejected.
    ReasonCode, "kod" {
        Nyansokan => "nyansokan",
        Ungdom19_20 => "ungdom_19_20",
        Under18 => "under_18",
        Hushallssammansattning => "hushallssammansattning",
        LivsforingIOvrigt => "livsforing_i_ovrigt",
        EjArbetssokande => "ej_arbetssokande",
        RegisterAvvikelse => "register_avvikelse",
        HyraOverRiktvarde => "hyra_over_riktvarde",
        ArbetsresorOverTak => "arbetsresor_over_tak",
        InkomsterTackerBehov => "inkomster_tacker_behov",
        DubblettPeriod => "dubblett_period",
        AndradAnsokan => "andrad_ansokan",
    }
}

impl ReasonCode {
    /// Codes that send the case to manual handling.
    pub const fn is_manual_route(self) -> bool {
        matches!(
            self,
            ReasonCode::Nyansokan
                | ReasonCode::Ungdom19_20
                | ReasonCode::Under18
                | ReasonCode::Hushallssammansattning
                | ReasonCode::LivsforingIOvrigt
                | ReasonCode::EjArbetssokande
                | ReasonCode::RegisterAvvikelse
                | ReasonCode::DubblettPeriod
                | ReasonCode::AndradAnsokan
        )
    }

    /// Routing codes the runtime adds from what is in the case store (a
    /// ruleset sees one application and cannot know them).
    pub const fn is_store_route(self) -> bool {
        matches!(self, ReasonCode::DubblettPeriod | ReasonCode::AndradAnsokan)
    }

    /// Codes that record a municipal cap on a cost.
    pub const fn is_cap(self) -> bool {
        matches!(self, ReasonCode::HyraOverRiktvarde | ReasonCode::ArbetsresorOverTak)
    }

    /// A short Swedish description for officials.
    pub const fn label(self) -> &'static str {
        match self {
            ReasonCode::Nyansokan => "Nyansökan kräver personligt besök",
            ReasonCode::Ungdom19_20 => "Ungdom 19–20 år som inte går i gymnasiet",
            ReasonCode::Under18 => "En vuxen i hushållet är under 18 år",
            ReasonCode::Hushallssammansattning => "Hushållets sammansättning kräver bedömning",
            ReasonCode::LivsforingIOvrigt => "Ansökan om livsföring i övrigt",
            ReasonCode::EjArbetssokande => "Vuxen står inte till arbetsmarknadens förfogande",
            ReasonCode::RegisterAvvikelse => "Uppgifter i register avviker från ansökan",
            ReasonCode::HyraOverRiktvarde => "Hyran begränsad till kommunens riktvärde",
            ReasonCode::ArbetsresorOverTak => "Arbetsresor begränsade till kommunens tak",
            ReasonCode::InkomsterTackerBehov => "Inkomsterna täcker behovet",
            ReasonCode::DubblettPeriod => "Det finns redan en ansökan för samma person och period",
            ReasonCode::AndradAnsokan => "Ansökan har kommit in på nytt med ändrat innehåll",
        }
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
        for c in ReasonCode::ALL {
            assert_eq!(c.as_str().parse::<ReasonCode>().unwrap(), *c);
            assert!(c.is_manual_route() || c.is_cap() || *c == ReasonCode::InkomsterTackerBehov);
        }
        assert!("Bifall".parse::<Outcome>().is_err());
        assert_eq!(
            serde_json::to_string(&Outcome::DelvisBifall).unwrap(),
            "\"delvis_bifall\""
        );
    }
}
