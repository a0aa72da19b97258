//! `hrobot evaluate`: applications in, draft decisions out.
//!
//! Exit codes: 0 drafts; 2 invalid input (stderr names the JSON pointer,
//! nothing on stdout); 1 any other error (ruleset, I/O).

use domain::{Draft, MAX_APPLICATION_BYTES};
use rayon::prelude::*;
use sandbox::{InputError, ReadError, Ruleset, RulesetError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ruleset folder.
    #[arg(long, default_value = "rulesets/ekonomiskt-bistand")]
    ruleset: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// An application file, a folder of `*.json` applications, or `-` for stdin.
    input: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Json,
    Text,
}

/// Why one input gave no draft.
enum Failure {
    Invalid(InputError),
    Ruleset(RulesetError),
    Io(String),
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Failure::Invalid(_) => 2,
            _ => 1,
        }
    }

    fn message(&self) -> String {
        match self {
            Failure::Invalid(e) => format!("invalid application: {e}"),
            Failure::Ruleset(e) => format!("ruleset error: {e}"),
            Failure::Io(e) => e.clone(),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        let (kind, pointers) = match self {
            Failure::Invalid(e) => (
                "invalid_application",
                e.pointers().into_iter().map(String::from).collect(),
            ),
            Failure::Ruleset(_) => ("ruleset_error", Vec::new()),
            Failure::Io(_) => ("io_error", Vec::new()),
        };
        serde_json::json!({
            "kind": kind,
            "exit_code": self.exit_code(),
            "message": self.message(),
            "pointers": pointers,
        })
    }
}

fn evaluate_bytes(ruleset: &Ruleset, bytes: &[u8]) -> Result<Draft, Failure> {
    let input = ruleset.read(bytes).map_err(|e| match e {
        ReadError::Input(e) => Failure::Invalid(e),
        ReadError::Ruleset(e) => Failure::Ruleset(e),
    })?;
    ruleset.evaluate_input(&input).map_err(Failure::Ruleset)
}

fn read_input(path: &Path) -> Result<Vec<u8>, Failure> {
    let f = std::fs::File::open(path).map_err(|e| Failure::Io(format!("{}: {e}", path.display())))?;
    read_limited(f).map_err(|e| Failure::Io(format!("{}: {e}", path.display())))
}

/// Reads at most one byte more than an application may have, so an
/// oversized input is refused without reading it all.
fn read_limited(r: impl Read) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(MAX_APPLICATION_BYTES as u64 + 1).read_to_end(&mut buf)?;
    Ok(buf)
}

pub fn run(args: Args) -> ExitCode {
    let code = super::on_big_stack(move || run_inner(args)).unwrap_or(1);
    ExitCode::from(code)
}

fn run_inner(args: Args) -> u8 {
    let ruleset = match Ruleset::load(&args.ruleset) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: ruleset {}:\n{e}", args.ruleset.display());
            return 1;
        }
    };
    if args.input == "-" {
        let bytes = match read_limited(std::io::stdin().lock()) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: stdin: {e}");
                return 1;
            }
        };
        return single(&ruleset, evaluate_bytes(&ruleset, &bytes), args.format);
    }
    let path = PathBuf::from(&args.input);
    if path.is_dir() {
        return directory(ruleset, &path, args.format);
    }
    let result = read_input(&path).and_then(|b| evaluate_bytes(&ruleset, &b));
    single(&ruleset, result, args.format)
}

fn single(_ruleset: &Ruleset, result: Result<Draft, Failure>, format: Format) -> u8 {
    match result {
        Ok(draft) => {
            let text = match format {
                Format::Json => serde_json::to_string_pretty(&draft).unwrap_or_default(),
                Format::Text => text_report(&draft),
            };
            let mut out = std::io::stdout().lock();
            if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
                return 1;
            }
            0
        }
        Err(f) => {
            eprintln!("error: {}", f.message());
            f.exit_code()
        }
    }
}

/// How many files are evaluated between two writes: output is streamed in
/// name order while the next chunk is evaluated, so memory stays bounded
/// however large the folder is.
const CHUNK: usize = 256;

/// One file's output line, made by a worker, and why it gave no draft.
struct Line {
    text: String,
    failure: Option<(u8, String)>,
}

fn directory(ruleset: Arc<Ruleset>, dir: &Path, format: Format) -> u8 {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json") && p.is_file())
            .collect(),
        Err(e) => {
            eprintln!("error: {}: {e}", dir.display());
            return 1;
        }
    };
    files.sort();
    let pool = match rayon::ThreadPoolBuilder::new()
        .stack_size(super::EVAL_STACK_BYTES)
        .build()
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: cannot start worker threads: {e}");
            return 1;
        }
    };
    let line = |path: &PathBuf| -> Line {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let result = read_input(path).and_then(|b| evaluate_bytes(&ruleset, &b));
        render(&name, result, format)
    };
    let mut out = Output {
        out: std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout()),
        worst: 0,
    };
    // Evaluate chunk k+1 on all cores while chunk k is written.
    let written = pool.install(|| {
        let mut pending: Vec<Line> = Vec::new();
        for chunk in files.chunks(CHUNK) {
            let (ok, next) = rayon::join(
                || out.write(std::mem::take(&mut pending)),
                || chunk.par_iter().map(line).collect::<Vec<Line>>(),
            );
            if !ok {
                return false;
            }
            pending = next;
        }
        out.write(pending)
    });
    if !written || out.out.flush().is_err() {
        return 1;
    }
    out.worst
}

