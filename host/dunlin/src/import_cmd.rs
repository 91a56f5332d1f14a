//! `dunlin import`: load a tenant's customers, invoices, payments, disputes or payment plans
//! from a CSV or JSON Lines file, with a progress bar. The work is `dunlin_import`'s.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use dunlin_core::text::Escaped;
use dunlin_import::{import_file, Format, Kind, Options};
use dunlin_store::{Db, TenantId};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(clap::Args)]
pub struct ImportArgs {
    /// The tenant whose ledger receives the rows.
    #[arg(long)]
    tenant: String,
    /// What the file holds (see docs/import.md for each kind's fields).
    #[arg(
        long,
        value_parser = PossibleValuesParser::new(["customers", "invoices", "payments", "disputes", "plans"])
            .map(|s| s.parse::<Kind>().expect("every listed kind parses")),
    )]
    kind: Kind,
    /// The file: .csv (with a header row), or .jsonl / .ndjson (one JSON object per line).
    file: PathBuf,
    /// The file's format, when its extension does not say.
    #[arg(
        long,
        value_parser = PossibleValuesParser::new(["csv", "jsonl"])
            .map(|s| s.parse::<Format>().expect("every listed format parses")),
    )]
    format: Option<Format>,
    /// Rows per database transaction.
    #[arg(long, default_value_t = Options::default().batch_size)]
    batch_size: usize,
}

/// Imports the file. Exit code 0 when every row loaded, 1 when some rows were rejected (each is
/// printed with its line); an unknown tenant or an unreadable file is an error.
pub async fn run(args: &ImportArgs, db: &dyn Db) -> anyhow::Result<ExitCode> {
    let tenant = TenantId::new(&args.tenant)?;
    let size = std::fs::metadata(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?
        .len();
    let bar = progress_bar(size);
    let options = Options {
        batch_size: args.batch_size,
    };
    let result = import_file(
        db,
        &tenant,
        args.kind,
        &args.file,
        args.format,
        &options,
        &mut |p| bar.set_position(p.bytes_read),
    )
    .await;
    bar.finish_and_clear();
    let report = result.with_context(|| {
        format!(
            "importing {} from {} for tenant {tenant}",
            args.kind,
            args.file.display()
        )
    })?;
    outln!(
        "loaded {} of {} rows from {}",
        report.loaded,
        report.read,
        args.file.display()
    );
    // A rejected row's account may quote the row: the file's text, escaped onto its line.
    for error in &report.errors {
        outln!("{}", Escaped(&error.to_string()));
    }
    Ok(if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A bar over bytes read, drawn on stderr only when a person is watching.
fn progress_bar(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}")
            .expect("the template is valid"),
    );
    bar
}
