//! The error-leak catalogue: the built-in pattern list (stack traces, SQL,
//! server file paths, framework debug pages) and its groups, which a probe
//! file can leave out. The list is documented in docs/probe-files.md; probe
//! files add their own patterns. Shared by the compiler (`ignore:` groups)
//! and the scans in `check::leaks`.

use regex::Regex;

/// A pattern whose match in an error response means it leaks internals.
#[derive(Clone, Debug)]
pub struct LeakPattern {
    pub name: String,
    pub re: Regex,
}

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
