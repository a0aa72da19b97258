//! `hrobot audit`: the audit log from the shell — keys, verification,
//! proofs, checkpoints, export and erasure.
//!
//! Settings come from flags or the environment (see `audit::config`):
//! `--db` / `HROBOT_DATABASE_URL` (default `sqlite://hrobot.sqlite`, in the
//! working directory), `--origin` / `HROBOT_AUDIT_ORIGIN`, `--signing-key` /
//! `HROBOT_AUDIT_SIGNING_KEY` (a file), `--key` / `HROBOT_AUDIT_VERIFIER_KEY`,
//! `--master-key-file` / `HROBOT_MASTER_KEY_FILE`, or the keyring itself in
//! `HROBOT_MASTER_KEY`. Secrets are never printed.
//!
//! `verify --against CHECKPOINT` (a checkpoint file, or a witness directory
//! meaning its newest) also proves that the log extends that checkpoint,
//! kept outside the database; with `--witness-dir` / `HROBOT_AUDIT_WITNESS_DIR`
//! (or the configuration's `audit.witness_dir`) plain `verify` does so
//! against the witness's newest checkpoint (`--no-witness`: the database
//! alone).
//!
//! Exit codes: `verify` 0 intact, 1 tampered or rolled back (the first bad
//! sequence number, or the rollback, is named), 2 could not verify (also:
//! the checkpoint kept outside is unreadable or not signed by a trusted key); `verify-proof` 0 valid, 1 invalid, 2
//! unreadable input; every other command 0 on success, 1 on error.

use anyhow::{Context, Result, anyhow};
use audit::config::DEFAULT_DATABASE_URL;
use audit::offline::{Unreadable, Verdict};
use audit::secret::Secret;
use audit::{Actor, AuditLog, AuditSettings, Clock, Db, MasterKey, NoteSigner, NoteVerifier, SystemClock};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    settings: SettingsArgs,
    #[command(subcommand)]
    command: AuditCommand,
}

