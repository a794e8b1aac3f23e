//! Security-header policy: the rules, the profiles that set each rule's level,
//! and the per-URL evaluation of a response's headers. Pure functions over a
//! `HeaderMap`: header values may be anything a target sends (non-UTF-8, huge,
//! repeated), so every value is read lossily and shortened before it is shown.

use http::header::HeaderMap;

use crate::flow::CheckResult;
pub use crate::vocab::headers::{HeaderRule, Level, PROFILES};

/// Reads every value of a header, lossily (a target may send any bytes).
fn values(h: &HeaderMap, name: &str) -> Vec<String> {
    h.get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
        .collect()
}

fn first(h: &HeaderMap, name: &str) -> Option<String> {
    values(h, name).into_iter().next()
}

/// A header value as shown in a report: one line, at most 100 characters.
fn show(v: &str) -> String {
    let flat: String = v
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > 100 {
        let cut: String = flat.chars().take(100).collect();
        format!("`{cut}…`")
    } else {
        format!("`{flat}`")
    }
}

/// HSTS directives: max-age (None when missing or unparseable), includeSubDomains, preload.
fn parse_hsts(v: &str) -> (Option<u64>, bool, bool) {
    let mut max_age = None;
    let (mut subs, mut preload) = (false, false);
    for d in v.split(';') {
        let d = d.trim();
        let (k, val) = d.split_once('=').unwrap_or((d, ""));
        match k.trim().to_ascii_lowercase().as_str() {
            "max-age" => max_age = val.trim().trim_matches('"').parse::<u64>().ok(),
            "includesubdomains" => subs = true,
            "preload" => preload = true,
            _ => {}
        }
    }
    (max_age, subs, preload)
}

/// CSP directive → its source list, for the enforced policies (all of them apply).
fn csp_directive(policies: &[String], name: &str) -> Option<Vec<String>> {
    let mut found: Option<Vec<String>> = None;
    for p in policies {
        for d in p.split(';') {
            let mut words = d.split_whitespace();
            if words.next().is_some_and(|w| w.eq_ignore_ascii_case(name)) {
                found
                    .get_or_insert_with(Vec::new)
                    .extend(words.map(|w| w.to_ascii_lowercase()));
            }
        }
    }
    found
}

/// One Set-Cookie: its name and lower-cased attribute names/values.
struct Cookie {
    name: String,
    secure: bool,
    http_only: bool,
    same_site: Option<String>,
}

fn parse_cookie(v: &str) -> Cookie {
    let mut parts = v.split(';');
    let name = parts
        .next()
        .and_then(|nv| nv.split_once('=').map(|(n, _)| n.trim().to_string()))
        .unwrap_or_else(|| "(unnamed)".into());
    let mut c = Cookie {
        name,
        secure: false,
        http_only: false,
        same_site: None,
    };
    for a in parts {
        let (k, val) = a.split_once('=').unwrap_or((a, ""));
        match k.trim().to_ascii_lowercase().as_str() {
            "secure" => c.secure = true,
            "httponly" => c.http_only = true,
            "samesite" => c.same_site = Some(val.trim().to_ascii_lowercase()),
            _ => {}
        }
    }
    c
}

