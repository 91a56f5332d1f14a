//! One template (three parts) compiled into a locked-down minijinja environment, and its
//! rendering within [`Limits`].

use std::io;

use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, ErrorKind, State, UndefinedBehavior, Value};

use super::format::LocaleFormat;
use super::input::RenderInput;
use super::{Limits, Part, TemplateError};

/// A template's three sources, as the tenant wrote them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TemplateSource {
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

impl TemplateSource {
    /// The source of `part`.
    pub fn part(&self, part: Part) -> &str {
        match part {
            Part::Subject => &self.subject,
            Part::Text => &self.text,
            Part::Html => &self.html,
        }
    }
}

/// A rendered email: one subject line and both bodies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// The subject: one line, runs of whitespace and control characters made one space.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

/// One tenant's template for one id and locale, parsed and ready to render.
#[derive(Debug)]
pub struct Template {
    id: String,
    locale: String,
    source: TemplateSource,
    limits: Limits,
    /// The template's own locale's formats, built once: ICU4X formatters load their data.
    format: LocaleFormat,
    /// One environment per part, in [`Part::ALL`] order, each holding only its part: an
    /// `include` of another part would render it with that part's escaping (the plain
    /// text's none inside the HTML).
    envs: Vec<Environment<'static>>,
}

impl Template {
    /// Parses the three parts of template `id` in `locale` (a BCP 47 tag, kept in its
    /// canonical form): a part over [`Limits::source_bytes`] or one that does not parse is
    /// refused with the part, line and reason.
    pub fn new(
        id: &str,
        locale: &str,
        source: TemplateSource,
        limits: Limits,
    ) -> Result<Template, TemplateError> {
        check_id(id)?;
        let format = LocaleFormat::new(locale)?;
        let locale = format.locale().to_string();
        let mut envs = Vec::with_capacity(Part::ALL.len());
        for part in Part::ALL {
            let text = source.part(part);
            if text.len() > limits.source_bytes {
                return Err(TemplateError::SourceTooLarge {
                    id: id.to_owned(),
                    locale,
                    part,
                    size: text.len(),
                    limit: limits.source_bytes,
                });
            }
            let mut env = environment(limits);
            if let Err(e) = env.add_template_owned(part.name(), text.to_owned()) {
                return Err(invalid(id, &locale, part, text, &e));
            }
            envs.push(env);
        }
        let template = Template {
            id: id.to_owned(),
            locale,
            source,
            limits,
            format,
            envs,
        };
        Ok(template)
    }

    /// The template id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The locale, in canonical form (`fi-FI`).
    pub fn locale(&self) -> &str {
        &self.locale
    }

    /// The sources as given.
    pub fn source(&self) -> &TemplateSource {
        &self.source
    }

    /// Renders every part for `input`, amounts and dates formatted for `format`.
    pub fn render_with(
        &self,
        input: &RenderInput,
        format: &LocaleFormat,
    ) -> Result<Rendered, TemplateError> {
        let ctx = Value::from(Serde(input.vars(format)?));
        let subject = self.render_part(Part::Subject, &ctx)?;
        Ok(Rendered {
            subject: one_line(&subject),
            text: self.render_part(Part::Text, &ctx)?,
            html: self.render_part(Part::Html, &ctx)?,
        })
    }

    /// Renders every part for `input`, formatted for the template's own locale.
    pub fn render(&self, input: &RenderInput) -> Result<Rendered, TemplateError> {
        self.render_with(input, &self.format)
    }

    /// Renders every part against [`RenderInput::sample`] in the template's locale: what a
    /// template must pass before it is stored. The error is the first part's that fails,
    /// with its line and reason.
    pub fn check(&self) -> Result<Rendered, TemplateError> {
        self.render(&RenderInput::sample(&self.locale))
    }