/// The audit settings as flags; each falls back to its environment variable.
#[derive(Debug, clap::Args)]
struct SettingsArgs {
    /// The case database: sqlite:PATH or postgres://…. Default: the service
    /// configuration's (`--config`, `--data-dir`), else sqlite://hrobot.sqlite.
    #[arg(long = "db", global = true, env = "HROBOT_DATABASE_URL", hide_env_values = true)]
    db: Option<String>,
    /// The log's origin (its name in checkpoints); default: the signing key's name.
    #[arg(long, global = true, env = "HROBOT_AUDIT_ORIGIN")]
    origin: Option<String>,
    /// The checkpoint signing key file (Go note format, PRIVATE+KEY+…).
    #[arg(long = "signing-key", global = true, env = "HROBOT_AUDIT_SIGNING_KEY")]
    signing_key: Option<PathBuf>,
    /// The master key file (current key first). HROBOT_MASTER_KEY, holding
    /// the keys themselves, takes precedence.
    #[arg(long = "master-key-file", global = true, env = "HROBOT_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
    /// Sign a checkpoint after this many new events.
    #[arg(long, global = true, env = "HROBOT_AUDIT_CHECKPOINT_EVENTS", default_value_t = 1000)]
    checkpoint_every_events: u64,
    /// Sign a checkpoint this many seconds after the last one.
    #[arg(long, global = true, env = "HROBOT_AUDIT_CHECKPOINT_SECS", default_value_t = 60)]
    checkpoint_every_secs: u64,
    /// The witness directory: signed checkpoints kept outside the database.
    /// `verify` checks the log against the newest one there.
    #[arg(long = "witness-dir", global = true, env = "HROBOT_AUDIT_WITNESS_DIR")]
    witness_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
enum AuditCommand {
    /// Write a new checkpoint signing key and print its verifier key.
    Keygen {
        /// Where to write the key (default: --signing-key, else audit-signing.key).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace an existing key file.
        #[arg(long)]
        force: bool,
    },
    /// Write a new master key (for subject keys) and print its id.
    MasterKeygen {
        /// Where to write the key.
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing key file.
        #[arg(long)]
        force: bool,
    },
    /// Recompute every leaf and node, check every checkpoint; exit 1 if tampered.
    Verify {
        /// Trusted verifier key(s) (name+keyid+base64); default: the signing key's.
        #[arg(long = "key", env = "HROBOT_AUDIT_VERIFIER_KEY", value_delimiter = ',')]
        keys: Vec<String>,
        /// Problems to list (the first is the one that matters).
        #[arg(long, default_value_t = 20)]
        show: usize,
        /// Also hold the case store (applications, drafts, decisions,
        /// states, comments, assignments) to what the log recorded.
        #[arg(long)]
        cases: bool,
        /// Also prove the log extends this checkpoint, kept outside the
        /// database: a checkpoint file as the witness holds them, or a
        /// witness directory (its newest). Default: the configured witness
        /// directory, if any.
        #[arg(long, value_name = "CHECKPOINT")]
        against: Option<PathBuf>,
        /// Check the database alone, even when a witness directory is
        /// configured.
        #[arg(long, conflicts_with = "against")]
        no_witness: bool,
    },
    /// Write a C2SP tlog-proof that one event is in the log.
    Prove {
        /// The event's sequence number.
        #[arg(long)]
        seq: u64,
        /// The checkpoint to prove against: `latest` or a tree size.
        #[arg(long, default_value = "latest")]
        checkpoint: String,
        /// Write to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the latest signed checkpoint.
    Checkpoint {
        /// Sign a new checkpoint first (if there are new events).
        #[arg(long)]
        new: bool,
    },
    /// Verify a proof offline: a tlog-proof file, or a JSON test vector.
    VerifyProof {
        /// The proof file (`-` for stdin).
        file: PathBuf,
        /// Trusted verifier key(s) for tlog-proof files.
        #[arg(long = "key", env = "HROBOT_AUDIT_VERIFIER_KEY", value_delimiter = ',')]
        keys: Vec<String>,
    },
    /// Write events as JSON lines, decrypting what can still be decrypted.
    Export {
        /// The first sequence number.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// The last sequence number (inclusive).
        #[arg(long)]
        to: Option<u64>,
    },
    /// Erase a data subject: delete their key and log a tombstone.
    Erase {
        /// The subject's personnummer.
        #[arg(long)]
        subject: String,
        /// Why (public; no personal data).
        #[arg(long)]
        reason: String,
        /// Who is erasing (an identifier, not a name).
        #[arg(long, default_value = "operator:hrobot-audit-erase")]
        actor: String,
    },
    /// Rewrap every stored key under a new master key.
    RotateMasterKey {
        /// The new master key file (from `hrobot audit master-keygen`).
        #[arg(long)]
        new_key_file: PathBuf,
    },
}

impl SettingsArgs {
    /// Flags and environment over the service configuration (when given).
    fn settings_over(&self, base: Option<AuditSettings>) -> AuditSettings {
        let base = base.unwrap_or_else(|| AuditSettings {
            database_url: DEFAULT_DATABASE_URL.to_string(),
            ..AuditSettings::default()
        });
        AuditSettings {
            database_url: self.db.clone().unwrap_or(base.database_url),
            origin: self.origin.clone().or(base.origin),
            signing_key_file: self.signing_key.clone().or(base.signing_key_file),
            verifier_key: None,
            master_key: std::env::var("HROBOT_MASTER_KEY")
                .ok()
                .map(Secret::new)
                .or(base.master_key),
            master_key_file: self.master_key_file.clone().or(base.master_key_file),
            checkpoint_every_events: self.checkpoint_every_events,
            checkpoint_every_secs: self.checkpoint_every_secs,
            witness_dir: self.witness_dir.clone().or(base.witness_dir),
        }
    }

    #[cfg(test)]
    fn settings(&self) -> AuditSettings {
        self.settings_over(None)
    }
}

/// `base`: the audit settings of the service configuration, when one was given.
pub fn run(args: Args, base: Option<AuditSettings>) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let code = rt.block_on(dispatch(args, base));
    ExitCode::from(code)
}

async fn dispatch(args: Args, base: Option<AuditSettings>) -> u8 {
    let settings = args.settings.settings_over(base);
    match args.command {
        AuditCommand::Verify {
            keys,
            show,
            cases,
            against,
            no_witness,
        } => {
            let against = match (against, no_witness) {
                (Some(path), _) => Against::Given(path),
                (None, false) => settings
                    .witness_dir
                    .clone()
                    .map_or(Against::Nothing, Against::Configured),
                (None, true) => Against::Nothing,
            };
            let code = verify(&settings, &keys, show, against).await;
            if cases && code != 2 {
                code.max(verify_cases(&settings, show).await)
            } else {
                code
            }
        }
        AuditCommand::VerifyProof { file, keys } => verify_proof(&file, &keys),
        other => match run_command(&settings, other).await {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e:#}");
                1
            }
        },
    }
}

