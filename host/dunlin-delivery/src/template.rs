//! Tenants' email templates: a subject, a plain-text body and an HTML body per template id
//! and locale, rendered with minijinja.
//!
//! Templates are tenant input and run on the host, so [`Template::new`] and
//! [`Template::render`] hold them inside [`Limits`]: a bounded source, no loader (no file
//! access; an `include` finds only the template's own parts), strict undefined variables,
//! minijinja's fuel for render time, a recursion limit and a bounded output. The HTML part
//! is auto-escaped; the subject and the plain text are not. Amounts and dates reach the
//! template formatted for the locale by ICU4X (`format.rs`) beside their raw values
//! (`input.rs`). A [`TemplateSet`] resolves an id and a customer's locale with a fallback
//! chain (`set.rs`). `docs/templates.md` is the tenant's guide.

mod format;
mod input;
mod render;
mod set;

use std::fmt;
use std::path::PathBuf;

use dunlin_core::text::{quoted, Escaped};
use dunlin_core::{Currency, Date};

pub use format::LocaleFormat;
pub use input::{CustomerInput, InvoiceInput, RenderInput};
pub use render::{Rendered, Template, TemplateSource};
pub use set::{fallback_chain, Preview, TemplateSet};

/// The bounds a tenant's template is held to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The longest source of one part, in bytes.
    pub source_bytes: usize,
    /// The longest rendered part, in bytes.
    pub output_bytes: usize,
    /// minijinja's fuel for one part: every instruction costs one.
    pub fuel: u64,
    /// How deep loops, macros and includes may nest.
    pub recursion: usize,
}

impl Default for Limits {
    /// A dunning letter with a table of a few hundred open invoices renders in a fraction of
    /// these: 64 KiB of source, 256 KiB of output, 100,000 fuel (a loop over 5,000 invoices
    /// printing five fields each), nesting 16 deep.
    fn default() -> Self {
        Limits {
            source_bytes: 64 * 1024,
            output_bytes: 256 * 1024,
            fuel: 100_000,
            recursion: 16,
        }
    }
}

/// One of a template's three parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    /// The email's subject line.
    Subject,
    /// The plain-text body.
    Text,
    /// The HTML body.
    Html,
}

impl Part {
    /// Every part, in the order they are checked.
    pub const ALL: [Part; 3] = [Part::Subject, Part::Text, Part::Html];

    /// The part's name inside minijinja (and for `include`), and the extension of its file
    /// in a template directory.
    pub fn name(self) -> &'static str {
        match self {
            Part::Subject => "subject",
            Part::Text => "txt",
            Part::Html => "html",
        }
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Subject => "subject",
            Part::Text => "plain text",
            Part::Html => "HTML",
        })
    }
}

/// How long a tenant's id, locale or quoted source may be inside a message.
const QUOTE_BYTES: usize = 80;
/// How long a reason (which may quote the tenant's source) may be inside a message.
const REASON_BYTES: usize = 400;

/// A template that cannot be stored or rendered, or a notice no template serves.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The template id is empty, too long or has characters other than `a-z0-9-_.`.
    #[error("template id {}: {reason}", quoted(.id, QUOTE_BYTES))]
    BadId {
        /// The id as given.
        id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A locale that is not a BCP 47 language tag.
    #[error("locale {}: not a BCP 47 language tag (e.g. \"fi-FI\", \"de\")", quoted(.tag, QUOTE_BYTES))]
    BadLocale {
        /// The tag as given.
        tag: String,
    },
    /// A part's source is over [`Limits::source_bytes`].
    #[error("template {} ({}), {part}: the source is {size} bytes, over the limit of {limit}",
        quoted(.id, QUOTE_BYTES), Escaped(.locale))]
    SourceTooLarge {
        /// The template id.
        id: String,
        /// The template's locale.
        locale: String,
        /// Which part.
        part: Part,
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// A part does not parse or does not render: a syntax error, an undefined variable, a
    /// failed filter, fuel or recursion exhausted.
    #[error("template {} ({}), {part}{}: {}", quoted(.id, QUOTE_BYTES), Escaped(.locale),
        at_line(*.line), Escaped(&dunlin_core::text::truncate(.reason, REASON_BYTES)))]
    Invalid {
        /// The template id.
        id: String,
        /// The template's locale.
        locale: String,
        /// Which part.
        part: Part,
        /// The line in that part's source, when minijinja knows it.
        line: Option<usize>,
        /// What failed, in our words; it may quote the source.
        reason: String,
    },
    /// A rendered part is over [`Limits::output_bytes`].
    #[error("template {} ({}), {part}: the rendered text is over the limit of {limit} bytes",
        quoted(.id, QUOTE_BYTES), Escaped(.locale))]
    OutputTooLarge {
        /// The template id.
        id: String,
        /// The template's locale.
        locale: String,
        /// Which part.
        part: Part,
        /// The limit in bytes.
        limit: usize,
    },
    /// No template has the id in any locale of the fallback chain.
    #[error("no template {} in any of the locales tried ({})", quoted(.id, QUOTE_BYTES),
        Escaped(&.tried.join(", ")))]
    NotFound {
        /// The template id.
        id: String,
        /// The locales tried, in order.
        tried: Vec<String>,
    },
    /// A currency CLDR has no data for.
    #[error("currency {code}: no CLDR format for it")]
    Currency {
        /// The currency.
        code: Currency,
    },
    /// A date outside the range ICU4X formats.
    #[error("date {date} is outside the range dates are formatted in")]
    DateOutOfRange {
        /// The date.
        date: Date,
    },
    /// A template directory or file that cannot be read.
    #[error("reading templates from {}: {source}", Escaped(&.path.to_string_lossy()))]
    Read {
        /// The directory or file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

fn at_line(line: Option<usize>) -> String {
    line.map_or_else(String::new, |l| format!(", line {l}"))
}