    fn render_part(&self, part: Part, ctx: &Value) -> Result<String, TemplateError> {
        let env = &self.envs[part as usize];
        let source = self.source.part(part);
        let template = env
            .get_template(part.name())
            .map_err(|e| invalid(&self.id, &self.locale, part, source, &e))?;
        let mut out = CappedWriter {
            buf: Vec::new(),
            limit: self.limits.output_bytes,
            over: false,
        };
        match template.render_captured_to(ctx, &mut out) {
            Ok(_) => {}
            Err(_) if out.over => {
                return Err(TemplateError::OutputTooLarge {
                    id: self.id.clone(),
                    locale: self.locale.clone(),
                    part,
                    limit: self.limits.output_bytes,
                })
            }
            Err(e) => return Err(invalid(&self.id, &self.locale, part, source, &e)),
        }
        String::from_utf8(out.buf).map_err(|_| TemplateError::Invalid {
            id: self.id.clone(),
            locale: self.locale.clone(),
            part,
            line: None,
            reason: "the rendered text is not UTF-8".into(),
        })
    }
}

/// A minijinja environment as tenants' templates get it: no loader, strict undefined,
/// fuel, a recursion limit, HTML escaping in the HTML part only, and the `date` filter.
fn environment(limits: Limits) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(limits.fuel));
    env.set_recursion_limit(limits.recursion);
    env.set_auto_escape_callback(|name| {
        if name == Part::Html.name() {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.add_filter("date", date_filter);
    env
}

/// The error for minijinja's `err` while parsing or rendering `part` (from `source`).
fn invalid(
    id: &str,
    locale: &str,
    part: Part,
    source: &str,
    err: &minijinja::Error,
) -> TemplateError {
    let snippet = err
        .range()
        .and_then(|r| source.get(r))
        .filter(|s| !s.is_empty());
    let reason = match (err.kind(), snippet) {
        (ErrorKind::OutOfFuel, _) => {
            "the template does too much work (out of fuel): an endless or very long loop?"
                .to_owned()
        }
        (ErrorKind::UndefinedError, Some(s)) => format!("undefined variable in `{s}`"),
        (kind, snippet) => {
            let mut reason = match err.detail() {
                Some(detail) => format!("{kind}: {detail}"),
                None => kind.to_string(),
            };
            if let Some(s) = snippet {
                reason.push_str(&format!(" (in `{s}`)"));
            }
            reason
        }
    };
    TemplateError::Invalid {
        id: id.to_owned(),
        locale: locale.to_owned(),
        part,
        line: err.line(),
        reason,
    }
}

fn check_id(id: &str) -> Result<(), TemplateError> {
    let reason = if id.is_empty() {
        "empty"
    } else if id.len() > dunlin_core::decision::MAX_LABEL {
        "longer than a notice's template id may be"
    } else if !id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        || id.starts_with('.')
    {
        "only a-z, 0-9, '-', '_' and '.' (not first) are allowed"
    } else {
        return Ok(());
    };
    Err(TemplateError::BadId {
        id: id.to_owned(),
        reason,
    })
}

/// `{{ vars["collections-on"] | date }}`: an ISO date (as policies send them in `vars`)
/// written as the template's locale writes dates.
fn date_filter(state: &State, iso: &str) -> Result<String, minijinja::Error> {
    let bad = |why: String| minijinja::Error::new(ErrorKind::InvalidOperation, why);
    let date = iso.parse::<dunlin_core::Date>().map_err(|_| {
        bad(format!(
            "date filter: {iso:?} is not a date like 2026-03-15"
        ))
    })?;
    let locale = state
        .lookup("locale")
        .and_then(|v| v.as_str().map(str::to_owned))
        .ok_or_else(|| bad("date filter: no locale".to_owned()))?;
    let format = LocaleFormat::new(&locale).map_err(|e| bad(e.to_string()))?;
    format.date(date).map_err(|e| bad(e.to_string()))
}

/// One line: whatever a variable brings, a subject cannot add a header.
fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Collects the output and fails the write that would take it over `limit`, which stops the
/// render there rather than after the whole text is built.
struct CappedWriter {
    buf: Vec<u8>,
    limit: usize,
    over: bool,
}

impl io::Write for CappedWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.buf.len() + bytes.len() > self.limit {
            self.over = true;
            return Err(io::Error::other("output over the limit"));
        }
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
