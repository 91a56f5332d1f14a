//! A tenant's templates, and which one serves a notice: the customer's locale, then less
//! specific forms of it, then the tenant's default locale.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use dunlin_store::TemplateRow;
use icu_locale_core::Locale;

use super::format::LocaleFormat;
use super::input::RenderInput;
use super::render::{Rendered, Template, TemplateSource};
use super::{Limits, Part, TemplateError};

/// A template rendered for a customer's locale ([`TemplateSet::preview`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    /// The template id.
    pub id: String,
    /// The locale of the template that served.
    pub locale: String,
    /// The locales tried, in order ([`fallback_chain`]).
    pub tried: Vec<String>,
    /// The three parts.
    pub rendered: Rendered,
}

/// The templates one tenant has: by id, then by canonical locale.
#[derive(Debug, Default)]
pub struct TemplateSet {
    templates: BTreeMap<String, BTreeMap<String, Template>>,
}

impl TemplateSet {
    /// An empty set.
    pub fn new() -> TemplateSet {
        TemplateSet::default()
    }

    /// Adds `template`, replacing the one with its id and locale if there was one.
    pub fn insert(&mut self, template: Template) -> Option<Template> {
        self.templates
            .entry(template.id().to_owned())
            .or_default()
            .insert(template.locale().to_owned(), template)
    }

    /// Every template, by id and then locale.
    pub fn iter(&self) -> impl Iterator<Item = &Template> {
        self.templates.values().flat_map(BTreeMap::values)
    }

    /// The ids that have at least one template.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.templates.keys().map(String::as_str)
    }

    /// The template with exactly this id and (canonical) locale.
    pub fn get(&self, id: &str, locale: &str) -> Option<&Template> {
        self.templates.get(id)?.get(locale)
    }

    /// The template for `id` in the first locale of [`fallback_chain`]`(locale,
    /// default_locale)` that has one; a miss names the id and every locale tried.
    pub fn resolve(
        &self,
        id: &str,
        locale: &str,
        default_locale: &str,
    ) -> Result<&Template, TemplateError> {
        let tried = fallback_chain(locale, default_locale);
        let found = self
            .templates
            .get(id)
            .and_then(|by_locale| tried.iter().find_map(|l| by_locale.get(l)));
        found.ok_or_else(|| TemplateError::NotFound {
            id: id.to_owned(),
            tried,
        })
    }

    /// Renders template `id` for `input`. Amounts and dates are formatted for the customer's
    /// locale when the template is in the customer's language (a `fi` template for a
    /// `fi-FI` customer), else for the template's locale, so a fallback letter does not
    /// mix one language's words with another's number formats.
    pub fn render(
        &self,
        id: &str,
        default_locale: &str,
        input: &RenderInput,
    ) -> Result<Rendered, TemplateError> {
        let template = self.resolve(id, &input.locale, default_locale)?;
        let format_locale = match (
            Locale::try_from_str(&input.locale),
            Locale::try_from_str(template.locale()),
        ) {
            (Ok(customer), Ok(own)) if customer.id.language == own.id.language => {
                input.locale.as_str()
            }
            _ => template.locale(),
        };
        template.render_with(input, &LocaleFormat::new(format_locale)?)
    }

    /// Renders template `id` as [`TemplateSet::render`] does, and says which template served
    /// and which locales were tried: what a tenant previews before a notice goes out.
    pub fn preview(
        &self,
        id: &str,
        default_locale: &str,
        input: &RenderInput,
    ) -> Result<Preview, TemplateError> {
        let template = self.resolve(id, &input.locale, default_locale)?;
        Ok(Preview {
            id: template.id().to_owned(),
            locale: template.locale().to_owned(),
            tried: fallback_chain(&input.locale, default_locale),
            rendered: self.render(id, default_locale, input)?,
        })
    }

    /// The set a tenant's stored templates make, each parsed within `limits` as at upload.
    pub fn from_rows(rows: &[TemplateRow], limits: Limits) -> Result<TemplateSet, TemplateError> {
        let mut set = TemplateSet::new();
        for row in rows {
            let source = TemplateSource {
                subject: row.subject.clone(),
                text: row.text.clone(),
                html: row.html.clone(),
            };
            set.insert(Template::new(&row.id, &row.locale, source, limits)?);
        }
        Ok(set)
    }

    /// Reads a template directory: `<locale>/<template-id>.{subject,txt,html}`, all three
    /// parts of every template present. Each template is parsed, not yet checked.
    pub fn from_dir(dir: &Path, limits: Limits) -> Result<TemplateSet, TemplateError> {
        let read_err = |path: &Path| {
            let path = path.to_owned();
            move |source| TemplateError::Read { path, source }
        };
        let mut set = TemplateSet::new();
        for entry in fs::read_dir(dir).map_err(read_err(dir))? {
            let locale_dir = entry.map_err(read_err(dir))?.path();
            if !locale_dir.is_dir() {
                continue;
            }
            let locale = locale_dir.file_name().unwrap_or_default().to_string_lossy();
            let mut ids = Vec::new();
            for file in fs::read_dir(&locale_dir).map_err(read_err(&locale_dir))? {
                let path = file.map_err(read_err(&locale_dir))?.path();
                if path.extension().is_some_and(|e| e == Part::Subject.name()) {
                    if let Some(stem) = path.file_stem() {
                        ids.push(stem.to_string_lossy().into_owned());
                    }
                }
            }
            for id in ids {
                let read = |part: Part| {
                    let path = locale_dir.join(format!("{id}.{}", part.name()));
                    fs::read_to_string(&path).map_err(read_err(&path))
                };
                let source = TemplateSource {
                    subject: read(Part::Subject)?,
                    text: read(Part::Text)?,
                    html: read(Part::Html)?,
                };
                set.insert(Template::new(&id, &locale, source, limits)?);
            }
        }
        Ok(set)
    }
}

impl From<&Template> for TemplateRow {
    /// The row that stores `template`: its id, canonical locale and sources.
    fn from(template: &Template) -> TemplateRow {
        let source = template.source();
        TemplateRow {
            id: template.id().to_owned(),
            locale: template.locale().to_owned(),
            subject: source.subject.clone(),
            text: source.text.clone(),
            html: source.html.clone(),
            updated_at: None,
        }
    }
}

/// The locales a notice for a customer in `locale` looks in, in order: the tag itself, then
/// with its variants, region and script dropped one by one (`fi-FI` → `fi`), then the same
/// for `default_locale`; each in canonical form, each once. A tag that does not parse is
/// skipped, so a customer with a malformed locale still gets the default.
pub fn fallback_chain(locale: &str, default_locale: &str) -> Vec<String> {
    let mut chain: Vec<String> = Vec::new();
    for tag in [locale, default_locale] {
        let Ok(parsed) = Locale::try_from_str(tag) else {
            continue;
        };
        let mut id = parsed.id;
        let mut forms = vec![id.to_string()];
        id.variants.clear();
        forms.push(id.to_string());
        id.region = None;
        forms.push(id.to_string());
        id.script = None;
        forms.push(id.to_string());
        for form in forms {
            if !chain.contains(&form) {
                chain.push(form);
            }
        }
    }
    chain
}
