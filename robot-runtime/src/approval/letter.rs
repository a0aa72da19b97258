//! Decision letters: an editable template (minijinja) gives well-formed
//! XHTML; the same document becomes the PDF (krilla: tagged PDF/A-2a in
//! Swedish with Liberation Sans embedded) and the plain-text e-mail body.
//! One template, three renderings, no drift.

use quick_xml::events::Event as X;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum LetterError {
    #[error("the letter template: {0}")]
    Template(String),
    #[error("the letter is not well-formed XHTML: {0}")]
    Xhtml(String),
    #[error("the letter PDF: {0}")]
    Pdf(String),
}

/// A rendered letter.
#[derive(Clone)]
pub struct Rendered {
    pub html: String,
    pub text: String,
    pub pdf: Vec<u8>,
}

/// What the PDF says about itself besides the letter's text.
pub struct LetterInfo<'a> {
    /// The document title (PDF metadata), e.g. "Beslut om ekonomiskt bistånd – december 2026".
    pub title: &'a str,
    /// The page footer, e.g. the diarienummer and the board.
    pub footer: &'a str,
    pub author: &'a str,
    /// The letter's date: the PDF's creation date (PDF/A requires one), so
    /// the same letter always gives the same file.
    pub date: chrono::NaiveDate,
}

/// Renders a template with any context: XHTML, then the same blocks as
/// text and as a tagged PDF/A.
pub fn render_with<T: Serialize>(template: &str, data: &T, info: &LetterInfo<'_>) -> Result<Rendered, LetterError> {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template("brev", template)
        .map_err(|e| LetterError::Template(e.to_string()))?;
    let html = env
        .get_template("brev")
        .and_then(|t| t.render(minijinja::value::Serde(data)))
        .map_err(|e| LetterError::Template(e.to_string()))?;
    let blocks = blocks(&html)?;
    let pdf = pdf(
        &blocks,
        &PdfMeta {
            title: info.title,
            footer: info.footer,
            author: info.author,
            date: info.date,
        },
    )?;
    Ok(Rendered {
        text: text(&blocks),
        pdf,
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
    Row(Vec<Cell>, bool),
    Rule,
}

/// A table cell: its text, and whether it is a header (`th`).
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub text: String,
    pub header: bool,
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
    let mut cells: Vec<Cell> = Vec::new();
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
                        cells.push(Cell {
                            text: String::new(),
                            header: name.as_ref() == "th",
                        });
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
                        c.text.push_str(text);
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
                        c.text.push_str(&text);
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
                "tr" => out.push(Block::Row(
                    cells
                        .drain(..)
                        .map(|c| Cell {
                            text: squash(&c.text),
                            header: c.header,
                        })
                        .collect(),
                    row_sum,
                )),
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
                [one] => s.push_str(&format!("{}\n", one.text)),
                [first, .., last] => s.push_str(&format!("  {:<52} {:>14}\n", first.text, last.text)),
                [] => {}
            },
            Block::Rule => s.push_str("\n----\n"),
        }
    }
    s.trim().to_string() + "\n"
}

// ---------------------------------------------------------------- PDF

/// The fonts embedded in every letter: Liberation Sans (SIL OFL 1.1, see
/// `robot-runtime/fonts/OFL.txt`), metric-compatible with Helvetica.
const REGULAR_TTF: &[u8] = include_bytes!("../../fonts/LiberationSans-Regular.ttf");
const BOLD_TTF: &[u8] = include_bytes!("../../fonts/LiberationSans-Bold.ttf");

/// One embedded font: krilla's handle for drawing, skrifa's for measuring.
struct Face {
    font: krilla::text::Font,
    sk: skrifa::FontRef<'static>,
    upem: f32,
}

impl Face {
    fn load(data: &'static [u8]) -> Option<Face> {
        use skrifa::MetadataProvider;
        let sk = skrifa::FontRef::new(data).ok()?;
        let upem = f32::from(
            sk.metrics(
                skrifa::instance::Size::unscaled(),
                skrifa::instance::LocationRef::default(),
            )
            .units_per_em,
        );
        let font = krilla::text::Font::new(krilla::Data::from(data), 0)?;
        Some(Face { font, sk, upem })
    }

    /// The glyph for `c`, if the font has one.
    fn glyph(&self, c: char) -> Option<skrifa::GlyphId> {
        use skrifa::MetadataProvider;
        self.sk.charmap().map(c).filter(|g| g.to_u32() != 0)
    }

    /// The text with characters the font lacks replaced by "?" (as the
    /// WinAnsi writer did): PDF/A forbids the .notdef glyph, and the HTML and
    /// text renderings still carry the original.
    fn clean(&self, s: &str) -> String {
        s.chars()
            .map(|c| match c {
                '\n' | '\t' => ' ',
                c if self.glyph(c).is_some() => c,
                _ => '?',
            })
            .collect()
    }

