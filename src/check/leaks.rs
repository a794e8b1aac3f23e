//! What an error response must not carry: the built-in pattern list (stack
//! traces, SQL, server file paths, framework debug pages), grouped so a probe
//! file can leave a group out, and the scan of one body. The list is documented
//! in docs/probe-files.md; probe files add their own patterns.

use crate::outcome::CheckResult;
pub use crate::vocab::leaks::{BUILTIN, EXPECTED, GROUPS, LeakPattern, builtin, catalogue};

/// The verdict of `rule` on one error response body: every pattern that
/// matched, with the text it matched, or `none`.
pub fn verdict(rule: &str, body: &[u8], patterns: &[LeakPattern]) -> CheckResult {
    let hits = scan(&String::from_utf8_lossy(body), patterns);
    let actual = if hits.is_empty() {
        "none".to_string()
    } else {
        hits.iter()
            .map(|(n, t)| format!("{n} `{t}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    CheckResult::new(rule, hits.is_empty(), EXPECTED, actual)
}

/// Every pattern that matches, with the text it matched (at most 80 chars).
pub fn scan(body: &str, patterns: &[LeakPattern]) -> Vec<(String, String)> {
    patterns
        .iter()
        .filter_map(|p| {
            p.re.find(body).map(|m| {
                let text: String = m
                    .as_str()
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .take(80)
                    .collect();
                (p.name.clone(), text)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    fn hits(body: &str) -> Vec<String> {
        scan(body, &builtin(&[]))
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    #[test]
    fn every_builtin_pattern_compiles() {
        for (_, name, re) in BUILTIN {
            assert!(Regex::new(re).is_ok(), "{name}: {:?}", Regex::new(re).err());
        }
        assert_eq!(builtin(&[]).len(), BUILTIN.len());
        for (g, _, _) in BUILTIN {
            assert!(GROUPS.contains(g), "{g}");
        }
    }

    #[test]
    fn leaks_are_found() {
        let py = "Traceback (most recent call last):\n  File \"/app/src/api/trips.py\", line 42, in create\n sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) SELECT trips.id FROM trips";
        let h = hits(py);
        for n in [
            "python-traceback",
            "python-frame",
            "exception-class",
            "sql-select",
            "db-error",
            "unix-source-path",
        ] {
            assert!(h.contains(&n.to_string()), "{n} in {h:?}");
        }
        assert!(hits("\tat com.example.Foo.bar(Foo.java:12)").contains(&"java-frame".into()));
        assert!(hits("goroutine 1 [running]:").contains(&"go-panic".into()));
        assert!(
            hits("    at Object.<anonymous> (/srv/app/index.js:10:5)")
                .contains(&"node-frame".into())
        );
        assert!(hits("<title>Werkzeug Debugger</title>").contains(&"werkzeug-debugger".into()));
        assert!(hits(r"C:\inetpub\wwwroot\app\web.config").contains(&"windows-path".into()));
        let upload = r#"{"success":false,"data":null,"error":{"code":"FORBIDDEN","message":"[Errno 13] Permission denied: 'storage/trip_photos/2026/12/c2fc34e3/91aea2c5_optimized.jpg'"}}"#;
        assert_eq!(hits(upload), ["os-error-path"]);
    }

    #[test]
    fn ordinary_error_bodies_are_clean() {
        for body in [
            r#"{"detail":"Not Found"}"#,
            r#"{"detail":"Method Not Allowed"}"#,
            r#"{"success":false,"data":null,"error":{"code":"VALIDATION_ERROR","message":"Error de validación en el campo 'login': Field required","field":"login"}}"#,
            "<html><head><title>404 Not Found</title></head><body><center><h1>404 Not Found</h1></center><hr><center>nginx</center></body></html>",
            "Select a photo from your library",
            r#"{"photo_url":"/storage/trip_photos/2026/11/abc_optimized.jpg"}"#,
        ] {
            assert!(hits(body).is_empty(), "{body}: {:?}", hits(body));
        }
    }

    #[test]
    fn groups_can_be_ignored() {
        let ps = builtin(&["sql".to_string()]);
        assert!(scan("SELECT a FROM b", &ps).is_empty());
    }
}
