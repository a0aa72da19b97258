//! A lazy walk over a JSON document that keeps every number's own text, so
//! that money is parsed exactly and every error can name its JSON pointer.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;

pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    Number(&'a str),
    String(String),
    Array(Vec<&'a RawValue>),
    Object(Vec<(String, &'a RawValue)>),
}

impl Json<'_> {
    pub fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "ett sanningsvärde",
            Json::Number(_) => "ett tal",
            Json::String(_) => "en text",
            Json::Array(_) => "en lista",
            Json::Object(_) => "ett objekt",
        }
    }
}

struct Entries<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Entries<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Entries<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Entries<'a>, M::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// Looks at one raw value and splits off its first level.
pub(crate) fn classify(raw: &RawValue) -> Result<Json<'_>, serde_json::Error> {
    let text = raw.get();
    let first = text.as_bytes().iter().find(|b| !b.is_ascii_whitespace()).copied();
    Ok(match first {
        Some(b'n') => Json::Null,
        Some(b't') => Json::Bool(true),
        Some(b'f') => Json::Bool(false),
        Some(b'"') => Json::String(serde_json::from_str(text)?),
        Some(b'[') => Json::Array(serde_json::from_str(text)?),
        Some(b'{') => Json::Object(serde_json::from_str::<Entries<'_>>(text)?.0),
        _ => Json::Number(text.trim()),
    })
}

/// A JSON pointer (RFC 6901) under construction.
#[derive(Clone, Debug, Default)]
pub(crate) struct Pointer(String);

impl Pointer {
    pub fn root() -> Pointer {
        Pointer(String::new())
    }
    // Built for every field the validator visits, so without `format!` and
    // with one allocation.
    pub fn key(&self, key: &str) -> Pointer {
        let mut p = String::with_capacity(self.0.len() + 1 + key.len());
        p.push_str(&self.0);
        p.push('/');
        for c in key.chars() {
            match c {
                '~' => p.push_str("~0"),
                '/' => p.push_str("~1"),
                c => p.push(c),
            }
        }
        Pointer(p)
    }
    pub fn index(&self, i: usize) -> Pointer {
        use std::fmt::Write as _;
        let mut p = String::with_capacity(self.0.len() + 4);
        p.push_str(&self.0);
        let _ = write!(p, "/{i}");
        Pointer(p)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Pointer;

    #[test]
    fn pointers_escape_tilde_and_slash() {
        let p = Pointer::root().key("incomes").index(3).key("a/b~c").key("å");
        assert_eq!(p.as_str(), "/incomes/3/a~1b~0c/å");
        assert_eq!(Pointer::root().key("").as_str(), "/");
    }
}