    /// One glyph per character, advances in em (no kerning, no ligatures:
    /// what is measured is what is drawn, and the text extracts as written).
    fn glyphs(&self, s: &str) -> Vec<krilla::text::KrillaGlyph> {
        use skrifa::MetadataProvider;
        let metrics = self.sk.glyph_metrics(
            skrifa::instance::Size::unscaled(),
            skrifa::instance::LocationRef::default(),
        );
        s.char_indices()
            .map(|(i, c)| {
                let gid = self.glyph(c).unwrap_or_default();
                let advance = metrics.advance_width(gid).unwrap_or(0.0) / self.upem;
                krilla::text::KrillaGlyph {
                    glyph_id: krilla::text::GlyphId::new(gid.to_u32()),
                    text_range: i..i + c.len_utf8(),
                    x_advance: advance,
                    x_offset: 0.0,
                    y_offset: 0.0,
                    y_advance: 0.0,
                    location: None,
                }
            })
            .collect()
    }

    fn width(&self, s: &str, size: f32) -> f32 {
        self.glyphs(s).iter().map(|g| g.x_advance).sum::<f32>() * size
    }
}

struct Faces {
    regular: Face,
    bold: Face,
}

impl Faces {
    fn get(&self, bold: bool) -> &Face {
        if bold { &self.bold } else { &self.regular }
    }
}

/// Parsed once; `None` only if the committed font files were broken.
static FACES: std::sync::LazyLock<Option<Faces>> = std::sync::LazyLock::new(|| {
    Some(Faces {
        regular: Face::load(REGULAR_TTF)?,
        bold: Face::load(BOLD_TTF)?,
    })
});

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 64.0;

/// Something drawn on a page, in PDF coordinates (y up), and the slot of the
/// structure element it belongs to (`None`: an artifact, not read aloud).
enum Op {
    Text {
        x: f32,
        y: f32,
        bold: bool,
        size: f32,
        text: String,
        slot: Option<usize>,
    },
    Rule {
        x1: f32,
        x2: f32,
        y: f32,
    },
}

/// The logical structure, built alongside the layout: groups of tags, with
/// slots for the marked content that is drawn later.
enum SNode {
    Group(krilla::tagging::TagKind, Vec<SNode>),
    Slot(usize),
}

/// A run of consecutive list items or table rows, closed when another kind
/// of block follows.
enum Open {
    None,
    List(Vec<SNode>),
    /// Rows of (is header, slot) cells.
    Table(Vec<Vec<(bool, usize)>>),
}

struct Layout<'f> {
    faces: &'f Faces,
    pages: Vec<Vec<Op>>,
    y: f32,
    slots: usize,
    tree: Vec<SNode>,
    open: Open,
    /// Headings for the outline: level, text, page index, y.
    outline: Vec<(u8, String, usize, f32)>,
}

impl Layout<'_> {
    fn need(&mut self, h: f32) {
        if self.y - h < MARGIN + 24.0 {
            self.pages.push(Vec::new());
            self.y = PAGE_H - MARGIN;
        }
    }
    fn slot(&mut self) -> usize {
        self.slots += 1;
        self.slots - 1
    }
    fn put(&mut self, x: f32, size: f32, bold: bool, text: String, slot: usize) {
        let y = self.y;
        if let Some(p) = self.pages.last_mut() {
            p.push(Op::Text {
                x,
                y,
                bold,
                size,
                text,
                slot: Some(slot),
            });
        }
    }
    fn rule(&mut self) {
        let y = self.y;
        if let Some(p) = self.pages.last_mut() {
            p.push(Op::Rule {
                x1: MARGIN,
                x2: PAGE_W - MARGIN,
                y,
            });
        }
    }
    fn width(&self, s: &str, size: f32, bold: bool) -> f32 {
        self.faces.get(bold).width(s, size)
    }
    /// Ends an open list or table, giving it its place in the structure.
    fn close(&mut self) {
        use krilla::tagging::{TableHeaderScope, Tag, TagId};
        match std::mem::replace(&mut self.open, Open::None) {
            Open::None => {}
            Open::List(items) => self
                .tree
                .push(SNode::Group(Tag::L(krilla::tagging::ListNumbering::Disc).into(), items)),
            Open::Table(rows) => {
                let cols = rows.iter().map(Vec::len).max().unwrap_or(1);
                let mut header: Option<TagId> = None;
                let mut trs = Vec::new();
                for row in rows {
                    let n = row.len();
                    let mut cells = Vec::new();
                    for (i, (th, slot)) in row.into_iter().enumerate() {
                        // The last cell of a short row spans the rest (a section title).
                        let span = if i + 1 == n && n < cols {
                            std::num::NonZeroU32::new((cols - n + 1) as u32)
                        } else {
                            None
                        };
                        let tag: krilla::tagging::TagKind = if th {
                            let id = TagId::from(format!("th{slot}").into_bytes());
                            header = Some(id.clone());
                            Tag::TH(TableHeaderScope::Column)
                                .with_col_span(span)
                                .with_id(Some(id))
                                .into()
                        } else {
                            Tag::TD
                                .with_col_span(span)
                                .with_headers(header.clone().map(|h| [h]))
                                .into()
                        };
                        cells.push(SNode::Group(tag, vec![SNode::Slot(slot)]));
                    }
                    trs.push(SNode::Group(Tag::TR.into(), cells));
                }
                self.tree.push(SNode::Group(Tag::Table.into(), trs));
            }
        }
    }
}

