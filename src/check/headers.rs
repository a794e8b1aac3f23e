//! Security-header policy: the rules, the profiles that set each rule's level,
//! and the per-URL evaluation of a response's headers. Pure functions over a
//! `HeaderMap`: header values may be anything a target sends (non-UTF-8, huge,
//! repeated), so every value is read lossily and shortened before it is shown.

use http::header::HeaderMap;

use crate::outcome::CheckResult;
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
    let seen = Seen::of(h);
    rules
        .iter()
        .filter(|(_, level)| *level != Level::Off)
        .filter_map(|&(rule, level)| {
            verdict(rule, &seen, hsts_min).map(|(passed, expected, actual)| {
                CheckResult::new(rule.id(), passed, expected, actual)
                    .on(on)
                    .warning(level == Level::Warning)
            })
        })
        .collect()
}

/// The headers several rules read, parsed once per response.
struct Seen<'h> {
    h: &'h HeaderMap,
    hsts: Option<String>,
    parsed_hsts: Option<(Option<u64>, bool, bool)>,
    csp: Vec<String>,
    cookies: Vec<Cookie>,
}

impl<'h> Seen<'h> {
    fn of(h: &'h HeaderMap) -> Seen<'h> {
        let hsts = first(h, "strict-transport-security");
        let parsed_hsts = hsts.as_deref().map(parse_hsts);
        Seen {
            h,
            hsts,
            parsed_hsts,
            csp: values(h, "content-security-policy"),
            cookies: values(h, "set-cookie")
                .iter()
                .map(|v| parse_cookie(v))
                .collect(),
        }
    }
}

/// A rule's verdict on one response: (passed, expected, actual), or `None`
/// when the rule does not apply (no HSTS header for its sub-rules, no CSP
/// for `csp-unsafe`, no cookies for the cookie rules).
type Verdict = Option<(bool, String, String)>;

fn verdict(rule: HeaderRule, seen: &Seen, hsts_min: u64) -> Verdict {
    match rule {
        HeaderRule::Hsts | HeaderRule::HstsSubdomains | HeaderRule::HstsPreload => {
            hsts_rule(rule, seen, hsts_min)
        }
        HeaderRule::FrameOptions => frame_options(seen),
        HeaderRule::ContentTypeOptions => content_type_options(seen.h),
        HeaderRule::Csp => csp_present(seen),
        HeaderRule::CspUnsafe => csp_unsafe(&seen.csp),
        HeaderRule::ReferrerPolicy => referrer_policy(seen.h),
        HeaderRule::PermissionsPolicy => permissions_policy(seen.h),
        HeaderRule::ServerVersion => server_version(seen.h),
        HeaderRule::PoweredBy => powered_by(seen.h),
        HeaderRule::CookieSecure | HeaderRule::CookieHttpOnly | HeaderRule::CookieSameSite => {
            cookie_rule(rule, &seen.cookies)
        }
    }
}

/// `hsts`, `hsts-subdomains`, `hsts-preload`.
fn hsts_rule(rule: HeaderRule, seen: &Seen, hsts_min: u64) -> Verdict {
    let (hsts, parsed_hsts) = (&seen.hsts, seen.parsed_hsts);
    match rule {
        HeaderRule::HstsSubdomains => parsed_hsts.map(|(_, subs, _)| {
            (
                subs,
                "HSTS with includeSubDomains".into(),
                if subs {
                    "includeSubDomains"
                } else {
                    "no includeSubDomains"
                }
                .into(),
            )
        }),
        HeaderRule::HstsPreload => parsed_hsts.map(|(age, subs, preload)| {
            let ok = preload && subs && age.unwrap_or(0) >= 31_536_000;
            (
                ok,
                "HSTS preload-ready (preload, includeSubDomains, max-age ≥ 1 year)".into(),
                hsts.as_deref().map(show).unwrap_or_default(),
            )
        }),
        _ => {
            let expected = format!("Strict-Transport-Security max-age ≥ {hsts_min}");
            match (hsts, parsed_hsts) {
                (None, _) => Some((false, expected, "missing".into())),
                (Some(v), Some((None, _, _))) => {
                    Some((false, expected, format!("{} (no valid max-age)", show(v))))
                }
                (Some(v), Some((Some(age), _, _))) => Some((
                    age >= hsts_min,
                    expected,
                    if age >= hsts_min {
                        show(v)
                    } else {
                        format!("max-age={age} (too short)")
                    },
                )),
                _ => None,
            }
        }
    }
}

fn frame_options(seen: &Seen) -> Verdict {
    let xfo = values(seen.h, "x-frame-options");
    let ancestors = csp_directive(&seen.csp, "frame-ancestors");
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
    Some((
        xfo_deny || csp_none,
        "X-Frame-Options DENY (or CSP frame-ancestors 'none')".into(),
        actual,
    ))
}

fn content_type_options(h: &HeaderMap) -> Verdict {
    let v = values(h, "x-content-type-options");
    let ok = v.len() == 1 && v[0].eq_ignore_ascii_case("nosniff");
    Some((
        ok,
        "X-Content-Type-Options nosniff".into(),
        match v.first() {
            None => "missing".into(),
            Some(x) => show(x),
        },
    ))
}

fn csp_present(seen: &Seen) -> Verdict {
    let csp = &seen.csp;
    let report_only = seen.h.contains_key("content-security-policy-report-only");
    Some((
        !csp.is_empty() && csp.iter().any(|p| !p.is_empty()),
        "Content-Security-Policy present".into(),
        match csp.first() {
            Some(p) => show(p),
            None if report_only => "only Content-Security-Policy-Report-Only".into(),
            None => "missing".into(),
        },
    ))
}

fn csp_unsafe(csp: &[String]) -> Verdict {
    if csp.is_empty() {
        return None;
    }
    let scripts = csp_directive(csp, "script-src")
        .or_else(|| csp_directive(csp, "default-src"))
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
    Some((
        bad.is_empty(),
        "scripts without 'unsafe-inline' or 'unsafe-eval'".into(),
        if bad.is_empty() {
            "neither".into()
        } else {
            format!("script sources allow {}", bad.join(" and "))
        },
    ))
}

fn referrer_policy(h: &HeaderMap) -> Verdict {
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
    Some((
        effective.as_deref().is_some_and(|p| p != "unsafe-url"),
        "Referrer-Policy set (not unsafe-url)".into(),
        match (&v, &effective) {
            (None, _) => "missing".into(),
            (Some(raw), None) => format!("{} (no known policy)", show(raw)),
            (Some(_), Some(p)) => format!("`{p}`"),
        },
    ))
}

fn permissions_policy(h: &HeaderMap) -> Verdict {
    let v = first(h, "permissions-policy");
    Some((
        v.as_deref().is_some_and(|v| !v.is_empty()),
        "Permissions-Policy present".into(),
        match v {
            Some(v) => show(&v),
            None if h.contains_key("feature-policy") => "only the obsolete Feature-Policy".into(),
            None => "missing".into(),
        },
    ))
}

fn server_version(h: &HeaderMap) -> Verdict {
    let v = first(h, "server");
    let leaks = v
        .as_deref()
        .is_some_and(|v| v.chars().any(|c| c.is_ascii_digit()));
    Some((
        !leaks,
        "Server without a version".into(),
        match v {
            Some(v) => show(&v),
            None => "no Server header".into(),
        },
    ))
}

fn powered_by(h: &HeaderMap) -> Verdict {
    let leaked: Vec<String> = ["x-powered-by", "x-aspnet-version", "x-aspnetmvc-version"]
        .iter()
        .filter_map(|n| first(h, n).map(|v| format!("{n}: {}", show(&v))))
        .collect();
    Some((
        leaked.is_empty(),
        "no X-Powered-By / X-AspNet-Version".into(),
        if leaked.is_empty() {
            "none".into()
        } else {
            leaked.join(", ")
        },
    ))
}

/// `cookie-secure`, `cookie-httponly`, `cookie-samesite`.
fn cookie_rule(rule: HeaderRule, cookies: &[Cookie]) -> Verdict {
    if cookies.is_empty() {
        return None;
    }
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
    Some((
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
    ))
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
