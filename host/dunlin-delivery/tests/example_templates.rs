//! The reference tenant's templates in `examples/templates/`: every one renders, and every
//! template id the reference policies send has a template in every shipped locale.

use std::path::PathBuf;

use dunlin_delivery::template::{Limits, RenderInput, TemplateSet};

const LOCALES: [&str; 6] = ["en", "de", "fi", "sv", "nb", "ru"];

/// The template ids each reference policy sends (`policies/<name>/src`).
const POLICY_TEMPLATES: [(&str, &[&str]); 3] = [
    (
        "standard",
        &[
            "pre-due-reminder",
            "reminder-friendly",
            "reminder-firm",
            "final-notice",
        ],
    ),
    (
        "saas-card",
        &[
            "payment-failed",
            "update-card",
            "update-card-reminder",
            "update-payment-method",
            "update-payment-method-reminder",
            "payment-reminder",
            "payment-reminder-firm",
            "service-suspended",
        ],
    ),
    (
        "b2b-segmented",
        &[
            "courtesy-reminder",
            "statement-reminder",
            "reminder-call",
            "reminder-friendly",
            "reminder-neutral",
            "reminder-firm",
            "final-notice",
        ],
    ),
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn examples() -> TemplateSet {
    TemplateSet::from_dir(&repo().join("examples/templates"), Limits::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_shipped_template_renders() {
    let set = examples();
    let mut count = 0;
    for template in set.iter() {
        let rendered = template.check().unwrap_or_else(|e| panic!("{e}"));
        for (part, text) in [
            ("subject", &rendered.subject),
            ("text", &rendered.text),
            ("html", &rendered.html),
        ] {
            assert!(
                !text.trim().is_empty(),
                "{} {} {part}",
                template.id(),
                template.locale()
            );
        }
        // The links reach the letter (the HTML part escapes them: `/` is `&#x2f;`).
        let sample = RenderInput::sample(template.locale());
        let escaped = sample.payment_link.replace('/', "&#x2f;");
        assert!(
            rendered.text.contains(&sample.payment_link) && rendered.html.contains(&escaped),
            "{} {}: no payment link",
            template.id(),
            template.locale()
        );
        count += 1;
    }
    assert!(count >= LOCALES.len() * 16, "only {count} templates");
}

#[test]
fn every_reference_policy_template_exists_in_every_shipped_locale() {
    let set = examples();
    for (policy, ids) in POLICY_TEMPLATES {
        for id in ids {
            for locale in LOCALES {
                assert!(
                    set.get(id, locale).is_some(),
                    "{policy}: no template {id} in {locale}"
                );
            }
        }
    }
}

/// The table above is the policies' own: every id in it appears in the policy's source, and
/// every literal the policy passes to `.template(…)` or a ladder's `notify(…)` is in it.
#[test]
fn the_policy_template_table_matches_the_policies_sources() {
    for (policy, ids) in POLICY_TEMPLATES {
        let dir = repo().join("policies").join(policy).join("src");
        let mut source = String::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n != "tests.rs") {
                source.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
        for id in ids {
            assert!(
                source.contains(&format!("\"{id}\"")),
                "{policy}: {id} not in its source"
            );
        }
        // `.template("id")` in a notice builder, `notify(level, Tone::…, "id")` in a ladder.
        let literals = source.lines().filter_map(|line| {
            if let Some((_, rest)) = line.split_once(".template(\"") {
                rest.split('"').next()
            } else if line.contains("notify(") && line.contains("Tone::") {
                line.split('"').nth(1)
            } else {
                None
            }
        });
        for literal in literals {
            assert!(
                ids.contains(&literal),
                "{policy}: template {literal} is not in the table"
            );
        }
    }
}
