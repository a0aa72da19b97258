//! The queue's search: how names, personnummer, diarienummer and external
//! ids become terms in `case_terms`, and how a query becomes the ranges
//! that find them. One method for both engines: a table of (term, case)
//! with a B-tree on the term, searched by prefix range. (SQLite's FTS5
//! trigram tokenizer and PostgreSQL's `pg_trgm` would each do it, but
//! differently and `pg_trgm` needs an extension installed by hand; a plain
//! table behaves the same on both and needs nothing.)
//!
//! Folding: lower case, and Latin letters with marks to their base letter
//! (å, ä, à, á → a; ö, ø, ó → o; é, è → e; ü → u; ß → ss, æ → ae, …), so
//! "ostlund", "Östlund" and "ÖSTLUND" are the same word. A word is a run of
//! letters and digits; digits joined by `-` or `+` are one word, so
//! `19400101-9999` is `194001019999`. Each word is stored with its suffixes
//! of [`MIN_SUFFIX`] characters or more, so a query word finds any part of
//! a word (from its third-last character): "lund" finds Östlund, "9999"
//! the last four digits, "4001019999" the ten-digit personnummer.

use std::collections::BTreeSet;

/// The shortest suffix stored (shorter words are stored whole).
pub const MIN_SUFFIX: usize = 3;
/// Query words shorter than this are ignored (too many cases match).
pub const MIN_QUERY_WORD: usize = 2;
/// At most this many query words are used.
pub const MAX_QUERY_WORDS: usize = 6;

/// One character folded: lower case, marks removed. Letters without a
/// mapping keep their lower-case form.
fn fold_char(c: char, out: &mut String) {
    for l in c.to_lowercase() {
        let s = match l {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
            'æ' => "ae",
            'ç' | 'ć' | 'č' => "c",
            'ď' | 'đ' | 'ð' => "d",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
            'ğ' => "g",
            'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => "i",
            'ł' | 'ľ' => "l",
            'ñ' | 'ń' | 'ň' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
            'œ' => "oe",
            'ř' => "r",
            'ś' | 'š' | 'ş' => "s",
            'ß' => "ss",
            'ť' | 'ţ' => "t",
            'þ' => "th",
            'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => "u",
            'ý' | 'ÿ' => "y",
            'ź' | 'ż' | 'ž' => "z",
            other => {
                out.push(other);
                continue;
            }
        };
        out.push_str(s);
    }
}

/// The folded words of a text.
pub fn words(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_alphanumeric() {
            fold_char(c, &mut cur);
            continue;
        }
        // `19400101-9999`, `400101+9999`: one word.
        let joins = matches!(c, '-' | '+')
            && i > 0
            && chars[i - 1].is_ascii_digit()
            && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if !joins && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The terms stored for some texts: each word and its suffixes of
/// [`MIN_SUFFIX`] characters or more.
pub fn terms<'a>(texts: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for t in texts {
        for w in words(t) {
            let chars: Vec<char> = w.chars().collect();
            if chars.len() <= MIN_SUFFIX {
                out.insert(w);
                continue;
            }
            for start in 0..=chars.len() - MIN_SUFFIX {
                out.insert(chars[start..].iter().collect());
            }
        }
    }
    out
}

/// The query's words as ranges `[from, to)`: a case matches when, for
/// every word, one of its terms starts with it.
pub fn query_ranges(q: &str) -> Vec<(String, String)> {
    let mut ws: Vec<String> = words(q)
        .into_iter()
        .filter(|w| w.chars().count() >= MIN_QUERY_WORD)
        .collect();
    ws.sort();
    ws.dedup();
    ws.truncate(MAX_QUERY_WORDS);
    ws.into_iter()
        .map(|w| {
            // After every string that starts with `w`, in byte order.
            let to = format!("{w}{}", char::MAX);
            (w, to)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_and_marks() {
        assert_eq!(words("Östlund, ÅSA-Märta Élise"), ["ostlund", "asa", "marta", "elise"]);
        assert_eq!(words("Strauß Ærø"), ["strauss", "aero"]);
    }

    #[test]
    fn personnummer_with_or_without_dash_is_one_word() {
        assert_eq!(words("19400101-9999"), ["194001019999"]);
        assert_eq!(words("400101+9999"), ["4001019999"]);
        assert_eq!(words("SN 2026/000123"), ["sn", "2026", "000123"]);
        assert_eq!(words("DEMO-202612-001"), ["demo", "202612001"]);
    }

    #[test]
    fn suffixes_find_parts() {
        let t = terms(["Östlund", "194001019999", "SN 2026/000123"]);
        let found = |q: &str| {
            query_ranges(q)
                .iter()
                .all(|(from, to)| t.iter().any(|x| x >= from && x < to))
        };
        for q in [
            "ostlund",
            "ÖST",
            "lund",
            "194001019999",
            "19400101-9999",
            "4001019999",
            "400101-9999",
            "9999",
            "SN 2026/000123",
            "000123",
            "123",
        ] {
            assert!(found(q), "{q}");
        }
        for q in ["holm", "19410101", "2027"] {
            assert!(!found(q), "{q}");
        }
    }

    #[test]
    fn short_and_many_words_are_dropped() {
        assert!(query_ranges("a - ").is_empty());
        assert_eq!(
            query_ranges("a b c d e f g h ii jj kk ll mm nn oo").len(),
            MAX_QUERY_WORDS
        );
    }
}
