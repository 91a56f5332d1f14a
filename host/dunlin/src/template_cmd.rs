//! `dunlin template …`: a tenant's email templates: upload (one, or a folder), list, show
//! and render.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use clap::Subcommand;
use dunlin_core::text::Escaped;
use dunlin_delivery::template::{Limits, RenderInput, Template, TemplateSet, TemplateSource};
use dunlin_store::{Db, TemplateRow};

use crate::tenant_cmd::existing_tenant;

#[derive(Subcommand)]
pub enum TemplateCommand {
    /// Check and store one template (three files) or a whole folder
    /// (LOCALE/ID.subject, .txt and .html); each is rendered against a sample notice first,
    /// and nothing is stored unless every one renders.
    Upload(UploadArgs),
    /// List the tenant's templates.
    List {
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
    },
    /// Print a template's three parts.
    Show {
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
        /// The template id.
        id: String,
        /// The template's locale, e.g. fi-FI.
        #[arg(long)]
        locale: String,
    },
    /// Render a template against a sample notice for a customer in a locale, through the
    /// fallback chain to the tenant's default locale, and print the subject and plain text.
    Render {
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
        /// The template id.
        id: String,
        /// The customer's locale, e.g. fi-FI.
        #[arg(long)]
        locale: String,
    },
}

#[derive(clap::Args)]
pub struct UploadArgs {
    /// The tenant's id.
    #[arg(long)]
    tenant: String,
    /// A folder of templates: LOCALE/TEMPLATE-ID.subject, .txt and .html.
    #[arg(long, conflicts_with_all = ["id", "locale", "subject", "text", "html"], required_unless_present = "id")]
    dir: Option<PathBuf>,
    /// The template id of one template.
    #[arg(long, requires_all = ["locale", "subject", "text", "html"])]
    id: Option<String>,
    /// Its locale, e.g. fi-FI.
    #[arg(long)]
    locale: Option<String>,
    /// The file holding its subject line.
    #[arg(long)]
    subject: Option<PathBuf>,
    /// The file holding its plain-text body.
    #[arg(long)]
    text: Option<PathBuf>,
    /// The file holding its HTML body.
    #[arg(long)]
    html: Option<PathBuf>,
}

impl UploadArgs {
    /// The templates given, parsed (not yet checked).
    fn templates(&self) -> anyhow::Result<TemplateSet> {
        let limits = Limits::default();
        if let Some(dir) = &self.dir {
            let set = TemplateSet::from_dir(dir, limits)?;
            if set.iter().next().is_none() {
                bail!(
                    "no templates in {}: expected <locale>/<template-id>.subject, .txt and .html",
                    Escaped(&dir.to_string_lossy())
                );
            }
            return Ok(set);
        }
        let (Some(id), Some(locale), Some(subject), Some(text), Some(html)) = (
            &self.id,
            &self.locale,
            &self.subject,
            &self.text,
            &self.html,
        ) else {
            bail!("give --dir, or --id with --locale, --subject, --text and --html");
        };
        let source = TemplateSource {
            subject: read(subject)?,
            text: read(text)?,
            html: read(html)?,
        };
        let mut set = TemplateSet::new();
        set.insert(Template::new(id, locale, source, limits)?);
        Ok(set)
    }
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("reading {}", Escaped(&path.to_string_lossy())))
}

/// Prints a tenant's text line by line, each line escaped: a template may hold anything.
fn print_escaped(label: &str, text: &str) {
    outln!("{label}:");
    for line in text.lines() {
        outln!("  {}", Escaped(line));
    }
}

pub async fn run(cmd: &TemplateCommand, db: &dyn Db) -> anyhow::Result<ExitCode> {
    match cmd {
        TemplateCommand::Upload(args) => {
            let (tenant, _) = existing_tenant(db, &args.tenant).await?;
            let templates = args.templates()?;
            // Every template renders before any is stored: a folder goes in whole or not at all.
            for template in templates.iter() {
                template.check()?;
            }
            let rows: Vec<TemplateRow> = templates.iter().map(TemplateRow::from).collect();
            db.put_templates(&tenant, &rows).await?;
            for row in &rows {
                outln!(
                    "stored template {} ({})",
                    Escaped(&row.id),
                    Escaped(&row.locale)
                );
            }
        }
        TemplateCommand::List { tenant } => {
            let (tenant, _) = existing_tenant(db, tenant).await?;
            for row in db.templates(&tenant).await? {
                let updated = row.updated_at.map(|t| t.to_rfc3339()).unwrap_or_default();
                outln!(
                    "{:<32} {:<10} {}",
                    Escaped(&row.id),
                    Escaped(&row.locale),
                    updated
                );
            }
        }
        TemplateCommand::Show { tenant, id, locale } => {
            let (tenant, _) = existing_tenant(db, tenant).await?;
            let Some(row) = db.template(&tenant, id, locale).await? else {
                bail!("no template {} ({})", Escaped(id), Escaped(locale));
            };
            outln!("template {} ({})", Escaped(&row.id), Escaped(&row.locale));
            print_escaped("subject", &row.subject);
            print_escaped("text", &row.text);
            print_escaped("html", &row.html);
        }
        TemplateCommand::Render { tenant, id, locale } => {
            let (tenant_id, tenant) = existing_tenant(db, tenant).await?;
            let rows = db.templates(&tenant_id).await?;
            let set = TemplateSet::from_rows(&rows, Limits::default())?;
            let default_locale = &tenant.settings.delivery.default_locale;
            let mut input = RenderInput::sample(locale);
            input.sender = tenant.settings.name.clone();
            let preview = set.preview(id, default_locale, &input)?;
            outln!(
                "template {} in {} (for {}; the chain: {})",
                Escaped(&preview.id),
                Escaped(&preview.locale),
                Escaped(locale),
                Escaped(&preview.tried.join(" → "))
            );
            let rendered = preview.rendered;
            outln!("subject: {}", Escaped(&rendered.subject));
            print_escaped("text", &rendered.text);
        }
    }
    Ok(ExitCode::SUCCESS)
}
