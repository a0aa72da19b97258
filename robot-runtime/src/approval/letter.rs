//! Decision letters: an editable template (minijinja) gives well-formed
//! XHTML; the same document becomes the PDF (pdf-writer, the standard
//! Helvetica fonts in WinAnsiEncoding, which has å, ä, ö and é) and the
//! plain-text e-mail body. One template, three renderings, no drift.

use quick_xml::events::Event as X;
use serde::Serialize;

pub const DEFAULT_TEMPLATE: &str = include_str!("../../templates/beslut.html.j2");

#[derive(Debug, thiserror::Error)]
pub enum LetterError {
    #[error("the letter template: {0}")]
    Template(String),
    #[error("the letter is not well-formed XHTML: {0}")]
    Xhtml(String),
}

/// A rendered letter.
#[derive(Clone)]
pub struct Rendered {
    pub html: String,
    pub text: String,
    pub pdf: Vec<u8>,
}

/// Renders a template with any context: XHTML, then the same blocks as
/// text and as PDF. `title` is the PDF's title, `footer` its page footer.
pub fn render_with<T: Serialize>(template: &str, data: &T, title: &str, footer: &str) -> Result<Rendered, LetterError> {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template("brev", template)
        .map_err(|e| LetterError::Template(e.to_string()))?;
    let html = env
        .get_template("brev")
        .and_then(|t| t.render(minijinja::value::Serde(data)))
        .map_err(|e| LetterError::Template(e.to_string()))?;
    let blocks = blocks(&html)?;
    Ok(Rendered {
        text: text(&blocks),
        pdf: pdf(&blocks, footer, title),
        html,
    })
}

// ---------------------------------------------------------------- the document model

#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Heading(u8, String),
    Paragraph(Vec<Run>),
    Item(Vec<Run>),
    /// A table row: the cells, and whether it is a sum (bold).
    Row(Vec<String>, bool),
    Rule,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub text: String,
    pub bold: bool,
}

