//! Tenants' templates: limits, escaping, strict variables, the locale fallback chain and
//! CLDR formats.

use dunlin_core::{Currency, Date, Money};
use dunlin_delivery::template::{
    fallback_chain, Limits, LocaleFormat, Part, RenderInput, Template, TemplateError, TemplateSet,
    TemplateSource,
};

fn source(subject: &str, text: &str, html: &str) -> TemplateSource {
    TemplateSource {
        subject: subject.to_owned(),
        text: text.to_owned(),
        html: html.to_owned(),
    }
}

fn template(id: &str, locale: &str, text: &str) -> Result<Template, TemplateError> {
    Template::new(
        id,
        locale,
        source(
            "Invoice {{ invoice.number }}",
            text,
            "<p>{{ customer.name }}</p>",
        ),
        Limits::default(),
    )
}

/// A template whose three parts are `body`.
fn all_parts(body: &str) -> Result<Template, TemplateError> {
    Template::new("t", "en", source(body, body, body), Limits::default())
}

fn no_controls(message: &str) {
    assert!(
        !message.chars().any(|c| c.is_control()),
        "not one inert line: {message:?}"
    );
}

#[test]
fn an_endless_loop_runs_out_of_fuel() {
    let endless = "{% for a in range(10000) %}{% for b in range(10000) %}\
                   {% for c in range(10000) %}{% endfor %}{% endfor %}{% endfor %}";
    let t = template("loop", "en", endless).unwrap();
    // 10^12 iterations: only the fuel bound lets this test end.
    let err = t.check().unwrap_err();
    let TemplateError::Invalid { part, reason, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(*part, Part::Text);
    assert!(reason.contains("out of fuel"), "{err}");
}

#[test]
fn output_over_the_bound_is_refused() {
    let limits = Limits::default();
    let big = "{% for i in range(5000) %}{{ \"x\" * 100 }}{% endfor %}";
    let err = template("big", "en", big).unwrap().check().unwrap_err();
    assert!(
        matches!(err, TemplateError::OutputTooLarge { part: Part::Text, limit, .. }
            if limit == limits.output_bytes),
        "{err}"
    );
    // Just under the bound renders.
    let fits = format!("{{{{ \"x\" * {} }}}}", limits.output_bytes);
    let rendered = template("fits", "en", &fits).unwrap().check().unwrap();
    assert_eq!(rendered.text.len(), limits.output_bytes);
}

#[test]
fn a_source_over_the_size_bound_is_refused() {
    let limits = Limits::default();
    let long = "a".repeat(limits.source_bytes + 1);
    let err = Template::new("t", "en", source("s", "t", &long), limits).unwrap_err();
    assert!(
        matches!(err, TemplateError::SourceTooLarge { part: Part::Html, size, .. }
            if size == limits.source_bytes + 1),
        "{err}"
    );
    let exact = "a".repeat(limits.source_bytes);
    Template::new("t", "en", source("s", &exact, "h"), limits).unwrap();
}

#[test]
fn an_undefined_variable_is_refused_naming_it_and_its_line() {
    let text = "Dear {{ customer.name }},\n\nyou owe {{ invoice.amount }}.\n{{ customer.nmae }}\n";
    let err = template("typo", "en", text).unwrap().check().unwrap_err();
    let TemplateError::Invalid {
        part, line, reason, ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!((*part, *line), (Part::Text, Some(4)));
    assert!(reason.contains("customer.nmae"), "{reason}");
    let message = err.to_string();
    assert!(
        message.contains("\"typo\" (en), plain text, line 4"),
        "{message}"
    );
    // A missing `vars` key too, and an unknown top-level name.
    for body in ["{{ vars[\"no-such-var\"] }}", "{{ nobody }}"] {
        let err = all_parts(body).unwrap().check().unwrap_err();
        assert!(
            err.to_string()
                .contains(body.trim_start_matches("{{ ").trim_end_matches(" }}")),
            "{err}"
        );
    }
    // `is defined` is how a template tests for an optional variable.
    let optional = "{% if vars[\"decline-code\"] is defined %}{{ vars[\"decline-code\"] }}\
                    {% else %}none{% endif %}{% if vars.nope is defined %}!{% endif %}";
    assert_eq!(
        all_parts(optional).unwrap().check().unwrap().text,
        "insufficient_funds"
    );
}

#[test]
fn a_syntax_error_is_refused_at_parse_with_its_line() {
    let err = Template::new(
        "t",
        "de",
        source("ok", "line one\n{% if %}\n", "<p>ok</p>"),
        Limits::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            TemplateError::Invalid {
                part: Part::Text,
                line: Some(2),
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn html_is_escaped_in_the_html_part_and_plain_text_is_not() {
    let mut input = RenderInput::sample("en");
    input.customer.name = "<script>alert('x')</script> & Co".to_owned();
    let t = Template::new(
        "t",
        "en",
        source(
            "For {{ customer.name }}",
            "Dear {{ customer.name }}",
            "<p>Dear {{ customer.name }}</p>",
        ),
        Limits::default(),
    )
    .unwrap();
    let out = t.render(&input).unwrap();
    assert_eq!(
        out.html,
        "<p>Dear &lt;script&gt;alert(&#x27;x&#x27;)&lt;&#x2f;script&gt; &amp; Co</p>"
    );
    assert_eq!(out.text, "Dear <script>alert('x')</script> & Co");
    assert_eq!(out.subject, "For <script>alert('x')</script> & Co");
}

#[test]
fn no_part_can_include_another_or_a_file() {
    for body in [
        "{% include \"txt\" %}",
        "{% include \"/etc/passwd\" %}",
        "{% import \"subject\" as s %}",
    ] {
        let t = Template::new("t", "en", source("s", "t", body), Limits::default()).unwrap();
        let err = t.check().unwrap_err();
        assert!(
            matches!(
                err,
                TemplateError::Invalid {
                    part: Part::Html,
                    ..
                }
            ),
            "{err}"
        );
    }
    let recursive = "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}";
    let err = all_parts(recursive).unwrap().check().unwrap_err();
    assert!(matches!(err, TemplateError::Invalid { .. }), "{err}");
}

#[test]
fn the_subject_is_one_line_whatever_a_variable_holds() {
    let mut input = RenderInput::sample("en");
    input.customer.name = "Alex\r\nBcc: victim@example.com\t\u{1b}[31m".to_owned();
    let t = Template::new(
        "t",
        "en",
        source("\n  Reminder for {{ customer.name }}  \n", "", ""),
        Limits::default(),
    )
    .unwrap();
    assert_eq!(
        t.render(&input).unwrap().subject,
        "Reminder for Alex Bcc: victim@example.com [31m"
    );
}

#[test]
fn errors_quoting_tenant_text_are_one_inert_line() {
    let err = all_parts("{{ customer[\"\u{1b}[2J\u{202e}\"] }}")
        .unwrap()
        .check()
        .unwrap_err();
    no_controls(&err.to_string());
    assert!(err.to_string().contains("\\u{1b}[2J\\u{202e}"), "{err}");
    let err = Template::new(
        "bad\nid",
        "en",
        TemplateSource::default(),
        Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(err, TemplateError::BadId { .. }), "{err}");
    no_controls(&err.to_string());
    let err = Template::new(
        "t",
        "not a\nlocale",
        TemplateSource::default(),
        Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(err, TemplateError::BadLocale { .. }), "{err}");
    no_controls(&err.to_string());
}

#[test]
fn the_fallback_chain_goes_from_the_region_to_the_language_to_the_default() {
    assert_eq!(fallback_chain("fi-FI", "en"), ["fi-FI", "fi", "en"]);
    assert_eq!(fallback_chain("fi", "en-GB"), ["fi", "en-GB", "en"]);
    assert_eq!(
        fallback_chain("sr-Latn-RS", "en"),
        ["sr-Latn-RS", "sr-Latn", "sr", "en"]
    );
    assert_eq!(fallback_chain("EN-us", "en"), ["en-US", "en"]);
    assert_eq!(fallback_chain("not a tag", "de"), ["de"]);

    let mut set = TemplateSet::new();
    for (locale, text) in [
        ("fi", "suomeksi"),
        ("en", "in English"),
        ("de-AT", "auf Österreichisch"),
    ] {
        set.insert(template("reminder", locale, text).unwrap());
    }
    let text_for = |locale: &str, default: &str| {
        let mut input = RenderInput::sample(locale);
        input.locale = locale.to_owned();
        set.render("reminder", default, &input).map(|r| r.text)
    };
    assert_eq!(text_for("fi-FI", "en").unwrap(), "suomeksi");
    assert_eq!(text_for("fi", "en").unwrap(), "suomeksi");
    assert_eq!(text_for("de-AT", "en").unwrap(), "auf Österreichisch");
    assert_eq!(text_for("de-DE", "en").unwrap(), "in English");
    assert_eq!(text_for("sv-SE", "en").unwrap(), "in English");

    let err = text_for("sv-SE", "nb").unwrap_err();
    let TemplateError::NotFound { id, tried } = &err else {
        panic!("{err}");
    };
    assert_eq!(id, "reminder");
    assert_eq!(tried, &["sv-SE", "sv", "nb"]);
    assert_eq!(
        err.to_string(),
        "no template \"reminder\" in any of the locales tried (sv-SE, sv, nb)"
    );
    assert!(matches!(
        set.resolve("no-such-id", "fi", "en"),
        Err(TemplateError::NotFound { .. })
    ));
}

#[test]
fn values_are_formatted_for_the_customer_in_its_language_else_for_the_template() {
    let text = "{{ invoice.amount }} | {{ invoice.due_on }} | {{ locale }}";
    let mut set = TemplateSet::new();
    set.insert(template("r", "fi", text).unwrap());
    set.insert(template("r", "en", text).unwrap());
    let mut input = RenderInput::sample("fi-FI");
    assert_eq!(
        set.render("r", "en", &input).unwrap().text,
        "1\u{a0}234,56\u{a0}€ | 1. maaliskuuta 2026 | fi-FI"
    );
    // A German customer gets the English fallback, formatted as English.
    input.locale = "de-DE".to_owned();
    assert_eq!(
        set.render("r", "en", &input).unwrap().text,
        "€1,234.56 | March 1, 2026 | en"
    );
}

#[test]
fn raw_values_sit_beside_the_formatted_ones() {
    let text = "{{ invoice.number }} {{ invoice.currency }} {{ invoice.amount_minor }} \
                {{ invoice.open_balance_minor }} {{ invoice.issued_on_iso }} \
                {{ invoice.due_on_iso }} {{ days_overdue }} {{ invoice.days_overdue }} \
                {{ today_iso }} {{ customer.id }} {{ customer.email }} {{ sender }}\n\
                {% for i in other_invoices %}{{ i.number }} {{ i.open_balance }} \
                {{ i.days_overdue }}{% endfor %}\n\
                {{ payment_link }} {{ unsubscribe_link }} {{ vars[\"collections-on\"] | date }}";
    let out = template("r", "de", text).unwrap().check().unwrap();
    assert_eq!(
        out.text,
        "INV-2026-0042 EUR 123456 98765 2026-02-01 2026-03-01 14 14 2026-03-15 cust-1001 \
         alex@example.com Example Oy\n\
         INV-2026-0031 390,00\u{a0}€ 29\n\
         https://pay.example.com/i/INV-2026-0042 https://example.com/unsubscribe/cust-1001 \
         14. April 2026"
    );
    let err = template("r", "de", "{{ \"soon\" | date }}")
        .unwrap()
        .check()
        .unwrap_err();
    assert!(err.to_string().contains("not a date"), "{err}");
}

/// What CLDR (via ICU4X) gives for 1,234.56 EUR, −0.05 EUR, 1,234,567.89 SEK and 1,234 JPY,
/// and for 5 March 2026. CLDR separates groups and the symbol with no-break spaces
/// (U+00A0) and writes the minus as U+2212 in Finnish, Swedish and Norwegian.
#[test]
fn amounts_and_dates_are_written_as_cldr_writes_them_per_locale() {
    let sek = Currency::new("SEK").unwrap();
    let jpy = Currency::new("JPY").unwrap();
    let cases = [
        (
            "de",
            [
                "1.234,56\u{a0}€",
                "-0,05\u{a0}€",
                "1.234.567,89\u{a0}SEK",
                "1.234\u{a0}¥",
            ],
            "5. März 2026",
        ),
        (
            "fi",
            [
                "1\u{a0}234,56\u{a0}€",
                "−0,05\u{a0}€",
                "1\u{a0}234\u{a0}567,89\u{a0}SEK",
                "1\u{a0}234\u{a0}¥",
            ],
            "5. maaliskuuta 2026",
        ),
        (
            "en",
            ["€1,234.56", "-€0.05", "SEK\u{a0}1,234,567.89", "¥1,234"],
            "March 5, 2026",
        ),
        (
            "en-GB",
            ["€1,234.56", "-€0.05", "SEK\u{a0}1,234,567.89", "JP¥1,234"],
            "5 March 2026",
        ),
        (
            "sv",
            [
                "1\u{a0}234,56\u{a0}€",
                "−0,05\u{a0}€",
                "1\u{a0}234\u{a0}567,89\u{a0}kr",
                "1\u{a0}234\u{a0}JP¥",
            ],
            "5 mars 2026",
        ),
        (
            "nb",
            [
                "1\u{a0}234,56\u{a0}€",
                "−0,05\u{a0}€",
                "1\u{a0}234\u{a0}567,89\u{a0}SEK",
                "1\u{a0}234\u{a0}JP¥",
            ],
            "5. mars 2026",
        ),
        (
            "ru",
            [
                "1\u{a0}234,56\u{a0}€",
                "-0,05\u{a0}€",
                "1\u{a0}234\u{a0}567,89\u{a0}SEK",
                "1\u{a0}234\u{a0}¥",
            ],
            "5 марта 2026\u{202f}г.",
        ),
    ];
    let amounts = [
        Money::new(123_456, Currency::EUR),
        Money::new(-5, Currency::EUR),
        Money::new(123_456_789, sek),
        Money::new(1_234, jpy),
    ];
    for (locale, expected, date) in cases {
        let format = LocaleFormat::new(locale).unwrap();
        for (money, want) in amounts.iter().zip(expected) {
            assert_eq!(format.money(*money).unwrap(), want, "{locale} {money}");
        }
        let day = Date::from_ymd_opt(2026, 3, 5).unwrap();
        assert_eq!(format.date(day).unwrap(), date, "{locale}");
    }
}

#[test]
fn stored_rows_make_the_same_set_as_the_templates_they_came_from() {
    let fi = template("reminder", "fi-fi", "Hei {{ customer.name }}").unwrap();
    let en = template("reminder", "en", "Hello {{ customer.name }}").unwrap();
    let rows: Vec<dunlin_store::TemplateRow> = [&fi, &en].map(Into::into).to_vec();
    assert_eq!(rows[0].locale, "fi-FI", "stored in canonical form");
    assert_eq!(rows[0].text, "Hei {{ customer.name }}");
    let set = TemplateSet::from_rows(&rows, Limits::default()).unwrap();
    let input = RenderInput::sample("fi-FI");
    assert!(set
        .render("reminder", "en", &input)
        .unwrap()
        .text
        .starts_with("Hei "));
    let sv = RenderInput::sample("sv");
    assert!(set
        .render("reminder", "en", &sv)
        .unwrap()
        .text
        .starts_with("Hello "));

    let broken = dunlin_store::TemplateRow {
        text: "{% if %}".into(),
        ..rows[1].clone()
    };
    let err = TemplateSet::from_rows(&[broken], Limits::default()).unwrap_err();
    assert!(
        matches!(
            err,
            TemplateError::Invalid {
                part: Part::Text,
                line: Some(1),
                ..
            }
        ),
        "{err}"
    );
}