/// Wraps runs into lines of at most `max` points, keeping bold runs bold.
fn wrap(faces: &Faces, runs: &[Run], size: f32, max: f32) -> Vec<Vec<(bool, String)>> {
    let mut lines: Vec<Vec<(bool, String)>> = vec![Vec::new()];
    let mut used = 0.0;
    for r in runs {
        let face = faces.get(r.bold);
        for (i, part) in r.text.split('\n').enumerate() {
            if i > 0 {
                lines.push(Vec::new());
                used = 0.0;
            }
            for word in part
                .split(' ')
                .filter(|w| !w.is_empty())
                .flat_map(|w| split_long(face, w, size, max))
            {
                let w = face.width(&word, size);
                let space = face.width(" ", size);
                let empty = lines.last().is_none_or(Vec::is_empty);
                if !empty && used + space + w > max {
                    lines.push(Vec::new());
                    used = 0.0;
                }
                if let Some(l) = lines.last_mut() {
                    // Word boundaries are real spaces (PDF/A-2a), also
                    // between a regular and a bold run.
                    let t = if l.is_empty() { word } else { format!(" {word}") };
                    used += if l.is_empty() { w } else { space + w };
                    match l.last_mut() {
                        Some((bd, s)) if *bd == r.bold => s.push_str(&t),
                        _ => l.push((r.bold, t)),
                    }
                }
            }
        }
    }
    lines.retain(|l| !l.is_empty());
    lines
}

/// The word (cleaned for the font) in pieces no wider than `max`: a word
/// longer than a line is broken rather than run off the page.
fn split_long(face: &Face, word: &str, size: f32, max: f32) -> Vec<String> {
    let word = face.clean(word);
    if face.width(&word, size) <= max {
        return vec![word];
    }
    let mut out = vec![String::new()];
    for c in word.chars() {
        let mut buf = [0u8; 4];
        let cw = face.width(c.encode_utf8(&mut buf), size);
        if let Some(last) = out.last_mut()
            && !last.is_empty()
            && face.width(last, size) + cw > max
        {
            out.push(String::new());
        }
        if let Some(last) = out.last_mut() {
            last.push(c);
        }
    }
    out
}

/// What the PDF says about itself besides its content.
pub struct PdfMeta<'a> {
    /// The document title, e.g. "Beslut om ekonomiskt bistånd – december 2026".
    pub title: &'a str,
    /// Left in every page's footer: the case reference and the board.
    pub footer: &'a str,
    /// The author (the board).
    pub author: &'a str,
    /// The letter's date, the PDF's creation date (PDF/A requires one).
    pub date: chrono::NaiveDate,
}

