//! What an error response must not carry: the built-in pattern list (stack
//! traces, SQL, server file paths, framework debug pages), grouped so a probe
//! file can leave a group out, and the scan of one body. The list is documented
//! in docs/probe-files.md; probe files add their own patterns.

use regex::Regex;

use crate::config::LeakPattern;
use crate::flow::CheckResult;

/// What a clean error response is, in verdicts.
pub const EXPECTED: &str = "no stack trace, SQL, file path or debug page";

/// (group, name, regex). Patterns are case-sensitive unless they say `(?i)`:
/// SQL keywords in upper case are what drivers echo, lower-case prose is not SQL.
pub const BUILTIN: &[(&str, &str, &str)] = &[
    // Stack traces.
    (
        "stack-trace",
        "python-traceback",
        r"Traceback \(most recent call last\)",
    ),
    ("stack-trace", "python-frame", r#"File "[^"\n]+", line \d+"#),
    (
        "stack-trace",
        "java-frame",
        r"\bat [\w$.]+\([\w$]+\.(?:java|kt|scala):\d+\)",
    ),
    (
        "stack-trace",
        "dotnet-frame",
        r"\bat [\w.`<>]+\(.*\) in .+:line \d+",
    ),
    (
        "stack-trace",
        "node-frame",
        r"\bat .+ \((?:/|[A-Za-z]:\\|file://)[^)\n]+\.(?:js|mjs|cjs|ts):\d+:\d+\)",
    ),
    ("stack-trace", "go-panic", r"goroutine \d+ \[running\]"),
    ("stack-trace", "ruby-frame", r"\.rb:\d+:in `"),
    (
        "stack-trace",
        "php-error",
        r"(?:Fatal error|Parse error|Uncaught \w+)(?:</b>)?:.* on line (?:<b>)?\d+",
    ),
    (
        "stack-trace",
        "exception-class",
        r"\b(?:java\.lang|System|org\.springframework|sqlalchemy\.exc|django\.\w+)\.[\w.]*(?:Exception|Error)\b",
    ),
    // SQL and database errors.
    ("sql", "sql-select", r"\bSELECT\b[^\n]+?\bFROM\b"),
    (
        "sql",
        "sql-write",
        r"\b(?:INSERT INTO|DELETE FROM|UPDATE \w+ SET)\b",
    ),
    (
        "sql",
        "db-error",
        r"(?i)(?:SQLSTATE\[|\bpsycopg2?\b|sqlalchemy\.exc|\bORA-\d{5}|syntax error at or near|You have an error in your SQL syntax|SQLITE_ERROR|\bpg_query\(|duplicate key value violates)",
    ),
    // Server file paths.
    (
        "file-path",
        "unix-source-path",
        r"(?:/(?:home|usr|var|opt|srv|app|root|src|workspace))(?:/[\w.\-]+)+\.(?:py|rb|php|java|js|ts|go|rs|cs|pl|conf|ini|env|yaml|yml)\b",
    ),
    // A Python `OSError` names the file it failed on: ContraVento's upload
    // answers `[Errno 13] Permission denied: 'storage/trip_photos/…'` when
    // its storage is read-only (a relative path, which no pattern above sees).
    (
        "file-path",
        "os-error-path",
        r"\[Errno \d+\] [^'\n]{1,80}: '[^'\n]+'",
    ),
    (
        "file-path",
        "windows-path",
        r"\b[A-Za-z]:\\(?:[\w .\-]+\\)+[\w .\-]+\.\w+\b",
    ),
    // Framework debug pages.
    (
        "debug-page",
        "werkzeug-debugger",
        r"Werkzeug Debugger|The debugger caught an exception",
    ),
    (
        "debug-page",
        "django-debug",
        r"You're seeing this error because you have <code>DEBUG = True</code>|Exception Value:",
    ),
    (
        "debug-page",
        "laravel-whoops",
        r"Whoops(?:, looks like something went wrong|! There was an error)",
    ),
    (
        "debug-page",
        "rails-debug",
        r"Action Controller: Exception caught",
    ),
    (
        "debug-page",
        "aspnet-yellow-screen",
        r"Server Error in '[^']*' Application",
    ),
    ("debug-page", "spring-whitelabel", r"Whitelabel Error Page"),
    (
        "debug-page",
        "express-stack",
        r"<pre>(?:Error|TypeError|ReferenceError): [^<]*<br> &nbsp; &nbsp;at ",
    ),
];

pub const GROUPS: [&str; 4] = ["stack-trace", "sql", "file-path", "debug-page"];

/// The built-in patterns minus the ignored groups (all compile: tested below).
pub fn builtin(ignore: &[String]) -> Vec<LeakPattern> {
    BUILTIN
        .iter()
        .filter(|(g, _, _)| !ignore.iter().any(|i| i == g))
        .filter_map(|(_, name, re)| {
            Regex::new(re).ok().map(|re| LeakPattern {
                name: (*name).to_string(),
                re,
            })
        })
        .collect()
}

/// The whole built-in list, compiled once per process: what every request
/// step's error response is scanned with (`error-leak`).
pub fn catalogue() -> &'static [LeakPattern] {
    static ALL: std::sync::OnceLock<Vec<LeakPattern>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| builtin(&[]))
}

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
