//! A small namespace-aware element tree over quick-xml's reader, with hard
//! limits, for reading SOAP answers.
//!
//! SSBTEK answers are small (one person, one month) but come from outside:
//! the reader refuses documents over [`MAX_BYTES`], deeper than
//! [`MAX_DEPTH`] or with more than [`MAX_ELEMENTS`] elements, anything that
//! is not UTF-8, and any DTD (SOAP 1.1 forbids one; refusing it also rules
//! out entity tricks). Errors name a category and a byte offset, never the
//! document's text, so they cannot carry personal data into a log line.

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

pub(crate) const MAX_BYTES: usize = 4 * 1024 * 1024;
pub(crate) const MAX_DEPTH: usize = 64;
pub(crate) const MAX_ELEMENTS: usize = 100_000;

/// One element: its namespace URI (empty when unbound), local name,
/// unqualified attributes, child elements and its own text (the
/// concatenation of its direct text and CDATA nodes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Element {
    pub ns: String,
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct XmlError(pub String);

impl Element {
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    /// The first child with this namespace and local name.
    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(ns, name))
    }

    pub fn children_named<'a>(&'a self, ns: &'a str, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(ns, name))
    }

    /// An attribute without a namespace prefix.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The element's text with surrounding whitespace removed.
    pub fn text(&self) -> &str {
        self.text.trim()
    }
}

fn bad(what: &str, at: u64) -> XmlError {
    XmlError(format!("{what} at byte {at}"))
}

/// Parses a whole document into its root element.
pub(crate) fn parse(doc: &[u8]) -> Result<Element, XmlError> {
    if doc.len() > MAX_BYTES {
        return Err(XmlError(format!("the document is larger than {MAX_BYTES} bytes")));
    }
    let text = std::str::from_utf8(doc).map_err(|e| bad("not UTF-8", e.valid_up_to() as u64))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = NsReader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let at = reader.buffer_position();
        let (ns, event) = match reader.read_resolved_event() {
            Ok((ns, event)) => (
                match ns {
                    ResolveResult::Bound(n) => Some(n.0.to_string()),
                    ResolveResult::Unbound => Some(String::new()),
                    ResolveResult::Unknown(_) => None,
                },
                event,
            ),
            Err(_) => return Err(bad("not well-formed XML", reader.error_position())),
        };
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let Some(ns) = ns else {
                    return Err(bad("an undeclared namespace prefix", at));
                };
                if root.is_some() {
                    return Err(bad("content after the root element", at));
                }
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(bad("too many elements", at));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(bad("elements nested too deep", at));
                }
                let mut el = Element {
                    ns,
                    name: e.local_name().as_ref().to_string(),
                    ..Element::default()
                };
                for a in e.attributes() {
                    let a = a.map_err(|_| bad("a malformed attribute", at))?;
                    let key = a.key.as_ref();
                    if key == "xmlns" || key.starts_with("xmlns:") {
                        continue;
                    }
                    // Only unprefixed attributes are kept (the contract uses
                    // no qualified ones); `xsi:nil` and the like are dropped.
                    if key.contains(':') {
                        continue;
                    }
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Explicit1_0)
                        .map_err(|_| bad("a malformed attribute value", at))?;
                    el.attrs.push((key.to_string(), value.into_owned()));
                }
                if matches!(event, Event::Empty(_)) {
                    close(&mut stack, &mut root, el);
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let Some(el) = stack.pop() else {
                    return Err(bad("an end tag without a start", at));
                };
                close(&mut stack, &mut root, el);
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => return Err(bad("text outside the root element", at)),
                }
            }
            Event::CData(t) => match stack.last_mut() {
                Some(el) => el.text.push_str(&t.xml10_content()),
                None => return Err(bad("text outside the root element", at)),
            },
            Event::GeneralRef(r) => {
                let resolved: String = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => return Err(bad("a malformed character reference", at)),
                    }
                } else {
                    match quick_xml::escape::resolve_predefined_entity(&r.xml10_content()) {
                        Some(s) => s.to_string(),
                        None => return Err(bad("an unknown entity", at)),
                    }
                };
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&resolved),
                    None => return Err(bad("text outside the root element", at)),
                }
            }
            Event::DocType(_) => return Err(bad("a document type declaration (not allowed in SOAP)", at)),
            Event::Decl(d) => {
                if let Some(Ok(enc)) = d.encoding()
                    && !enc.eq_ignore_ascii_case("utf-8")
                {
                    return Err(bad("an encoding other than UTF-8", at));
                }
            }
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(bad("unclosed elements", reader.buffer_position()));
    }
    root.ok_or_else(|| XmlError("no root element".into()))
}

fn close(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_namespaces_prefixes_and_defaults() {
        let doc = br#"<?xml version="1.0" encoding="UTF-8"?>
            <a:root xmlns:a="urn:a" xmlns="urn:d" x="1&amp;2">
              <child>t&#229;&lt;<![CDATA[ & ]]></child><a:empty k='v'/>
            </a:root>"#;
        let r = parse(doc).unwrap();
        assert!(r.is("urn:a", "root"));
        assert_eq!(r.attr("x"), Some("1&2"));
        let c = r.child("urn:d", "child").unwrap();
        assert_eq!(c.text(), "tå< &");
        assert_eq!(r.child("urn:a", "empty").unwrap().attr("k"), Some("v"));
        assert!(r.child("urn:a", "child").is_none());
    }

    #[test]
    fn refuses_what_a_soap_answer_must_not_contain() {
        for (doc, what) in [
            (&b"<a><b></a>"[..], "not well-formed"),
            (b"<a></a><b/>", "after the root"),
            (b"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>", "document type"),
            (b"<a>&x;</a>", "unknown entity"),
            (b"<p:a/>", "undeclared namespace"),
            (b"<a>\xff</a>", "UTF-8"),
            (b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>", "encoding"),
            (b"", "no root"),
            (b"<a>", "unclosed"),
        ] {
            let e = parse(doc).unwrap_err();
            assert!(e.0.contains(what), "{doc:?}: {e}");
        }
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert!(parse(deep.as_bytes()).unwrap_err().0.contains("too deep"));
    }

    #[test]
    fn errors_do_not_quote_the_document() {
        let e = parse(b"<a><b>198112189876</c></a>").unwrap_err();
        assert!(!e.0.contains("1981"), "{e}");
    }
}
