//! Text that came from an event, made safe to show and to paste. An event's ids, reasons and
//! names are written by whoever published it: printed raw, a control character moves the
//! terminal's cursor, sets its title or clipboard, or starts a fake log line; pasted into a
//! shell, a crafted id runs a command.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` changes how text around it is shown instead of being shown: the control
/// characters (C0, DEL, C1: escape sequences, line breaks, carriage returns), the bidirectional
/// formatting characters (which can make text read in another order than it runs) and the line
/// and paragraph separators.
pub fn is_hidden_control(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        || matches!(c, '\u{2028}' | '\u{2029}')
}

/// `text` with every [`is_hidden_control`] character written as a visible `\u{..}` escape, so
/// that it shows as one line of what it holds: for every value of an event a person reads.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden_control) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_hidden_control(c) {
            let _ = write!(shown, "\\u{{{:x}}}", u32::from(c));
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
}

/// `text` as one word of a POSIX shell command line: as it is when it holds only characters no
/// shell treats specially (letters, digits, `-`, `_`, `.`, `:`, `/`, `=`, `@`, `+`, `,`), else
/// in single quotes (a quote inside written `'\''`), its hidden controls made [`printable`]
/// first. A command built with it for an operator to paste runs that one word, nothing else.
pub fn shell_word(text: &str) -> Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.:/=@+,".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(format!("'{}'", printable(text).replace('\'', r"'\''")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_controls_are_shown_as_escapes_and_plain_text_is_untouched() {
        assert!(matches!(printable("workflow-1 ü €"), Cow::Borrowed(_)));
        assert_eq!(
            printable("id\u{1b}]52;c;cm0gLXJm\u{7}\r\nINFO forged"),
            "id\\u{1b}]52;c;cm0gLXJm\\u{7}\\u{d}\\u{a}INFO forged"
        );
        assert_eq!(printable("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(printable("\u{9b}31m"), "\\u{9b}31m");
    }

    #[test]
    fn a_shell_word_is_one_word_whatever_it_holds() {
        assert_eq!(shell_word("workflow-abc_1.2:3"), "workflow-abc_1.2:3");
        assert_eq!(shell_word("x; rm -rf ~"), "'x; rm -rf ~'");
        assert_eq!(shell_word("it's $(id)"), r"'it'\''s $(id)'");
        assert_eq!(shell_word("a\nb"), "'a\\u{a}b'");
        assert_eq!(shell_word(""), "''");
    }
}