fn push_text(runs: &mut Vec<Run>, text: &str, bold: bool) {
    if text.is_empty() {
        return;
    }
    match runs.last_mut() {
        Some(r) if r.bold == bold => r.text.push_str(text),
        _ => runs.push(Run {
            text: text.to_string(),
            bold,
        }),
    }
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The XHTML letter as blocks (headings, paragraphs, list items, table rows).
pub fn blocks(xhtml: &str) -> Result<Vec<Block>, LetterError> {
    let mut reader = quick_xml::Reader::from_str(xhtml);
    let mut out = Vec::new();
    let mut runs: Vec<Run> = Vec::new();
    let mut cells: Vec<String> = Vec::new();
    let mut in_cell = false;
    let mut row_sum = false;
    let mut bold = 0u32;
    let mut skip = 0u32;
    let mut heading: Option<u8> = None;
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| LetterError::Xhtml(format!("at byte {}: {e}", reader.error_position())))?;
        match ev {
            X::Eof => break,
            X::Start(e) => {
                let name = e.name();
                match name.as_ref() {
                    "style" | "script" | "head" => skip += 1,
                    "strong" | "b" => bold += 1,
                    "h1" => heading = Some(1),
                    "h2" => heading = Some(2),
                    "h3" => heading = Some(3),
                    "tr" => {
                        cells.clear();
                        row_sum = e
                            .attributes()
                            .flatten()
                            .any(|a| a.key.as_ref() == "class" && a.value.as_ref() == "summa");
                    }
                    "td" | "th" => {
                        if name.as_ref() == "th" {
                            bold += 1;
                        }
                        in_cell = true;
                        cells.push(String::new());
                    }
                    _ => {}
                }
            }
            X::Empty(e) => match e.name().as_ref() {
                "br" => push_text(&mut runs, "\n", bold > 0),
                "hr" => out.push(Block::Rule),
                _ => {}
            },
            X::Text(t) => {
                if skip > 0 {
                    continue;
                }
                let text: &str = &t;
                if in_cell {
                    if let Some(c) = cells.last_mut() {
                        c.push_str(text);
                    }
                } else {
                    push_text(&mut runs, text, bold > 0);
                }
            }
            X::GeneralRef(r) => {
                if skip > 0 {
                    continue;
                }
                let text = match r.resolve_char_ref().map_err(|e| LetterError::Xhtml(e.to_string()))? {
                    Some(c) => c.to_string(),
                    None => match &*r {
                        "amp" => "&".to_string(),
                        "lt" => "<".to_string(),
                        "gt" => ">".to_string(),
                        "quot" => "\"".to_string(),
                        "apos" => "'".to_string(),
                        "nbsp" => "\u{a0}".to_string(),
                        other => return Err(LetterError::Xhtml(format!("unknown entity &{other};"))),
                    },
                };
                if in_cell {
                    if let Some(c) = cells.last_mut() {
                        c.push_str(&text);
                    }
                } else {
                    push_text(&mut runs, &text, bold > 0);
                }
            }
            X::End(e) => match e.name().as_ref() {
                "style" | "script" | "head" => skip = skip.saturating_sub(1),
                "strong" | "b" => bold = bold.saturating_sub(1),
                "th" => {
                    bold = bold.saturating_sub(1);
                    in_cell = false;
                }
                "td" => in_cell = false,
                "tr" => out.push(Block::Row(cells.iter().map(|c| squash(c)).collect(), row_sum)),
                "h1" | "h2" | "h3" => {
                    let t: String = runs.drain(..).map(|r| r.text).collect();
                    out.push(Block::Heading(heading.take().unwrap_or(2), squash(&t)));
                }
                "p" | "li" => {
                    let mut rs: Vec<Run> = runs
                        .drain(..)
                        .map(|r| Run {
                            text: r.text,
                            bold: r.bold,
                        })
                        .collect();
                    // Collapse whitespace inside lines, keep explicit breaks.
                    for r in &mut rs {
                        r.text = r.text.split('\n').map(squash).collect::<Vec<_>>().join("\n");
                    }
                    rs.retain(|r| !r.text.trim().is_empty());
                    if !rs.is_empty() {
                        out.push(if e.name().as_ref() == "li" {
                            Block::Item(rs)
                        } else {
                            Block::Paragraph(rs)
                        });
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
    Ok(out)
}

/// The letter as plain text (the e-mail's text part).
pub fn text(blocks: &[Block]) -> String {
    let mut s = String::new();
    for b in blocks {
        match b {
            Block::Heading(1, t) => s.push_str(&format!("\n{t}\n{}\n\n", "=".repeat(t.chars().count()))),
            Block::Heading(_, t) => s.push_str(&format!("\n{t}\n{}\n\n", "-".repeat(t.chars().count()))),
            Block::Paragraph(rs) => {
                let t: String = rs.iter().map(|r| r.text.as_str()).collect();
                s.push_str(t.trim());
                s.push_str("\n\n");
            }
            Block::Item(rs) => {
                let t: String = rs.iter().map(|r| r.text.as_str()).collect();
                s.push_str(&format!("  - {}\n", t.trim()));
            }
            Block::Row(cells, _) => match cells.as_slice() {
                [one] => s.push_str(&format!("{one}\n")),
                [first, .., last] => s.push_str(&format!("  {first:<52} {last:>14}\n")),
                [] => {}
            },
            Block::Rule => s.push_str("\n----\n"),
        }
    }
    s.trim().to_string() + "\n"
}

// ---------------------------------------------------------------- PDF

/// WinAnsiEncoding (Windows-1252) for the standard fonts.
fn win_ansi(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c {
            '\u{20}'..='\u{7e}' => c as u8,
            '\u{a0}'..='\u{ff}' => c as u32 as u8,
            '€' => 0x80,
            '‚' => 0x82,
            '„' => 0x84,
            '…' => 0x85,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '\u{2212}' => b'-',
            _ => b'?',
        })
        .collect()
}

/// Helvetica's advance widths (per 1000 em) for WinAnsi codes 32–126, from
/// the standard font metrics; other codes use the width of their base letter.
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556, 556,
    556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833,
    722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556,
    556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334,
    260, 334, 584,
];

/// Helvetica-Bold's advance widths for WinAnsi codes 32–126.
const HELVETICA_BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556, 556,
    556, 556, 556, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833,
    722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, 333, 556, 611, 556, 611,
    556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389,
    280, 389, 584,
];

fn width(bytes: &[u8], size: f32, bold: bool) -> f32 {
    let table = if bold { &HELVETICA_BOLD } else { &HELVETICA };
    let w: u32 = bytes
        .iter()
        .map(|b| match b {
            32..=126 => u32::from(table[usize::from(b - 32)]),
            0xc0..=0xc6 => {
                if bold {
                    722
                } else {
                    667
                }
            }
            0xd2..=0xd6 | 0xd8 => 778,
            0xf2..=0xf6 | 0xf8..=0xfc if bold => 611,
            0xf2..=0xf6 | 0xf8..=0xfc => 556,
            0xe0..=0xe6 | 0xe8..=0xeb => 556,
            0xa0 => 278,
            0x96 => 556,
            0x97 => 1000,
            _ => 556,
        })
        .sum();
    w as f32 * size / 1000.0
}

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 64.0;

struct Page {
    ops: Vec<(f32, f32, bool, f32, Vec<u8>)>,
    lines: Vec<(f32, f32, f32)>,
}

struct Layout {
    pages: Vec<Page>,
    y: f32,
}

impl Layout {
    fn new() -> Layout {
        Layout {
            pages: vec![Page {
                ops: Vec::new(),
                lines: Vec::new(),
            }],
            y: PAGE_H - MARGIN,
        }
    }
    fn need(&mut self, h: f32) {
        if self.y - h < MARGIN + 24.0 {
            self.pages.push(Page {
                ops: Vec::new(),
                lines: Vec::new(),
            });
            self.y = PAGE_H - MARGIN;
        }
    }
    fn put(&mut self, x: f32, size: f32, bold: bool, text: Vec<u8>) {
        if let Some(p) = self.pages.last_mut() {
            p.ops.push((x, self.y, bold, size, text));
        }
    }
    fn rule(&mut self) {
        let y = self.y;
        if let Some(p) = self.pages.last_mut() {
            p.lines.push((MARGIN, PAGE_W - MARGIN, y));
        }
    }
}

/// Wraps runs into lines of at most `max` points, keeping bold runs bold.
fn wrap(runs: &[Run], size: f32, max: f32) -> Vec<Vec<(bool, Vec<u8>)>> {
    let mut lines: Vec<Vec<(bool, Vec<u8>)>> = vec![Vec::new()];
    let mut used = 0.0;
    for r in runs {
        for (i, part) in r.text.split('\n').enumerate() {
            if i > 0 {
                lines.push(Vec::new());
                used = 0.0;
            }
            for word in part.split(' ').filter(|w| !w.is_empty()) {
                let bytes = win_ansi(word);
                let w = width(&bytes, size, r.bold);
                let space = width(b" ", size, r.bold);
                let line = lines.last_mut().map(|l| l.is_empty()).unwrap_or(true);
                if !line && used + space + w > max {
                    lines.push(Vec::new());
                    used = 0.0;
                }
                if let Some(l) = lines.last_mut() {
                    let mut b = if l.is_empty() { Vec::new() } else { vec![b' '] };
                    b.extend(bytes);
                    used += if l.is_empty() { w } else { space + w };
                    match l.last_mut() {
                        Some((bd, t)) if *bd == r.bold => t.extend(b),
                        _ => l.push((r.bold, b)),
                    }
                }
            }
        }
    }
    lines.retain(|l| !l.is_empty());
    lines
}

pub fn pdf(blocks: &[Block], footer: &str, title: &str) -> Vec<u8> {
    use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
    let body = 10.5;
    let lead = body * 1.4;
    let max = PAGE_W - 2.0 * MARGIN;
    let mut l = Layout::new();
    for b in blocks {
        match b {
            Block::Heading(level, t) => {
                let size = if *level == 1 { 16.0 } else { 12.0 };
                l.need(size * 2.4);
                l.y -= size * 0.9;
                for line in wrap(
                    &[Run {
                        text: t.clone(),
                        bold: true,
                    }],
                    size,
                    max,
                ) {
                    l.need(size * 1.3);
                    let text: Vec<u8> = line.into_iter().flat_map(|(_, t)| t).collect();
                    l.put(MARGIN, size, true, text);
                    l.y -= size * 1.3;
                }
                l.y -= size * 0.2;
            }
            Block::Paragraph(runs) | Block::Item(runs) => {
                let (indent, bullet) = if matches!(b, Block::Item(_)) {
                    (14.0, true)
                } else {
                    (0.0, false)
                };
                let lines = wrap(runs, body, max - indent);
                for (i, line) in lines.into_iter().enumerate() {
                    l.need(lead);
                    if bullet && i == 0 {
                        l.put(MARGIN + 2.0, body, false, vec![0x95]);
                    }
                    let mut x = MARGIN + indent;
                    for (bold, t) in line {
                        let w = width(&t, body, bold);
                        l.put(x, body, bold, t);
                        x += w;
                    }
                    l.y -= lead;
                }
                l.y -= if bullet { 1.0 } else { lead * 0.45 };
            }
            Block::Row(cells, sum) => {
                l.need(lead);
                match cells.as_slice() {
                    [one] => {
                        l.y -= lead * 0.3;
                        l.need(lead);
                        l.put(MARGIN, body, true, win_ansi(one));
                    }
                    [first, .., last] => {
                        if *sum {
                            l.y += lead * 0.75;
                            l.rule();
                            l.y -= lead * 0.75;
                        }
                        let label = win_ansi(first);
                        // Labels are long in rare cases: cut rather than overlap the amount.
                        let mut label = label;
                        while width(&label, body, *sum) > max - 110.0 && label.len() > 4 {
                            label.truncate(label.len() - 2);
                            label.push(0x85);
                        }
                        l.put(MARGIN + 6.0, body, *sum, label);
                        let amount = win_ansi(last);
                        let w = width(&amount, body, *sum);
                        l.put(PAGE_W - MARGIN - w, body, *sum, amount);
                    }
                    [] => {}
                }
                l.y -= lead;
            }
            Block::Rule => {
                l.need(lead);
                l.rule();
                l.y -= lead;
            }
        }
    }

    let n = l.pages.len();
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let info = Ref::new(5);
    let page_ids: Vec<Ref> = (0..n).map(|i| Ref::new(10 + 2 * i as i32)).collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids(page_ids.iter().copied()).count(n as i32);
    pdf.type1_font(regular)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold)
        .base_font(Name(b"Helvetica-Bold"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.document_info(info)
        .title(TextStr(title))
        .producer(TextStr("Handläggarrobot"));
    for (i, page) in l.pages.iter().enumerate() {
        let id = page_ids[i];
        let content_id = Ref::new(11 + 2 * i as i32);
        let mut p = pdf.page(id);
        p.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
        p.parent(tree);
        p.contents(content_id);
        p.resources().fonts().pair(Name(b"F1"), regular).pair(Name(b"F2"), bold);
        p.finish();
        let mut c = Content::new();
        for (x1, x2, y) in &page.lines {
            c.set_line_width(0.6);
            c.move_to(*x1, *y);
            c.line_to(*x2, *y);
            c.stroke();
        }
        for (x, y, b, size, text) in &page.ops {
            c.begin_text();
            c.set_font(Name(if *b { b"F2" } else { b"F1" }), *size);
            c.next_line(*x, *y);
            c.show(Str(text));
            c.end_text();
        }
        // Footer: the case reference and "Sida i av n".
        let foot = win_ansi(footer);
        let page_no = win_ansi(&format!("Sida {} av {n}", i + 1));
        let fs = 8.5;
        c.begin_text();
        c.set_font(Name(b"F1"), fs);
        c.next_line(MARGIN, MARGIN - 20.0);
        c.show(Str(&foot));
        c.end_text();
        c.begin_text();
        c.set_font(Name(b"F1"), fs);
        c.next_line(PAGE_W - MARGIN - width(&page_no, fs, false), MARGIN - 20.0);
        c.show(Str(&page_no));
        c.end_text();
        pdf.stream(content_id, &c.finish());
    }
    pdf.finish()
}

/// "december 2026"
pub fn period_label(p: domain::Period) -> String {
    format!("{} {}", MONTHS[(p.month() as usize).saturating_sub(1) % 12], p.year())
}

/// "25 november 2026"
pub fn date_label(d: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    format!(
        "{} {} {}",
        d.day(),
        MONTHS[(d.month() as usize).saturating_sub(1) % 12],
        d.year()
    )
}

const MONTHS: [&str; 12] = [
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
];

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = r#"<html lang="sv" xmlns="http://www.w3.org/1999/xhtml"><body><h1>Beslut</h1><p>{{ name }}</p>
{% for r in reasons %}<p>{{ r }}</p>{% endfor %}<h2>Hur du överklagar</h2><p>Skriv inom tre veckor till förvaltningsrätten.</p>
<table><tr><td>Personliga kostnader</td><td class="belopp">3 160 kr</td></tr><tr class="summa"><td>Summa</td><td>4 180 kr</td></tr></table></body></html>"#;

    fn data() -> serde_json::Value {
        serde_json::json!({"name": "Åsa <script>alert(1)</script> Öberg", "reasons": ["Hyran är lägre från december & \"el\" ingår."]})
    }

    fn render(template: &str, data: &serde_json::Value) -> Result<Rendered, LetterError> {
        render_with(
            template,
            data,
            "Beslut om ekonomiskt bistånd – december 2026",
            "SN 2026/000001 – Socialnämnden",
        )
    }

    #[test]
    fn one_template_three_renderings_with_markup_inert() {
        let r = render(T, &data()).unwrap();
        assert!(
            r.html.contains("Åsa &lt;script&gt;alert(1)&lt;&#x2f;script&gt; Öberg"),
            "escaped in HTML"
        );
        assert!(!r.html.contains("<script>"));
        assert!(
            r.text.contains("Åsa <script>alert(1)</script> Öberg"),
            "plain text shows what was written"
        );
        assert!(r.text.contains("Hur du överklagar"));
        assert!(r.text.contains("inom tre veckor"));
        assert!(r.text.contains("förvaltningsrätten"));
        assert!(r.text.contains("Hyran är lägre från december & \"el\" ingår."));
        assert!(r.pdf.starts_with(b"%PDF-"));
        let pdf = String::from_utf8_lossy(&r.pdf);
        assert!(pdf.contains("/Helvetica"));
        assert!(pdf.contains("Sida 1 av 1"));
        // Swedish letters in WinAnsi: "Åsa" is C5 73 61 (written as a hex string).
        assert!(pdf.contains("<C57361"), "Åsa in WinAnsi");
    }

    #[test]
    fn a_long_letter_gets_more_pages_with_numbers() {
        let reasons: Vec<String> = (0..120)
            .map(|i| format!("Skäl nummer {i} med en ganska lång text som behöver brytas över flera rader i brevet."))
            .collect();
        let d = serde_json::json!({"name": "x", "reasons": reasons});
        let r = render(T, &d).unwrap();
        let pdf = String::from_utf8_lossy(&r.pdf);
        assert!(pdf.contains("Sida 1 av "));
        assert!(pdf.contains("/Count "));
        assert!(
            pdf.contains("Sida 3 av"),
            "a 120-reason letter runs over at least three pages"
        );
    }

    #[test]
    fn a_broken_template_is_an_error_not_a_panic() {
        assert!(render("{% for %}", &data()).is_err());
        assert!(matches!(render("<p></div>", &data()), Err(LetterError::Xhtml(_))));
    }

    #[test]
    fn win_ansi_covers_swedish() {
        assert_eq!(
            win_ansi("åäöÅÄÖé–"),
            vec![0xe5, 0xe4, 0xf6, 0xc5, 0xc4, 0xd6, 0xe9, 0x96]
        );
        assert_eq!(period_label("2026-12".parse().unwrap()), "december 2026");
    }
}
