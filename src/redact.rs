//! Redaction of secret values from everything the probe prints or writes.
//!
//! Secrets are known by value: those resolved when the plan was compiled
//! (`${env:…}`/`${file:…}` secrets, secret variables) and those captured during a
//! run (`secret: true` captures). Any output string goes through [`Redactor::redact`]
//! before it leaves the runner, so reports, logs and pages only ever see `***`.
//!
//! Text shown in reports is often shortened (`…` marks the cut), and a cut can
//! fall inside a secret, leaving a part of it that a whole-value search cannot
//! find: so the part of a secret that ends right before a `…` or starts right
//! after one is redacted too.

/// Values shorter than this are not redacted: replacing every "ab" in a report
/// would destroy it without protecting anything. `check` warns about them.
pub const MIN_SECRET_LEN: usize = 4;

/// The mark shortened text carries where it was cut.
pub const CUT_MARK: &str = "…";

/// The shortest part of a secret, next to a [`CUT_MARK`], that is redacted: a
/// cut may still show up to two characters of a secret, but a report whose
/// shortened lines lose every letter that happens to begin a secret would be
/// worse than useless.
const MIN_PARTIAL_LEN: usize = 3;

use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};

/// Strict: everything but the unreserved characters (RFC 3986 §2.3).
const STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Minimal, as in a path segment: controls, space, non-ASCII and these.
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'%')
    .add(b'/');

/// As the `url` crate writes a URL's user name or password.
const USERINFO: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b':')
    .add(b';')
    .add(b'=')
    .add(b'@')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'|');

#[derive(Clone, Debug, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut r = Redactor::default();
        for s in secrets {
            r.add(s);
        }
        r
    }

    /// Adds a secret value (and its JSON-escaped and URL-encoded forms, which is how
    /// it shows up when a target echoes it back inside a body or a URL).
    pub fn add(&mut self, s: String) {
        if s.len() < MIN_SECRET_LEN {
            return;
        }
        let json = serde_json::to_string(&s)
            .map(|q| q[1..q.len() - 1].to_string())
            .unwrap_or_default();
        // Every way a value gets percent-encoded on its way into a URL: strict
        // (unreserved only), form (`+` for space), and minimal (path segments).
        let forms = [
            json,
            utf8_percent_encode(&s, STRICT).to_string(),
            url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>(),
            utf8_percent_encode(&s, PATH).to_string(),
            // As a URL's user name or password (`https://user:${password}@host`).
            utf8_percent_encode(&s, USERINFO).to_string(),
        ];
        for v in std::iter::once(s).chain(forms) {
            if v.len() >= MIN_SECRET_LEN && !self.secrets.contains(&v) {
                self.secrets.push(v);
            }
        }
        // Longest first, so a secret that contains another is replaced whole.
        self.secrets.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = hide_url_passwords(text).into_owned();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        if out.contains(CUT_MARK) && !self.secrets.is_empty() {
            out = self.redact_cut_parts(&out);
        }
        out
    }

    /// Redacts the head of a secret right before a cut mark and the tail of
    /// one right after a cut mark (what shortening left of a secret).
    fn redact_cut_parts(&self, text: &str) -> String {
        let pieces: Vec<&str> = text.split(CUT_MARK).collect();
        let last = pieces.len() - 1;
        let mut out = Vec::with_capacity(pieces.len());
        for (i, piece) in pieces.iter().enumerate() {
            // After a mark: the piece may start with the tail of a secret.
            let lead = if i > 0 { self.partial(piece, false) } else { 0 };
            // Before a mark: the piece may end with the head of a secret.
            let trail = if i < last {
                self.partial(piece, true)
            } else {
                0
            };
            out.push(if lead == 0 && trail == 0 {
                (*piece).to_string()
            } else if lead + trail >= piece.len() {
                "***".to_string()
            } else {
                let mid = &piece[lead..piece.len() - trail];
                format!(
                    "{}{mid}{}",
                    if lead > 0 { "***" } else { "" },
                    if trail > 0 { "***" } else { "" }
                )
            });
        }
        out.join(CUT_MARK)
    }

    /// Length in bytes of the longest proper head of a secret that `piece`
    /// ends with (`head`), or of the longest proper tail of a secret that it
    /// starts with; 0 when none of at least [`MIN_PARTIAL_LEN`] characters.
    fn partial(&self, piece: &str, head: bool) -> usize {
        let mut best = 0;
        for s in &self.secrets {
            let cuts = s.char_indices().map(|(i, _)| i).skip(1);
            for at in cuts {
                let part = if head { &s[..at] } else { &s[at..] };
                if part.len() <= best || part.chars().count() < MIN_PARTIAL_LEN {
                    continue;
                }
                let found = if head {
                    piece.ends_with(part)
                } else {
                    piece.starts_with(part)
                };
                if found {
                    best = part.len();
                }
            }
        }
        best
    }
}

