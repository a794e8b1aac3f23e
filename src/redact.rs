//! Redaction of secret values from everything the probe prints or writes.
//!
//! Secrets are known by value: those resolved when the plan was compiled
//! (`${env:…}`/`${file:…}` secrets, secret variables) and those captured during a
//! run (`secret: true` captures). Any output string goes through [`Redactor::redact`]
//! before it leaves the runner, so reports, logs and pages only ever see `***`.

/// Values shorter than this are not redacted: replacing every "ab" in a report
/// would destroy it without protecting anything. `check` warns about them.
pub const MIN_SECRET_LEN: usize = 4;

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
            url_encode(&s, |b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)),
            url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>(),
            url_encode(&s, |b| b.is_ascii_graphic() && !b"\"#<>?`{}%/".contains(&b)),
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
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

fn url_encode(s: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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
        // Too short to redact safely.
        assert_eq!(r.redact("abc"), "abc");
    }
}