/// Applies every rule not switched off to one response's headers; `on` names
/// the URL in the results.
pub fn evaluate(
    h: &HeaderMap,
    on: &str,
    rules: &[(HeaderRule, Level)],
    hsts_min: u64,
) -> Vec<CheckResult> {
    let mut out = Vec::new();
    let hsts = first(h, "strict-transport-security");
    let parsed_hsts = hsts.as_deref().map(parse_hsts);
    let csp = values(h, "content-security-policy");
    let cookies: Vec<Cookie> = values(h, "set-cookie")
        .iter()
        .map(|v| parse_cookie(v))
        .collect();
    for &(rule, level) in rules {
        if level == Level::Off {
            continue;
        }
        let r = |passed: bool, expected: String, actual: String| {
            Some(
                CheckResult::new(rule.id(), passed, expected, actual)
                    .on(on)
                    .warning(level == Level::Warning),
            )
        };
        let result = match rule {
            HeaderRule::Hsts => {
                let expected = format!("Strict-Transport-Security max-age ≥ {hsts_min}");
                match (&hsts, parsed_hsts) {
                    (None, _) => r(false, expected, "missing".into()),
                    (Some(v), Some((None, _, _))) => {
                        r(false, expected, format!("{} (no valid max-age)", show(v)))
                    }
                    (Some(v), Some((Some(age), _, _))) => r(
                        age >= hsts_min,
                        expected,
                        if age >= hsts_min {
                            show(v)
                        } else {
                            format!("max-age={age} (too short)")
                        },
                    ),
                    _ => None,
                }
            }
            HeaderRule::HstsSubdomains => parsed_hsts.map(|(_, subs, _)| {
                CheckResult::new(
                    rule.id(),
                    subs,
                    "HSTS with includeSubDomains",
                    if subs {
                        "includeSubDomains"
                    } else {
                        "no includeSubDomains"
                    },
                )
                .on(on)
                .warning(level == Level::Warning)
            }),
            HeaderRule::HstsPreload => parsed_hsts.map(|(age, subs, preload)| {
                let ok = preload && subs && age.unwrap_or(0) >= 31_536_000;
                CheckResult::new(
                    rule.id(),
                    ok,
                    "HSTS preload-ready (preload, includeSubDomains, max-age ≥ 1 year)",
                    hsts.as_deref().map(show).unwrap_or_default(),
                )
                .on(on)
                .warning(level == Level::Warning)
            }),
            HeaderRule::FrameOptions => {
                let xfo = values(h, "x-frame-options");
                let ancestors = csp_directive(&csp, "frame-ancestors");
                let csp_none = ancestors
                    .as_ref()
                    .is_some_and(|a| a.len() == 1 && a[0] == "'none'");
                let xfo_deny = xfo.len() == 1 && xfo[0].eq_ignore_ascii_case("deny");
                let actual = match (xfo.as_slice(), &ancestors) {
                    ([], None) => "missing (no X-Frame-Options, no CSP frame-ancestors)".into(),
                    ([], Some(a)) => format!("frame-ancestors {}", a.join(" ")),
                    ([one], _) => format!("X-Frame-Options {}", show(one)),
                    (many, _) => format!(
                        "{} conflicting X-Frame-Options headers ({})",
                        many.len(),
                        many.iter().map(|v| show(v)).collect::<Vec<_>>().join(", ")
                    ),
                };
                r(
                    xfo_deny || csp_none,
                    "X-Frame-Options DENY (or CSP frame-ancestors 'none')".into(),
                    actual,
                )
            }
            HeaderRule::ContentTypeOptions => {
                let v = values(h, "x-content-type-options");
                let ok = v.len() == 1 && v[0].eq_ignore_ascii_case("nosniff");
                r(
                    ok,
                    "X-Content-Type-Options nosniff".into(),
                    match v.first() {
                        None => "missing".into(),
                        Some(x) => show(x),
                    },
                )
            }
            HeaderRule::Csp => {
                let report_only = h.contains_key("content-security-policy-report-only");
                r(
                    !csp.is_empty() && csp.iter().any(|p| !p.is_empty()),
                    "Content-Security-Policy present".into(),
                    match csp.first() {
                        Some(p) => show(p),
                        None if report_only => "only Content-Security-Policy-Report-Only".into(),
                        None => "missing".into(),
                    },
                )
            }
            HeaderRule::CspUnsafe => {
                if csp.is_empty() {
                    None
                } else {
                    let scripts = csp_directive(&csp, "script-src")
                        .or_else(|| csp_directive(&csp, "default-src"))
                        .unwrap_or_default();
                    // With a nonce or hash, CSP2+ browsers ignore 'unsafe-inline'.
                    let hashed = scripts.iter().any(|s| {
                        s.starts_with("'nonce-")
                            || s.starts_with("'sha256-")
                            || s.starts_with("'sha384-")
                            || s.starts_with("'sha512-")
                    });
                    let mut bad = Vec::new();
                    if scripts.iter().any(|s| s == "'unsafe-inline'") && !hashed {
                        bad.push("'unsafe-inline'");
                    }
                    if scripts.iter().any(|s| s == "'unsafe-eval'") {
                        bad.push("'unsafe-eval'");
                    }
                    r(
                        bad.is_empty(),
                        "scripts without 'unsafe-inline' or 'unsafe-eval'".into(),
                        if bad.is_empty() {
                            "neither".into()
                        } else {
                            format!("script sources allow {}", bad.join(" and "))
                        },
                    )
                }
            }
            HeaderRule::ReferrerPolicy => {
                const KNOWN: [&str; 8] = [
                    "no-referrer",
                    "no-referrer-when-downgrade",
                    "origin",
                    "origin-when-cross-origin",
                    "same-origin",
                    "strict-origin",
                    "strict-origin-when-cross-origin",
                    "unsafe-url",
                ];
                let v = first(h, "referrer-policy");
                // The last policy the browser knows wins.
                let effective = v.as_deref().and_then(|v| {
                    v.split(',')
                        .map(|p| p.trim().to_ascii_lowercase())
                        .rfind(|p| KNOWN.contains(&p.as_str()))
                });
                r(
                    effective.as_deref().is_some_and(|p| p != "unsafe-url"),
                    "Referrer-Policy set (not unsafe-url)".into(),
                    match (&v, &effective) {
                        (None, _) => "missing".into(),
                        (Some(raw), None) => format!("{} (no known policy)", show(raw)),
                        (Some(_), Some(p)) => format!("`{p}`"),
                    },
                )
            }
            HeaderRule::PermissionsPolicy => {
                let v = first(h, "permissions-policy");
                r(
                    v.as_deref().is_some_and(|v| !v.is_empty()),
                    "Permissions-Policy present".into(),
                    match v {
                        Some(v) => show(&v),
                        None if h.contains_key("feature-policy") => {
                            "only the obsolete Feature-Policy".into()
                        }
                        None => "missing".into(),
                    },
                )
            }
            HeaderRule::ServerVersion => {
                let v = first(h, "server");
                let leaks = v
                    .as_deref()
                    .is_some_and(|v| v.chars().any(|c| c.is_ascii_digit()));
                r(
                    !leaks,
                    "Server without a version".into(),
                    match v {
                        Some(v) => show(&v),
                        None => "no Server header".into(),
                    },
                )
            }
            HeaderRule::PoweredBy => {
                let leaked: Vec<String> =
                    ["x-powered-by", "x-aspnet-version", "x-aspnetmvc-version"]
                        .iter()
                        .filter_map(|n| first(h, n).map(|v| format!("{n}: {}", show(&v))))
                        .collect();
                r(
                    leaked.is_empty(),
                    "no X-Powered-By / X-AspNet-Version".into(),
                    if leaked.is_empty() {
                        "none".into()
                    } else {
                        leaked.join(", ")
                    },
                )
            }
            HeaderRule::CookieSecure | HeaderRule::CookieHttpOnly | HeaderRule::CookieSameSite => {
                if cookies.is_empty() {
                    None
                } else {
                    let (expected, bad): (&str, Vec<&Cookie>) = match rule {
                        HeaderRule::CookieSecure => (
                            "every cookie Secure",
                            cookies.iter().filter(|c| !c.secure).collect(),
                        ),
                        HeaderRule::CookieHttpOnly => (
                            "every cookie HttpOnly",
                            cookies.iter().filter(|c| !c.http_only).collect(),
                        ),
                        _ => (
                            "every cookie SameSite=Lax/Strict (or None with Secure)",
                            cookies
                                .iter()
                                .filter(|c| match c.same_site.as_deref() {
                                    Some("lax") | Some("strict") => false,
                                    Some("none") => !c.secure,
                                    _ => true,
                                })
                                .collect(),
                        ),
                    };
                    r(
                        bad.is_empty(),
                        expected.into(),
                        if bad.is_empty() {
                            format!("{} cookie(s), all set", cookies.len())
                        } else {
                            format!(
                                "not on {}",
                                bad.iter()
                                    .map(|c| show(&c.name))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        },
                    )
                }
            }
        };
        out.extend(result);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{HeaderName, HeaderValue};

    fn map(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v).unwrap(),
            );
        }
        h
    }

    fn rules(profile: &str) -> Vec<(HeaderRule, Level)> {
        HeaderRule::ALL
            .iter()
            .map(|r| (*r, r.level_in(profile)))
            .collect()
    }

    fn verdict<'a>(rs: &'a [CheckResult], id: &str) -> &'a CheckResult {
        rs.iter().find(|c| c.check == id).unwrap()
    }

    #[test]
    fn hardened_headers_pass_strict() {
        let h = map(&[
            (
                "strict-transport-security",
                b"max-age=63072000; includeSubDomains",
            ),
            ("x-frame-options", b"DENY"),
            ("x-content-type-options", b"nosniff"),
            (
                "content-security-policy",
                b"default-src 'self'; frame-ancestors 'none'",
            ),
            (
                "referrer-policy",
                b"no-referrer, strict-origin-when-cross-origin",
            ),
            ("permissions-policy", b"camera=()"),
            ("server", b"nginx"),
        ]);
        let rs = evaluate(&h, "/", &rules("strict"), 31_536_000);
        let failing: Vec<_> = rs.iter().filter(|c| c.is_failure()).collect();
        assert!(failing.is_empty(), "{failing:?}");
        assert!(verdict(&rs, "hsts-preload").is_warning());
    }

    #[test]
    fn contravento_api_headers_fail_the_checklist_precisely() {
        let h = map(&[
            ("x-frame-options", b"SAMEORIGIN"),
            ("x-content-type-options", b"nosniff"),
            ("server", b"nginx/1.22.1"),
        ]);
        let rs = evaluate(&h, "/api/health", &rules("checklist"), 31_536_000);
        let hsts = verdict(&rs, "hsts");
        assert!(hsts.is_failure());
        assert_eq!(hsts.actual, "missing");
        let xfo = verdict(&rs, "frame-options");
        assert!(xfo.is_failure());
        assert_eq!(xfo.actual, "X-Frame-Options `SAMEORIGIN`");
        assert!(verdict(&rs, "content-type-options").passed);
        let server = verdict(&rs, "server-version");
        assert!(server.is_warning());
        assert_eq!(server.actual, "`nginx/1.22.1`");
        assert!(verdict(&rs, "csp").is_warning());
        assert!(rs.iter().all(|c| c.on.as_deref() == Some("/api/health")));
        assert!(!rs.iter().any(|c| c.check == "hsts-preload"));
    }

    #[test]
    fn short_hsts_and_csp_frame_ancestors() {
        let h = map(&[
            ("strict-transport-security", b"max-age=86400"),
            (
                "content-security-policy",
                b"script-src 'self' 'unsafe-inline' 'unsafe-eval'; frame-ancestors 'none'",
            ),
        ]);
        let rs = evaluate(&h, "/", &rules("checklist"), 31_536_000);
        assert_eq!(verdict(&rs, "hsts").actual, "max-age=86400 (too short)");
        assert!(verdict(&rs, "frame-options").passed);
        let unsafe_ = verdict(&rs, "csp-unsafe");
        assert!(unsafe_.is_warning());
        assert!(unsafe_.actual.contains("'unsafe-inline' and 'unsafe-eval'"));
    }

    #[test]
    fn cookies_are_judged_only_when_set() {
        let none = evaluate(&HeaderMap::new(), "/", &rules("strict"), 1);
        assert!(!none.iter().any(|c| c.check.starts_with("cookie")));
        let h = map(&[
            ("set-cookie", b"a=1; Path=/; Secure; HttpOnly; SameSite=Lax"),
            ("set-cookie", b"cv_lang=es; Path=/"),
        ]);
        let rs = evaluate(&h, "/", &rules("strict"), 1);
        for id in ["cookie-secure", "cookie-httponly", "cookie-samesite"] {
            let c = verdict(&rs, id);
            assert!(c.is_failure(), "{id}");
            assert_eq!(c.actual, "not on `cv_lang`");
        }
    }

    #[test]
    fn hostile_values_never_panic() {
        let mut long = vec![b'a'; 20_000];
        long.extend_from_slice(b"\xff\xfe;max-age=zz");
        let h = map(&[
            ("strict-transport-security", &long),
            ("x-frame-options", b"DENY"),
            ("x-frame-options", b"SAMEORIGIN"),
            ("content-security-policy", b";;;;"),
            ("set-cookie", b"\xff"),
            ("referrer-policy", b",,,"),
            ("server", b"\x80\x81"),
        ]);
        let rs = evaluate(&h, "/", &rules("strict"), 31_536_000);
        let hsts = verdict(&rs, "hsts");
        assert!(hsts.is_failure());
        assert!(hsts.actual.chars().count() < 140);
        assert!(
            verdict(&rs, "frame-options")
                .actual
                .contains("2 conflicting")
        );
    }
}