/// A password in a URL (`scheme://user:password@host`) is a credential
/// whether or not the probe file said so: shown as `***`.
fn hide_url_passwords(text: &str) -> std::borrow::Cow<'_, str> {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    // No userinfo possible without both: the common case, without a regex.
    if !text.contains('@') || !text.contains("://") {
        return std::borrow::Cow::Borrowed(text);
    }
    let re = RE.get_or_init(|| {
        regex::Regex::new(r"([A-Za-z][A-Za-z0-9+.\-]*://[^/?#@\s:]*:)[^/?#@\s]+@")
            .expect("a valid regex")
    });
    re.replace_all(text, "${1}***@")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_plain_escaped_and_encoded_forms() {
        let r = Redactor::new(["p\"ss word!".to_string(), "abc".to_string()]);
        assert_eq!(r.redact("x p\"ss word! y"), "x *** y");
        assert_eq!(r.redact(r#"{"pw":"p\"ss word!"}"#), r#"{"pw":"***"}"#);
        assert_eq!(r.redact("?pw=p%22ss%20word%21"), "?pw=***");
        assert_eq!(r.redact("?pw=p%22ss+word%21"), "?pw=***");
        assert_eq!(r.redact("/u/p%22ss%20word!/x"), "/u/***/x");
        let r = Redactor::new(["my secret*pw~".to_string()]);
        assert_eq!(r.redact("?pw=my+secret*pw%7E"), "?pw=***");
        // As a URL's user name.
        let r = Redactor::new(["us:er@x!".to_string()]);
        assert_eq!(r.redact("https://us%3Aer%40x!@h/"), "https://***@h/");
        // Too short to redact safely.
        assert_eq!(r.redact("abc"), "abc");
    }

    #[test]
    fn hides_every_password_in_a_url() {
        let r = Redactor::default();
        assert_eq!(
            r.redact("GET https://probe:hunter2%21@example.test:8443/x?y=1 failed"),
            "GET https://probe:***@example.test:8443/x?y=1 failed"
        );
        assert_eq!(
            r.redact("http://:p@h/ and ftp://u:p@h"),
            "http://:***@h/ and ftp://u:***@h"
        );
        // A port is not a password; a user name alone stays.
        for same in ["https://h:8443/a@b", "https://user@h/", "mailto:a@b"] {
            assert_eq!(r.redact(same), same);
        }
    }

    #[test]
    fn redacts_what_a_cut_left_of_a_secret() {
        let r = Redactor::new(["Tok3nSecretValue".to_string(), "p\"w d!".to_string()]);
        // Shortened right inside the secret: its head before the mark goes.
        assert_eq!(r.redact("body: {\"t\":\"Tok3nSe…"), "body: {\"t\":\"***…");
        // A window that starts inside it: its tail after the mark goes.
        assert_eq!(
            r.redact("found: …cretValue and more"),
            "found: …*** and more"
        );
        // Both sides of an elided middle, and a piece that is all secret.
        assert_eq!(r.redact("Tok3n…Value"), "***…***");
        assert_eq!(r.redact("a …Tok3nSecretVal… b"), "a …***… b");
        // Encoded forms are secrets too, so their parts are as well.
        assert_eq!(r.redact("?pw=p%22w%20…"), "?pw=***…");
        // Two characters are left alone; so is text that merely precedes a mark.
        assert_eq!(r.redact("xTo…"), "xTo…");
        assert_eq!(r.redact("xTok…"), "x***…");
        assert_eq!(r.redact("ok…"), "ok…");
        assert_eq!(r.redact("unrelated text…"), "unrelated text…");
    }
}