/// The letter as a tagged PDF/A-2a: Liberation Sans embedded, language
/// Swedish, headings, paragraphs, lists and tables in the structure tree,
/// footers as artifacts. krilla validates while writing, so a letter that
/// would not conform is an error, never a file.
pub fn pdf(blocks: &[Block], meta: &PdfMeta) -> Result<Vec<u8>, LetterError> {
    use krilla::tagging::Tag;
    let faces = FACES
        .as_ref()
        .ok_or_else(|| LetterError::Pdf("the embedded fonts cannot be read".into()))?;
    let body = 10.5;
    let lead = body * 1.4;
    let max = PAGE_W - 2.0 * MARGIN;
    let mut l = Layout {
        faces,
        pages: vec![Vec::new()],
        y: PAGE_H - MARGIN,
        slots: 0,
        tree: Vec::new(),
        open: Open::None,
        outline: Vec::new(),
    };
    for b in blocks {
        match (b, &l.open) {
            (Block::Item(_), Open::List(_)) | (Block::Row(..), Open::Table(_)) => {}
            _ => l.close(),
        }
        match b {
            Block::Heading(level, t) => {
                let size = if *level == 1 { 16.0 } else { 12.0 };
                let slot = l.slot();
                let title = faces.bold.clean(t);
                l.tree.push(SNode::Group(
                    Tag::Hn(
                        std::num::NonZeroU16::new(u16::from((*level).clamp(1, 6))).unwrap_or(std::num::NonZeroU16::MIN),
                        Some(title.clone()),
                    )
                    .into(),
                    vec![SNode::Slot(slot)],
                ));
                l.need(size * 2.4);
                l.y -= size * 0.9;
                let mut first = true;
                for line in wrap(
                    faces,
                    &[Run {
                        text: t.clone(),
                        bold: true,
                    }],
                    size,
                    max,
                ) {
                    l.need(size * 1.3);
                    if first {
                        l.outline.push((*level, title.clone(), l.pages.len() - 1, l.y + size));
                        first = false;
                    }
                    let text: String = line.into_iter().map(|(_, t)| t).collect();
                    l.put(MARGIN, size, true, text, slot);
                    l.y -= size * 1.3;
                }
                l.y -= size * 0.2;
            }
            Block::Paragraph(runs) | Block::Item(runs) => {
                let item = matches!(b, Block::Item(_));
                let indent = if item { 14.0 } else { 0.0 };
                let slot = l.slot();
                let label = if item { Some(l.slot()) } else { None };
                match label {
                    Some(lbl) => {
                        let li = SNode::Group(
                            Tag::LI.into(),
                            vec![
                                SNode::Group(Tag::Lbl.into(), vec![SNode::Slot(lbl)]),
                                SNode::Group(Tag::LBody.into(), vec![SNode::Slot(slot)]),
                            ],
                        );
                        match &mut l.open {
                            Open::List(items) => items.push(li),
                            _ => l.open = Open::List(vec![li]),
                        }
                    }
                    None => l.tree.push(SNode::Group(Tag::P.into(), vec![SNode::Slot(slot)])),
                }
                let lines = wrap(faces, runs, body, max - indent);
                for (i, line) in lines.into_iter().enumerate() {
                    l.need(lead);
                    if let (Some(lbl), 0) = (label, i) {
                        l.put(MARGIN + 2.0, body, false, "•".into(), lbl);
                    }
                    let mut x = MARGIN + indent;
                    let n = line.len();
                    for (j, (bold, mut t)) in line.into_iter().enumerate() {
                        let w = l.width(&t, body, bold);
                        // A line ends in a space so that words at line ends
                        // stay apart in the extracted text.
                        if j + 1 == n {
                            t.push(' ');
                        }
                        l.put(x, body, bold, t, slot);
                        x += w;
                    }
                    l.y -= lead;
                }
                l.y -= if item { 1.0 } else { lead * 0.45 };
            }
            Block::Row(cells, sum) => {
                let slots: Vec<(bool, usize)> = cells.iter().map(|c| (c.header, l.slot())).collect();
                match &mut l.open {
                    Open::Table(rows) => rows.push(slots.clone()),
                    _ => l.open = Open::Table(vec![slots.clone()]),
                }
                l.need(lead);
                match (cells.as_slice(), slots.as_slice()) {
                    ([one], [(_, s)]) => {
                        l.y -= lead * 0.3;
                        l.need(lead);
                        let t = faces.bold.clean(&one.text);
                        l.put(MARGIN, body, true, t, *s);
                    }
                    ([first, .., last], [(_, s1), .., (_, s2)]) => {
                        if *sum {
                            // A little air, then the rule clear of both the
                            // descenders above and the capitals below.
                            l.y -= 3.0;
                            l.y += body * 0.95;
                            l.rule();
                            l.y -= body * 0.95;
                        }
                        let face = faces.get(*sum);
                        // Labels are long in rare cases: cut rather than overlap the amount.
                        let mut label = face.clean(&first.text);
                        while face.width(&label, body) > max - 110.0 && label.chars().count() > 4 {
                            label.pop();
                            label.pop();
                            label.push('…');
                        }
                        l.put(MARGIN + 6.0, body, *sum, label, *s1);
                        let amount = face.clean(&last.text);
                        let w = face.width(&amount, body);
                        l.put(PAGE_W - MARGIN - w, body, *sum, amount, *s2);
                    }
                    _ => {}
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
    l.close();
    draw(l, meta)
}

/// Draws `t` with its baseline at (x, y) in PDF coordinates (y up).
fn draw_text(s: &mut krilla::surface::Surface, face: &Face, x: f32, y: f32, size: f32, t: &str) {
    let glyphs = face.glyphs(t);
    s.draw_glyphs(
        krilla::geom::Point::from_xy(x, PAGE_H - y),
        &glyphs,
        face.font.clone(),
        t,
        size,
        false,
    );
}

/// Draws the laid-out pages with krilla and assembles the tag tree.
fn draw(l: Layout, meta: &PdfMeta) -> Result<Vec<u8>, LetterError> {
    use krilla::configure::{Archival, ConfigurationBuilder};
    use krilla::geom::{PathBuilder, Point};
    use krilla::tagging::{Artifact, ArtifactType, ContentTag, Identifier, SpanTag, TagGroup, TagTree};

    let configuration = ConfigurationBuilder::new()
        .with_archival_validator(Archival::A2_A)
        .finish()
        .map_err(|e| LetterError::Pdf(format!("{e:?}")))?;
    let mut doc = krilla::Document::new_with(krilla::SerializeSettings {
        configuration,
        enable_tagging: true,
        ..Default::default()
    });
    let n = l.pages.len();
    let mut ids: Vec<Vec<Identifier>> = vec![Vec::new(); l.slots];
    let size = krilla::geom::Size::from_wh(PAGE_W, PAGE_H).ok_or_else(|| LetterError::Pdf("the page size".into()))?;
    let foot_size = 8.5;
    for (i, ops) in l.pages.iter().enumerate() {
        let mut page = doc.start_page_with(krilla::page::PageSettings::new(size));
        let mut s = page.surface();
        for op in ops {
            match op {
                Op::Text {
                    x,
                    y,
                    bold,
                    size,
                    text: t,
                    slot,
                } => {
                    let id = s.start_tagged(match slot {
                        Some(_) => ContentTag::Span(SpanTag::empty()),
                        None => ContentTag::Artifact(Artifact::with_kind(ArtifactType::Layout)),
                    });
                    if let Some(v) = slot.and_then(|slot| ids.get_mut(slot)) {
                        v.push(id);
                    }
                    draw_text(&mut s, l.faces.get(*bold), *x, *y, *size, t);
                    s.end_tagged();
                }
                Op::Rule { x1, x2, y } => {
                    let mut pb = PathBuilder::new();
                    pb.move_to(*x1, PAGE_H - y);
                    pb.line_to(*x2, PAGE_H - y);
                    if let Some(path) = pb.finish() {
                        s.start_tagged(ContentTag::Artifact(Artifact::with_kind(ArtifactType::Layout)));
                        s.set_stroke(Some(krilla::paint::Stroke {
                            width: 0.6,
                            ..Default::default()
                        }));
                        s.draw_path(&path);
                        s.set_stroke(None);
                        s.end_tagged();
                    }
                }
            }
        }
        // Footer: the case reference and "Sida i av n", not part of the reading.
        s.start_tagged(ContentTag::Artifact(Artifact::with_kind(ArtifactType::Footer)));
        let foot = l.faces.regular.clean(meta.footer);
        draw_text(&mut s, &l.faces.regular, MARGIN, MARGIN - 20.0, foot_size, &foot);
        let page_no = format!("Sida {} av {n}", i + 1);
        let w = l.faces.regular.width(&page_no, foot_size);
        draw_text(
            &mut s,
            &l.faces.regular,
            PAGE_W - MARGIN - w,
            MARGIN - 20.0,
            foot_size,
            &page_no,
        );
        s.end_tagged();
        s.finish();
        page.finish();
    }

    fn build(node: &SNode, ids: &mut [Vec<Identifier>], out: &mut Vec<krilla::tagging::Node>) {
        match node {
            SNode::Slot(slot) => {
                if let Some(v) = ids.get_mut(*slot) {
                    out.extend(std::mem::take(v).into_iter().map(krilla::tagging::Node::from));
                }
            }
            SNode::Group(tag, children) => {
                let mut kids = Vec::new();
                for c in children {
                    build(c, ids, &mut kids);
                }
                // A group without content (an empty cell) is left out.
                if !kids.is_empty() {
                    out.push(TagGroup::with_children(tag.clone(), kids).into());
                }
            }
        }
    }
    let mut nodes = Vec::new();
    for node in &l.tree {
        build(node, &mut ids, &mut nodes);
    }
    let mut tree = TagTree::new().with_lang(Some("sv".into()));
    for node in nodes {
        tree.push(node);
    }
    doc.set_tag_tree(tree);

    // Bookmarks: H2 under the H1 before it.
    let mut outline = krilla::outline::Outline::new();
    let mut top: Option<krilla::outline::OutlineNode> = None;
    for (level, title, page, y) in &l.outline {
        let node = krilla::outline::OutlineNode::new(
            title.clone(),
            krilla::destination::XyzDestination::new(*page, Point::from_xy(MARGIN, PAGE_H - y)),
        );
        match (&mut top, level) {
            (Some(t), 2..) => t.push_child(node),
            _ => {
                if let Some(t) = top.replace(node) {
                    outline.push_child(t);
                }
            }
        }
    }
    if let Some(t) = top {
        outline.push_child(t);
    }
    doc.set_outline(outline);

    use chrono::Datelike;
    let date = krilla::metadata::DateTime::new(u16::try_from(meta.date.year()).unwrap_or(2000))
        .month(meta.date.month() as u8)
        .day(meta.date.day() as u8);
    doc.set_metadata(
        krilla::metadata::Metadata::new()
            .title(meta.title.to_string())
            .authors(vec![meta.author.to_string()])
            .language("sv".into())
            .creator("Handläggarrobot".into())
            .producer("Handläggarrobot".into())
            .creation_date(date),
    );
    doc.finish().map_err(|e| match e {
        krilla::error::KrillaError::Validation(errors) => LetterError::Pdf(format!(
            "not PDF/A-2a: {}",
            errors
                .iter()
                .map(|(e, _)| format!("{e:?}"))
                .collect::<Vec<_>>()
                .join("; ")
        )),
        other => LetterError::Pdf(other.to_string()),
    })
}

/// "25 november 2026" back to a date (the letter's date label); `None` for
/// anything else.
pub fn parse_date_label(s: &str) -> Option<chrono::NaiveDate> {
    let mut parts = s.split_whitespace();
    let day: u32 = parts.next()?.parse().ok()?;
    let month = parts.next()?;
    let year: i32 = parts.next()?.parse().ok()?;
    let m = MONTHS.iter().position(|x| *x == month)?;
    chrono::NaiveDate::from_ymd_opt(year, m as u32 + 1, day)
}

/// "december 2026"
pub fn period_label(p: domain::Period) -> String {
    p.swedish()
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

use domain::MONTHS_SV as MONTHS;

#[cfg(test)]
mod tests {
    use super::*;

    // The letter model of the tests: a small fixed template and its data, so
    // the renderer is tested apart from what the approval core puts in letters.
    const DEFAULT_TEMPLATE: &str = include_str!("letter_test_template.html.j2");

    fn render(template: &str, data: &LetterData) -> Result<Rendered, LetterError> {
        let footer = format!("{} – {}", data.case_ref, data.board);
        let title = format!("Beslut om ekonomiskt bistånd – {}", data.period_label);
        let date = parse_date_label(&data.date)
            .ok_or_else(|| LetterError::Pdf(format!("the date {:?} is not like \"25 november 2026\"", data.date)))?;
        render_with(
            template,
            data,
            &LetterInfo {
                title: &title,
                footer: &footer,
                author: &data.board,
                date,
            },
        )
    }

    #[derive(Debug, Clone, Serialize)]
    struct Section {
        title: String,
        rows: Vec<SectionRow>,
        total: String,
    }

    #[derive(Debug, Clone, Serialize)]
    struct SectionRow {
        label: String,
        amount: String,
    }

    #[derive(Debug, Clone, Serialize)]
    struct ReasonLine {
        text: String,
        lagrum: String,
    }

    /// Everything a letter says.
    #[derive(Debug, Clone, Serialize)]
    struct LetterData {
        municipality: String,
        board: String,
        date: String,
        case_ref: String,
        external_id: String,
        recipient_name: String,
        recipient_personnummer: String,
        period_label: String,
        decision_text: String,
        amount: String,
        amended: bool,
        amended_justification: String,
        reasons: Vec<ReasonLine>,
        sections: Vec<Section>,
        lagrum: Vec<String>,
        decided_by: Vec<String>,
        preview: bool,
    }

    fn data() -> LetterData {
        LetterData {
            municipality: "Exempelkommun".into(),
            board: "Socialnämnden".into(),
            date: "25 november 2026".into(),
            case_ref: "Ärende 42".into(),
            external_id: "EX-1".into(),
            recipient_name: "Åsa <script>alert(1)</script> Öberg".into(),
            recipient_personnummer: "19811218-9876".into(),
            period_label: "december 2026".into(),
            decision_text: "Du beviljas ekonomiskt bistånd med 9 750 kr för december 2026.".into(),
            amount: "9 750 kr".into(),
            amended: true,
            amended_justification: "Hyran är lägre från december & \"el\" ingår.".into(),
            reasons: vec![ReasonLine {
                text: "Hushållets kostnader enligt riksnormen är 4 180 kr.".into(),
                lagrum: "4 kap. 3 § SoL".into(),
            }],
            sections: vec![Section {
                title: "Riksnorm".into(),
                rows: vec![SectionRow {
                    label: "Personliga kostnader, ensamstående".into(),
                    amount: "3 160 kr".into(),
                }],
                total: "4 180 kr".into(),
            }],
            lagrum: vec!["4 kap. 1 § socialtjänstlagen (2001:453)".into()],
            decided_by: vec!["Handläggare Ett".into(), "Handläggare Två".into()],
            preview: false,
        }
    }

    /// The PDF read back.
    struct Parsed {
        doc: lopdf::Document,
    }

    impl Parsed {
        fn new(pdf: &[u8]) -> Parsed {
            Parsed {
                doc: lopdf::Document::load_mem(pdf).unwrap(),
            }
        }
        fn resolve<'a>(&'a self, o: &'a lopdf::Object) -> &'a lopdf::Object {
            self.doc.dereference(o).map(|(_, o)| o).unwrap_or(o)
        }
        fn catalog(&self) -> &lopdf::Dictionary {
            self.doc.catalog().unwrap()
        }
        fn stream_text(&self, o: &lopdf::Object) -> String {
            let s = self.resolve(o).as_stream().unwrap();
            let bytes = s.decompressed_content().unwrap_or_else(|_| s.content.clone());
            String::from_utf8_lossy(&bytes).into_owned()
        }
        fn dicts(&self) -> impl Iterator<Item = &lopdf::Dictionary> {
            self.doc.objects.values().filter_map(|o| match o {
                lopdf::Object::Dictionary(d) => Some(d),
                lopdf::Object::Stream(s) => Some(&s.dict),
                _ => None,
            })
        }
        fn name<'a>(d: &'a lopdf::Dictionary, key: &[u8]) -> Option<&'a [u8]> {
            d.get(key).ok().and_then(|o| o.as_name().ok())
        }
        /// Structure element types in the order they are written.
        fn struct_types(&self) -> Vec<String> {
            let mut out = Vec::new();
            let root = self
                .resolve(self.catalog().get(b"StructTreeRoot").unwrap())
                .as_dict()
                .unwrap();
            self.walk(root.get(b"K").unwrap(), &mut out);
            out
        }
        fn walk(&self, k: &lopdf::Object, out: &mut Vec<String>) {
            match self.resolve(k) {
                lopdf::Object::Array(a) => a.iter().for_each(|k| self.walk(k, out)),
                lopdf::Object::Dictionary(d) => {
                    if let Some(s) = Self::name(d, b"S") {
                        out.push(String::from_utf8_lossy(s).into_owned());
                    }
                    if let Ok(k) = d.get(b"K") {
                        self.walk(k, out);
                    }
                }
                _ => {}
            }
        }
    }

    /// The PDF's text, whitespace collapsed: pdftotext if installed, else lopdf.
    fn pdf_text(pdf: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("brev.pdf");
        std::fs::write(&path, pdf).unwrap();
        let text = match std::process::Command::new("pdftotext").arg(&path).arg("-").output() {
            Ok(out) if out.status.success() => String::from_utf8(out.stdout).unwrap(),
            _ => {
                let doc = lopdf::Document::load_mem(pdf).unwrap();
                let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
                doc.extract_text(&pages).unwrap()
            }
        };
        // Line breaks fall where the layout puts them: compare words.
        squash(&text)
    }

    #[test]
    fn one_template_three_renderings_with_markup_inert() {
        let r = render(DEFAULT_TEMPLATE, &data()).unwrap();
        assert!(
            r.html.contains("Åsa &lt;script&gt;alert(1)&lt;&#x2f;script&gt; Öberg"),
            "escaped in HTML"
        );
        assert!(!r.html.contains("<script>"));
        assert!(
            r.text.contains("Åsa <script>alert(1)</script> Öberg"),
            "plain text shows what was written"
        );
        assert!(r.text.contains("Du beviljas ekonomiskt bistånd med 9 750 kr"));
        assert!(r.text.contains("Hur du överklagar"));
        assert!(r.text.contains("inom tre veckor"));
        assert!(r.text.contains("förvaltningsrätten"));
        assert!(r.text.contains("Handläggare Ett, Handläggare Två"));
        assert!(r.text.contains("Hyran är lägre från december & \"el\" ingår."));
        assert!(r.pdf.starts_with(b"%PDF-"));
        let t = pdf_text(&r.pdf);
        assert!(t.contains("Åsa <script>alert(1)</script> Öberg"), "{t}");
        assert!(t.contains("Sida 1 av 1"), "{t}");
    }

    #[test]
    fn the_pdf_is_tagged_pdf_a_2a_in_swedish_with_embedded_fonts() {
        let r = render(DEFAULT_TEMPLATE, &data()).unwrap();
        let p = Parsed::new(&r.pdf);
        let cat = p.catalog();
        assert_eq!(p.resolve(cat.get(b"Lang").unwrap()).as_str().unwrap(), b"sv");
        let mark = p.resolve(cat.get(b"MarkInfo").unwrap()).as_dict().unwrap();
        assert!(mark.get(b"Marked").unwrap().as_bool().unwrap());
        assert!(cat.get(b"StructTreeRoot").is_ok());
        assert!(cat.get(b"OutputIntents").is_ok(), "PDF/A needs an output intent");

        let xmp = p.stream_text(cat.get(b"Metadata").unwrap());
        assert!(
            xmp.contains("pdfaid:part>2<") || xmp.contains("pdfaid:part=\"2\""),
            "{xmp}"
        );
        assert!(
            xmp.contains("pdfaid:conformance>A<") || xmp.contains("pdfaid:conformance=\"A\""),
            "{xmp}"
        );
        assert!(
            xmp.contains("Beslut om ekonomiskt bistånd – december 2026"),
            "title in XMP"
        );
        assert!(xmp.contains(">sv<") || xmp.contains("\"sv\""), "language in XMP");

        // Every font is embedded: each font descriptor has its font program,
        // and there is no base-14 font without one.
        let mut descriptors = 0;
        for d in p.dicts() {
            match Parsed::name(d, b"Type") {
                Some(b"FontDescriptor") => {
                    descriptors += 1;
                    assert!(
                        d.get(b"FontFile2").is_ok() || d.get(b"FontFile3").is_ok(),
                        "font descriptor without an embedded font: {d:?}"
                    );
                }
                Some(b"Font") => {
                    let subtype = Parsed::name(d, b"Subtype").unwrap();
                    assert!(subtype == b"Type0" || d.get(b"FontDescriptor").is_ok(), "{d:?}");
                }
                _ => {}
            }
        }
        assert!(descriptors >= 2, "regular and bold");

        let types = p.struct_types();
        for t in ["H1", "H2", "P", "Table", "TR", "TH", "TD", "L", "LI", "Lbl", "LBody"] {
            assert!(types.iter().any(|x| x == t), "no {t} in {types:?}");
        }
        // Reading order is document order: the head's paragraphs, then the
        // title, then the first section.
        let first: Vec<&str> = types
            .iter()
            .skip_while(|t| *t == "Document")
            .take(6)
            .map(String::as_str)
            .collect();
        assert_eq!(first, ["P", "P", "P", "H1", "H2", "P"], "{types:?}");

        // Footers are artifacts, so the page numbers are not read as content.
        let page = p.doc.get_pages().values().next().copied().unwrap();
        let content = String::from_utf8_lossy(&p.doc.get_page_content(page)).into_owned();
        assert!(content.contains("/Artifact"), "footer marked as artifact");
        assert!(content.contains("/Span"), "content marked");
    }

    #[test]
    fn the_letter_text_extracts_in_swedish() {
        let t = pdf_text(&render(DEFAULT_TEMPLATE, &data()).unwrap().pdf);
        for s in [
            "Beslut om ekonomiskt bistånd",
            "överklaga",
            "förvaltningsrätten",
            "Hyran är lägre från december & \"el\" ingår.",
            "Ärende 42",
        ] {
            assert!(t.contains(s), "{s:?} not in {t}");
        }
    }

    #[test]
    fn a_long_letter_gets_more_pages_with_numbers() {
        let mut d = data();
        d.reasons = (0..120)
            .map(|i| ReasonLine {
                text: format!("Skäl nummer {i} med en ganska lång text som behöver brytas över flera rader i brevet."),
                lagrum: "1 §".into(),
            })
            .collect();
        let r = render(DEFAULT_TEMPLATE, &d).unwrap();
        let pages = Parsed::new(&r.pdf).doc.get_pages().len();
        assert!(pages >= 3, "a 120-reason letter runs over at least three pages");
        let t = pdf_text(&r.pdf);
        assert!(t.contains(&format!("Sida 1 av {pages}")));
        assert!(t.contains(&format!("Sida {pages} av {pages}")));
        assert!(t.contains("Skäl nummer 119 med"));
    }

    #[test]
    fn a_broken_template_is_an_error_not_a_panic() {
        assert!(render("{% for %}", &data()).is_err());
        assert!(matches!(render("<p></div>", &data()), Err(LetterError::Xhtml(_))));
    }

    #[test]
    fn the_fonts_cover_latin_1_and_swedish_punctuation() {
        let faces = FACES.as_ref().unwrap();
        let wanted = ('\u{a0}'..='\u{ff}').chain(' '..='~').chain("–—‘’‚“”„•…€−§".chars());
        for c in wanted {
            assert!(faces.regular.glyph(c).is_some(), "regular lacks {c:?}");
            assert!(faces.bold.glyph(c).is_some(), "bold lacks {c:?}");
        }
        // All of Latin-1 in a letter: renders, validates, extracts.
        let mut d = data();
        let latin1: String = ('\u{a1}'..='\u{ff}').filter(|c| *c != '\u{ad}').collect();
        d.amended_justification = latin1.clone();
        let t = pdf_text(&render(DEFAULT_TEMPLATE, &d).unwrap().pdf);
        // The 94-character word is broken over lines, not run off the page.
        let joined: String = t.split_whitespace().collect();
        assert!(joined.contains(&latin1), "{t}");
    }

    #[test]
    fn a_character_without_a_glyph_is_replaced_not_fatal() {
        let mut d = data();
        d.recipient_name = "Åsa 漢 Öberg".into();
        let r = render(DEFAULT_TEMPLATE, &d).unwrap();
        assert!(r.html.contains("Åsa 漢 Öberg"));
        assert!(pdf_text(&r.pdf).contains("Åsa ? Öberg"));
    }

    #[test]
    fn date_labels_read_back() {
        assert_eq!(period_label("2026-12".parse().unwrap()), "december 2026");
        let d = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        assert_eq!(parse_date_label(&date_label(d)), Some(d));
        assert_eq!(parse_date_label("25 brumaire 2026"), None);
        let mut bad = data();
        bad.date = "igår".into();
        assert!(matches!(render(DEFAULT_TEMPLATE, &bad), Err(LetterError::Pdf(_))));
    }

    /// Writes a sample letter for looking at:
    /// `cargo test -p robot-runtime --lib write_sample_letter -- --ignored`
    /// puts it in `target/beslut-exempel.pdf` (then e.g. `pdftoppm -png`).
    #[test]
    #[ignore]
    fn write_sample_letter() {
        let mut d = data();
        d.recipient_name = "Åsa Öberg".into();
        d.sections.push(Section {
            title: "Boende".into(),
            rows: vec![
                SectionRow {
                    label: "Hyra".into(),
                    amount: "5 570 kr".into(),
                },
                SectionRow {
                    label: "Hushållsel".into(),
                    amount: "0 kr".into(),
                },
            ],
            total: "5 570 kr".into(),
        });
        let r = render(DEFAULT_TEMPLATE, &d).unwrap();
        let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/beslut-exempel.pdf");
        std::fs::write(out, r.pdf).unwrap();
    }
}