/// The output line for one file, made inside the worker:
/// `{"file":NAME,"draft":DRAFT}` with the draft's v1 JSON document exactly
/// as `Draft::to_json` writes it, or `{"file":NAME,"error":{…}}`.
fn render(name: &str, result: Result<Draft, Failure>, format: Format) -> Line {
    let failure = result
        .as_ref()
        .err()
        .map(|f| (f.exit_code(), format!("{name}: {}", f.message())));
    let json_line = |key: &str, value: &str| {
        let name = serde_json::to_string(name).unwrap_or_default();
        let mut line = String::with_capacity(value.len() + name.len() + 20);
        line.push_str("{\"file\":");
        line.push_str(&name);
        line.push_str(",\"");
        line.push_str(key);
        line.push_str("\":");
        line.push_str(value);
        line.push('}');
        line
    };
    let text = match (result, format) {
        (Ok(draft), Format::Json) => json_line("draft", &draft.to_json()),
        (Ok(draft), Format::Text) => format!("== {name}\n{}", text_report(&draft)),
        (Err(f), Format::Json) => json_line("error", &f.to_json().to_string()),
        (Err(f), Format::Text) => format!("== {name}\nfel: {}", f.message()),
    };
    Line { text, failure }
}

/// Writes lines in order and remembers the worst exit code.
struct Output {
    out: std::io::BufWriter<std::io::Stdout>,
    worst: u8,
}

impl Output {
    fn write(&mut self, lines: Vec<Line>) -> bool {
        for l in lines {
            if let Some((code, message)) = &l.failure {
                eprintln!("error: {message}");
                self.worst = match (self.worst, *code) {
                    (1, _) | (_, 1) => 1,
                    _ => 2,
                };
            }
            if self
                .out
                .write_all(l.text.as_bytes())
                .and_then(|()| self.out.write_all(b"\n"))
                .is_err()
            {
                return false;
            }
        }
        true
    }
}

/// The calculation as a readable Swedish table.
pub fn text_report(d: &Draft) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let amount = d.amount().map_or_else(|| "inget belopp".to_string(), |m| m.to_string());
    let _ = writeln!(s, "Beslutsutkast {} för {}", d.external_id(), d.period());
    let _ = writeln!(s, "Utfall: {}, {amount}", d.outcome().label());
    if !d.codes().is_empty() {
        let codes: Vec<String> = d
            .codes()
            .iter()
            .map(|c| {
                format!(
                    "{} ({})",
                    Ruleset::code_label(d.casework_type(), c.as_str()),
                    c.as_str()
                )
            })
            .collect();
        let _ = writeln!(s, "Koder: {}", codes.join("; "));
    }
    let _ = writeln!(s);
    let c = d.calculation();
    let width = 64;
    for (i, part) in c.parts().iter().enumerate() {
        let title = Ruleset::section_title(d.casework_type(), &part.kind);
        let sign = match (i, part.sign) {
            (0, _) => "",
            (_, 1) => "+",
            _ => "−",
        };
        let section = &part.section;
        let _ = writeln!(s, "{sign:1} {title:<width$} {:>14}", section.total().to_string());
        for row in section.rows() {
            let label: String = row.label.chars().take(width - 2).collect();
            let _ = writeln!(s, "    {label:<w$} {:>14}", row.amount.to_string(), w = width - 2);
        }
    }
    let need = c.need().map(|m| m.to_string()).unwrap_or_default();
    let _ = writeln!(s, "= {:<width$} {need:>14}", "Behov");
    if !d.reasons().is_empty() {
        let _ = writeln!(s, "\nSkäl:");
        for r in d.reasons() {
            let _ = writeln!(s, "  – {} ({})", r.text, r.lagrum);
        }
    }
    if !d.warnings().is_empty() {
        let _ = writeln!(s, "\nVarningar:");
        for w in d.warnings() {
            let _ = writeln!(s, "  ! {w}");
        }
    }
    if !d.assessments().is_empty() {
        let _ = writeln!(s, "\nBedömningar att bekräfta:");
        for a in d.assessments() {
            let _ = writeln!(s, "  ? {} ({})", a.text, a.code);
        }
    }
    if !d.kommunicering().is_empty() {
        let _ = writeln!(s, "\nKommunicering före beslut (25 § förvaltningslagen):");
        for k in d.kommunicering() {
            let _ = writeln!(s, "  > {} ({})", k.text, k.code);
        }
    }
    let r = d.ruleset();
    let _ = write!(s, "\nRegeluppsättning: {} {} ({})", r.name, r.version, r.hash);
    s
}