async fn run_command(settings: &AuditSettings, command: AuditCommand) -> Result<()> {
    match command {
        AuditCommand::Keygen { out, force } => keygen(settings, out, force),
        AuditCommand::MasterKeygen { out, force } => {
            let key = MasterKey::generate();
            write_private(&out, &format!("{}\n", key.to_text().expose()), force)?;
            println!("master key {} written to {}", key.id(), out.display());
            Ok(())
        }
        AuditCommand::Prove { seq, checkpoint, out } => {
            let at = match checkpoint.as_str() {
                "latest" => None,
                n => Some(n.parse::<u64>().context("--checkpoint takes `latest` or a tree size")?),
            };
            let db = open(settings).await?;
            let proof = db.prove(seq, at).await?;
            let text = proof.to_text();
            match out {
                Some(path) => std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?,
                None => std::io::stdout().write_all(text.as_bytes())?,
            }
            Ok(())
        }
        AuditCommand::Checkpoint { new } => {
            let db = open(settings).await?;
            if new {
                db.migrate().await?;
                let log = AuditLog::without_master_keys(
                    &settings.origin()?,
                    settings.signer()?,
                    settings.policy(),
                    Arc::new(SystemClock),
                )?;
                if db.checkpoint(&log).await?.is_none() {
                    eprintln!("no new events since the latest checkpoint");
                }
                if let Some(witness) = settings.witness() {
                    let n = db
                        .publish_to_witness(&witness)
                        .await
                        .context("copying the checkpoint to the witness directory")?;
                    eprintln!("{n} checkpoint(s) written to {}", witness.dir().path().display());
                }
            }
            let cp = db
                .latest_checkpoint()
                .await?
                .ok_or_else(|| anyhow!("the log has no checkpoint yet (hrobot audit checkpoint --new signs one)"))?;
            print!("{}", cp.note);
            Ok(())
        }
        AuditCommand::Export { from, to } => {
            let keys = settings.master_keys()?;
            if keys.is_none() {
                eprintln!("no master key: personal data is exported as locked");
            }
            let db = open(settings).await?;
            let mut out = std::io::BufWriter::new(std::io::stdout());
            let mut failed = None;
            db.export(keys.as_ref(), from, to, |event| {
                if failed.is_none()
                    && let Err(e) = serde_json::to_writer(&mut out, &event)
                        .map_err(std::io::Error::from)
                        .and_then(|()| out.write_all(b"\n"))
                {
                    failed = Some(e);
                }
                Ok(())
            })
            .await?;
            if let Some(e) = failed {
                return Err(e.into());
            }
            out.flush()?;
            Ok(())
        }
        AuditCommand::Erase { subject, reason, actor } => {
            let today = SystemClock.now().date_naive();
            // The parse error names what is wrong, never the number itself.
            let pnr = domain::Personnummer::parse(subject.trim(), today).context("--subject")?;
            let actor = Actor::parse(&actor).context("--actor")?;
            let log = writer(settings)?;
            let db = open(settings).await?;
            db.migrate().await?;
            let erasure = db.erase(&log, &pnr, &reason, &actor).await?;
            println!(
                "erased subject {}: {} key(s) deleted, tombstone at sequence number {}",
                erasure.subject, erasure.keys_deleted, erasure.seq
            );
            Ok(())
        }
        AuditCommand::RotateMasterKey { new_key_file } => {
            let text = std::fs::read_to_string(&new_key_file)
                .with_context(|| format!("reading {}", new_key_file.display()))?;
            let new = MasterKey::parse(text.trim()).context("the new master key")?;
            let log = writer(settings)?;
            let db = open(settings).await?;
            db.migrate().await?;
            let n = db.rotate_master_key(&log, &new).await?;
            println!(
                "{n} key(s) rewrapped under master key {}; now point HROBOT_MASTER_KEY_FILE at {}",
                new.id(),
                new_key_file.display()
            );
            Ok(())
        }
        AuditCommand::Verify { .. } | AuditCommand::VerifyProof { .. } => Ok(()),
    }
}

