//! Text from tenants' policies is untrusted: these helpers bound it and keep it inert
//! wherever the host stores, prints or logs it.
//!
//! A policy's segment, reasons, refusals and captured output reach terminals, log files and
//! line-oriented tools. Printed raw, a newline forges a row, a carriage return overwrites
//! one, an escape sequence drives the terminal and a bidirectional override reorders what a
//! reader sees. [`Escaped`] writes such text as one inert line; [`truncate`] bounds it.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

/// Whether `c` is a control character: C0 (U+0000..=U+001F, tab, newline, carriage return
/// and escape included), DEL (U+007F) or C1 (U+0080..=U+009F).
pub fn is_control(c: char) -> bool {
    c.is_control()
}

/// Whether `c` is a Unicode bidirectional embedding, override or isolate
/// (U+202A..=U+202E, U+2066..=U+2069): invisible, but they reorder the text around them.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Displays a string with every control character, bidirectional control and backslash
/// escaped, so that it is one line and does nothing to a terminal or a log reader.
///
/// `\n`, `\t` and `\r` become `\\n`, `\\t` and `\\r`; a backslash becomes `\\\\` (so an
/// escape in the output always means an escaped character, never the policy's own
/// backslash); other such characters become `\u{1b}` style. Everything else is written as
/// is. Width and alignment (`{:<12}`) apply to the escaped text.
///
/// ```
/// use dunlin_core::text::Escaped;
/// assert_eq!(Escaped("a\nb\x1b[31m").to_string(), r"a\nb\u{1b}[31m");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Escaped<'a>(pub &'a str);

impl Escaped<'_> {
    fn write_to(&self, out: &mut impl fmt::Write) -> fmt::Result {
        let s = self.0;
        let mut plain = 0;
        for (i, c) in s.char_indices() {
            let escape = match c {
                '\n' => Some(Cow::Borrowed("\\n")),
                '\t' => Some(Cow::Borrowed("\\t")),
                '\r' => Some(Cow::Borrowed("\\r")),
                '\\' => Some(Cow::Borrowed("\\\\")),
                c if is_control(c) || is_bidi_control(c) => {
                    Some(Cow::Owned(format!("\\u{{{:x}}}", u32::from(c))))
                }
                _ => None,
            };
            if let Some(escape) = escape {
                out.write_str(&s[plain..i])?;
                out.write_str(&escape)?;
                plain = i + c.len_utf8();
            }
        }
        out.write_str(&s[plain..])
    }
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.width().is_none() && f.precision().is_none() {
            return self.write_to(f);
        }
        // Padding counts the characters shown, so it needs the escaped text first.
        let mut escaped = String::with_capacity(self.0.len());
        self.write_to(&mut escaped)?;
        f.pad(&escaped)
    }
}

/// `s` cut to at most `max_bytes` bytes at a character boundary, with a marker saying how
/// much was cut (`… [N more bytes]`); `s` itself when it fits.
pub fn truncate(s: &str, max_bytes: usize) -> Cow<'_, str> {
    if s.len() <= max_bytes {
        return Cow::Borrowed(s);
    }
    let mut end = max_bytes;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut cut = String::with_capacity(end + 24);
    cut.push_str(&s[..end]);
    // Writing to a String cannot fail.
    let _ = write!(cut, "… [{} more bytes]", s.len() - end);
    Cow::Owned(cut)
}

/// How a message names a value someone sent: cut to `max_bytes` ([`truncate`]), escaped
/// ([`Escaped`]) and in double quotes, so a hostile value stays one short inert line.
pub fn quoted(s: &str, max_bytes: usize) -> String {
    format!("\"{}\"", Escaped(&truncate(s, max_bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_text_is_one_inert_line() {
        let cases = [
            ("plain text, ünïcode ✓", "plain text, ünïcode ✓"),
            ("", ""),
            ("line one\nline two", r"line one\nline two"),
            ("a\tb", r"a\tb"),
            ("over\rwrite", r"over\rwrite"),
            ("red \x1b[31m", r"red \u{1b}[31m"),
            ("nul \0 bell \x07", r"nul \u{0} bell \u{7}"),
            ("del \x7f", r"del \u{7f}"),
            ("c1 \u{9b}2J", r"c1 \u{9b}2J"),
            ("\u{202e}desrever", r"\u{202e}desrever"),
            ("isolate \u{2066}x\u{2069}", r"isolate \u{2066}x\u{2069}"),
            // The policy's own backslash cannot pass for an escape.
            (r"not \n a newline", r"not \\n a newline"),
        ];
        for (raw, shown) in cases {
            let out = Escaped(raw).to_string();
            assert_eq!(out, shown, "{raw:?}");
            assert!(
                !out.chars().any(|c| is_control(c) || is_bidi_control(c)),
                "{out:?}"
            );
        }
    }

    #[test]
    fn escaped_text_pads_by_what_is_shown() {
        assert_eq!(format!("[{:<6}]", Escaped("a\nb")), r"[a\nb  ]");
        assert_eq!(format!("[{:>3}]", Escaped("a")), "[  a]");
    }

    #[test]
    fn controls_and_bidi_controls_are_told_apart_from_text() {
        for c in ['\0', '\t', '\n', '\r', '\x1b', '\x7f', '\u{80}', '\u{9f}'] {
            assert!(is_control(c), "{c:?}");
        }
        for c in ['\u{202a}', '\u{202e}', '\u{2066}', '\u{2069}'] {
            assert!(is_bidi_control(c) && !is_control(c), "{c:?}");
        }
        for c in ['a', ' ', '\u{a0}', 'é', '\u{2029}', '\u{202f}', '\u{2065}'] {
            assert!(!is_control(c) && !is_bidi_control(c), "{c:?}");
        }
    }

    #[test]
    fn truncate_cuts_at_a_char_boundary_and_says_how_much() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("exact", 5), "exact");
        assert_eq!(truncate("abcdef", 3), "abc… [3 more bytes]");
        assert_eq!(truncate("abc", 0), "… [3 more bytes]");
        // 'ä' is two bytes: a cut inside it moves back before it.
        assert_eq!(truncate("aäb", 2), "a… [3 more bytes]");
        assert!(matches!(truncate("short", 10), Cow::Borrowed(_)));
    }

    #[test]
    fn quoted_values_are_bounded_escaped_and_delimited() {
        assert_eq!(quoted("Mars/Olympus", 40), r#""Mars/Olympus""#);
        assert_eq!(quoted("a\0b\n", 40), r#""a\u{0}b\n""#);
        assert_eq!(quoted("abcdef", 3), r#""abc… [3 more bytes]""#);
    }
}