/// A log handle that can append (erasure, rotation): signing key and
/// master keys are both needed.
fn writer(settings: &AuditSettings) -> Result<AuditLog> {
    Ok(AuditLog::new(
        &settings.origin()?,
        settings.signer()?,
        settings.require_master_keys()?,
        settings.policy(),
        Arc::new(SystemClock),
    )?)
}

async fn open(settings: &AuditSettings) -> Result<Db> {
    // The URL may carry a password: it is not repeated in the error.
    Db::connect(&settings.database_url)
        .await
        .context("opening the database")
}

fn keygen(settings: &AuditSettings, out: Option<PathBuf>, force: bool) -> Result<()> {
    let origin = settings.origin.clone().ok_or_else(|| {
        anyhow!("keygen needs the origin (--origin or HROBOT_AUDIT_ORIGIN), e.g. kommun.example/hrobot")
    })?;
    let signer = NoteSigner::generate(&origin)?;
    let path = out
        .or_else(|| settings.signing_key_file.clone())
        .unwrap_or_else(|| PathBuf::from("audit-signing.key"));
    write_private(&path, &format!("{}\n", signer.to_skey().expose()), force)?;
    eprintln!("signing key written to {}", path.display());
    println!("{}", signer.verifier().to_vkey());
    Ok(())
}

/// Writes a secret to a new file readable only by its owner.
fn write_private(path: &Path, text: &str, force: bool) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| {
        if path.exists() && !force {
            format!("{} exists; --force replaces it", path.display())
        } else {
            format!("writing {}", path.display())
        }
    })?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

fn verifiers(settings: &AuditSettings, keys: &[String]) -> Result<Vec<NoteVerifier>> {
    if keys.is_empty() {
        return Ok(settings.verifiers()?);
    }
    keys.iter()
        .map(|k| NoteVerifier::from_vkey(k.trim()).with_context(|| format!("verifier key {k:?}")))
        .collect()
}

/// What `verify` checks the log against, besides itself.
enum Against {
    Nothing,
    /// `--against`: a checkpoint file or a witness directory.
    Given(PathBuf),
    /// The configured witness directory.
    Configured(PathBuf),
}

/// The checkpoint kept outside the database, read and its signature
/// checked. `Ok(None)`: nothing to check against (no witness, or a
/// configured witness with no checkpoint yet).
fn external_checkpoint(
    against: &Against,
    known: &[NoteVerifier],
) -> Result<Option<(PathBuf, audit::SignedCheckpoint)>> {
    use audit::witness::{WitnessDir, read_checkpoint};
    let (path, configured) = match against {
        Against::Nothing => return Ok(None),
        Against::Given(p) => (p, false),
        Against::Configured(p) => (p, true),
    };
    if !path.is_dir() {
        if configured {
            anyhow::bail!(
                "the witness directory {} cannot be read (is its mount there?); --no-witness checks the database alone",
                path.display()
            );
        }
        return Ok(Some((path.clone(), read_checkpoint(path, known)?)));
    }
    let newest = WitnessDir::new(path).newest(known)?;
    for skipped in &newest.skipped {
        eprintln!(
            "warning: witness file {} is not used: {}",
            skipped.path.display(),
            skipped.why
        );
    }
    match newest.found {
        Some(found) => Ok(Some(found)),
        None if configured => {
            println!(
                "witness {}: no checkpoint there yet; the database is checked alone",
                path.display()
            );
            Ok(None)
        }
        None => anyhow::bail!("{} holds no checkpoint signed by a trusted key", path.display()),
    }
}

async fn verify(settings: &AuditSettings, keys: &[String], show: usize, against: Against) -> u8 {
    let known = match verifiers(settings, keys) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e:#}");
            return 2;
        }
    };
    let external = match external_checkpoint(&against, &known) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: the checkpoint kept outside the database: {e:#}");
            return 2;
        }
    };
    let report = match open(settings).await {
        Ok(db) => db
            .verify_against(&known, external.as_ref().map(|(_, cp)| &cp.checkpoint))
            .await
            .context("verifying"),
        Err(e) => Err(e),
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return 2;
        }
    };
    if report.is_ok() {
        println!(
            "ok: {} events, {} tree nodes and {} checkpoints verified",
            report.events, report.nodes, report.checkpoints
        );
        println!("tree size {}, root {}", report.events, report.root);
        match report.latest_checkpoint {
            Some((size, root)) => println!("latest checkpoint: tree size {size}, root {root}"),
            None => println!("no checkpoint yet"),
        }
        match &external {
            Some((path, cp)) => println!(
                "the log extends the checkpoint kept outside it: tree size {}, {}",
                cp.checkpoint.size,
                path.display()
            ),
            None => println!(
                "note: the database was checked alone; a rollback of the whole database to an earlier checkpoint \
                 is only seen against a checkpoint kept outside it (--against, or a witness directory)"
            ),
        }
        return 0;
    }
    let first = &report.problems[0];
    match first.location {
        audit::verify::Location::Events { first, last } if first + 1 == last => {
            println!("TAMPERED: first bad sequence number {first} or {last} (the database cannot tell which)");
        }
        audit::verify::Location::Events { first, last } => {
            println!("TAMPERED: first bad sequence number between {first} and {last} (the database cannot tell which)");
        }
        _ => match report.first_bad_seq() {
            Some(seq) => println!("TAMPERED: first bad sequence number {seq}"),
            None => println!("TAMPERED: {first}"),
        },
    }
    for p in report.problems.iter().take(show) {
        println!("  {p}");
    }
    if report.problems.len() > show {
        println!("  … and {} more", report.problems.len() - show);
    }
    if let Some((path, _)) = &external {
        println!("  checkpoint kept outside the database: {}", path.display());
    }
    println!(
        "{} problem(s) in {} events, {} tree nodes, {} checkpoints",
        report.problems.len(),
        report.events,
        report.nodes,
        report.checkpoints
    );
    1
}

/// `verify --cases`: 0 when the case store agrees with the log, 1 when it
/// does not (each difference named by case), 2 when it could not be read.
async fn verify_cases(settings: &AuditSettings, show: usize) -> u8 {
    let report = match open(settings).await {
        Ok(db) => crate::audit_cases::check(&db).await,
        Err(e) => Err(e),
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: checking the case store: {e:#}");
            return 2;
        }
    };
    if report.findings.is_empty() && report.rules.is_empty() {
        println!(
            "ok: {} cases agree with the {} events of the audit log",
            report.cases, report.events
        );
        return 0;
    }
    if !report.rules.is_empty() {
        println!(
            "RULESETS CHANGED: {} difference(s) between the published versions or activations and the audit log",
            report.rules.len()
        );
        for r in report.rules.iter().take(show) {
            println!("  {r}");
        }
        if report.findings.is_empty() {
            return 1;
        }
    }
    println!(
        "CASE STORE CHANGED: {} difference(s) between the case store and the audit log",
        report.findings.len()
    );
    for f in report.findings.iter().take(show) {
        println!("  case {}: {}", f.case, f.what);
    }
    if report.findings.len() > show {
        println!("  … and {} more", report.findings.len() - show);
    }
    1
}

fn verify_proof(file: &Path, keys: &[String]) -> u8 {
    let read = |r: &mut dyn Read| {
        let mut buf = Vec::new();
        r.take(MAX_PROOF_BYTES).read_to_end(&mut buf).map(|_| buf)
    };
    let bytes = if file == Path::new("-") {
        read(&mut std::io::stdin().lock())
    } else {
        std::fs::File::open(file).and_then(|mut f| read(&mut f))
    };
    let bytes = match bytes {
        Ok(b) => b,
        Err(e) => {
            eprintln!("unreadable: {}: {e}", file.display());
            return 2;
        }
    };
    let mut known = Vec::new();
    for k in keys {
        match NoteVerifier::from_vkey(k.trim()) {
            Ok(v) => known.push(v),
            Err(e) => {
                eprintln!("unreadable: verifier key: {e}");
                return 2;
            }
        }
    }
    match audit::offline::verify_file(&bytes, &known) {
        Ok(Verdict::Valid(what)) => {
            println!("valid: {what}");
            0
        }
        Ok(Verdict::Invalid(why)) => {
            println!("invalid: {why}");
            1
        }
        Err(e @ (Unreadable::Format(_) | Unreadable::NoKey)) => {
            eprintln!("unreadable: {}: {e}", file.display());
            2
        }
    }
}

const MAX_PROOF_BYTES: u64 = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_to_a_local_sqlite_file() {
        use clap::Parser;
        #[derive(Debug, clap::Parser)]
        struct T {
            #[command(flatten)]
            a: Args,
        }
        let t = T::try_parse_from(["t", "verify-proof", "x.json"]).unwrap();
        assert_eq!(t.a.settings.settings().database_url, "sqlite://hrobot.sqlite");
    }
}
