//! Validation of the built-in check kinds (`cors:`, `security_headers:`,
//! `https_redirect:`, `tls:`, `error_leaks:`, `frontend:`, `api_docs:`,
//! `login_timing:`) into [`Check`]s. A check step takes no request fields:
//! the check sends its own requests.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Compiler, NameKind, pos_of};
use crate::config::error::Pos;
use crate::config::plan::*;
use crate::config::raw::*;
use crate::config::template::Template;
use crate::vocab::{headers, leaks};

type Names = HashMap<String, NameKind>;

/// Keys of a request step that make no sense on a check step.
pub(in crate::config) fn request_fields(rs: &RawStep) -> Vec<&'static str> {
    let mut v = Vec::new();
    let fields: [(&str, bool); 12] = [
        ("url", rs.url.is_some()),
        ("method", rs.method.is_some()),
        ("headers", !rs.headers.is_empty()),
        ("query", !rs.query.is_empty()),
        ("json", rs.json.is_some()),
        ("form", rs.form.is_some()),
        ("body", rs.body.is_some()),
        ("multipart", rs.multipart.is_some()),
        ("follow_redirects", rs.follow_redirects.is_some()),
        ("poll", rs.poll.is_some()),
        ("expect", rs.expect.is_some()),
        ("capture", !rs.capture.is_empty()),
    ];
    for (k, set) in fields {
        if set {
            v.push(k);
        }
    }
    v
}

/// The check kinds a step sets, by key.
pub(in crate::config) fn kinds(rs: &RawStep) -> Vec<&'static str> {
    [
        ("cors", rs.cors.is_some()),
        ("security_headers", rs.security_headers.is_some()),
        ("https_redirect", rs.https_redirect.is_some()),
        ("tls", rs.tls.is_some()),
        ("error_leaks", rs.error_leaks.is_some()),
        ("frontend", rs.frontend.is_some()),
        ("api_docs", rs.api_docs.is_some()),
        ("login_timing", rs.login_timing.is_some()),
    ]
    .into_iter()
    .filter(|(_, set)| *set)
    .map(|(k, _)| k)
    .collect()
}

impl Compiler<'_> {
    /// The step's check and its main URL (shown for the step).
    pub(super) fn check(
        &mut self,
        rs: &RawStep,
        names: &Names,
        needs: &mut Vec<String>,
    ) -> Option<(Check, Template)> {
        if let Some(c) = &rs.cors {
            self.cors(c, names, needs)
        } else if let Some(c) = &rs.security_headers {
            self.security_headers(c, names, needs)
        } else if let Some(c) = &rs.https_redirect {
            self.https_redirect(c, names, needs)
        } else if let Some(c) = &rs.tls {
            self.tls(c, names, needs)
        } else if let Some(c) = &rs.error_leaks {
            self.error_leaks(c, names, needs)
        } else if let Some(c) = &rs.frontend {
            self.frontend(c, names, needs)
        } else if let Some(c) = &rs.api_docs {
            self.api_docs(c, names, needs)
        } else if let Some(c) = &rs.login_timing {
            self.login_timing(c, names, needs)
        } else {
            None
        }
    }

    /// A URL template (`key` names it in messages); what it resolves to at
    /// compile time must parse and use `schemes` (see `urls`).
    fn check_url(
        &mut self,
        s: &S<String>,
        key: &str,
        names: &Names,
        needs: &mut Vec<String>,
        schemes: &[&str],
    ) -> Option<Template> {
        let t = self.template(s, names, needs)?;
        self.check_url_value(pos_of(s), key, &t, schemes);
        Some(t)
    }

    /// An HTTP method in any case (GET when absent).
    pub(super) fn method(&mut self, m: Option<&S<String>>) -> http::Method {
        match m {
            None => http::Method::GET,
            Some(m) => {
                let up = m.value.to_ascii_uppercase();
                match http::Method::from_bytes(up.as_bytes()) {
                    Ok(x) if !up.is_empty() && up.chars().all(|c| c.is_ascii_uppercase()) => x,
                    _ => {
                        self.err(pos_of(m), format!("`{}` is not an HTTP method", m.value));
                        http::Method::GET
                    }
                }
            }
        }
    }

    fn cors(
        &mut self,
        c: &S<RawCors>,
        names: &Names,
        needs: &mut Vec<String>,
    ) -> Option<(Check, Template)> {
        let r = &c.value;
        let url = self.check_url(&r.url, "cors url", names, needs, &["http", "https"]);
        let method = self.method(r.method.as_ref());
        let mut request_headers = Vec::new();
        for h in &r.request_headers {
            self.check_header_name(pos_of(h), &h.value);
            request_headers.push(h.value.to_ascii_lowercase());
        }
        if r.allowed_origins.is_empty() {
            self.err(
                pos_of(c),
                "`cors` needs at least one entry in `allowed_origins`",
            );
        }
        let mut allowed = Vec::new();
        for o in &r.allowed_origins {
            if let Some(t) = self.origin(o, names, needs) {
                allowed.push(t);
            }
        }
        let disallowed = match &r.disallowed_origin {
            Some(o) => Some(self.origin(o, names, needs)?),
            None => None,
        };
        let simple = match &r.simple_request {
            Some(u) => {
                Some(self.check_url(u, "simple_request", names, needs, &["http", "https"])?)
            }
            None => None,
        };
        let url = url?;
        Some((
            Check::Cors(CorsCheck {
                url: url.clone(),
                method,
                request_headers,
                allowed_origins: allowed,
                disallowed_origin: disallowed,
                credentials: r.credentials,
                production: r.production.unwrap_or(true),
                simple_request: simple,
            }),
            url,
        ))
    }

    /// An origin: scheme://host[:port], nothing after it (when static).
    fn origin(
        &mut self,
        o: &S<String>,
        names: &Names,
        needs: &mut Vec<String>,
    ) -> Option<Template> {
        let t = self.template(o, names, needs)?;
        if let Some((text, shown, blame)) = self.known_value(&t) {
            let ok = url::Url::parse(&text).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some()
                    && (u.path() == "/" || u.path().is_empty())
                    && !text.trim_end_matches('/').ends_with(':')
                    && u.query().is_none()
            }) && !text.ends_with('/');
            if !ok {
                let what = match blame {
                    Some(b) => format!("origin resolves to `{shown}` ({b}), which"),
                    None => format!("`{shown}`"),
                };
                self.err(
                    pos_of(o),
                    format!("{what} is not an origin: write scheme://host[:port], e.g. https://app.example.com"),
                );
            }
        }
        Some(t)
    }

    fn security_headers(
        &mut self,
        c: &S<RawSecurityHeaders>,
        names: &Names,
        needs: &mut Vec<String>,
    ) -> Option<(Check, Template)> {
        let r = &c.value;
        if r.urls.is_empty() {
            self.err(
                pos_of(c),
                "`security_headers` needs at least one URL in `urls`",
            );
        }
        let mut urls = Vec::new();
        for u in &r.urls {
            if let Some(t) =
                self.check_url(u, "security_headers url", names, needs, &["http", "https"])
            {
                urls.push(t);
            }
        }
        let profile = match &r.profile {
            None => "checklist".to_string(),
            Some(p) if headers::PROFILES.contains(&p.value.as_str()) => p.value.clone(),
            Some(p) => {
                self.err(
                    pos_of(p),
                    format!(
                        "unknown profile `{}`: use {}",
                        p.value,
                        headers::PROFILES.join(" or ")
                    ),
                );
                "checklist".to_string()
            }
        };
        let hsts_max_age = match &r.hsts_max_age {
            None => 31_536_000,
            Some(n) if n.value >= 0 => n.value as u64,
            Some(n) => {
                self.err(
                    pos_of(n),
                    "`hsts_max_age` is in seconds and cannot be negative",
                );
                0
            }
        };
        let mut rules: Vec<(HeaderRule, Level)> = HeaderRule::ALL
            .iter()
            .map(|r| (*r, r.level_in(&profile)))
            .collect();
        let mut seen: HashMap<HeaderRule, Pos> = HashMap::new();
        for (list, level) in [
            (&r.require, Level::Required),
            (&r.warn, Level::Warning),
            (&r.ignore, Level::Off),
        ] {
            for id in list {
                match HeaderRule::parse(&id.value) {
                    Some(rule) => {
                        if let Some(prev) = seen.insert(rule, pos_of(id)) {
                            self.err(
                                pos_of(id),
                                format!(
                                    "rule `{}` is already listed at line {}",
                                    id.value, prev.line
                                ),
                            );
                        }
                        if let Some(e) = rules.iter_mut().find(|(r, _)| *r == rule) {
                            e.1 = level;
                        }
                    }
                    None => self.err(
                        pos_of(id),
                        format!(
                            "unknown security-header rule `{}`; the rules are {}",
                            id.value,
                            HeaderRule::ALL
                                .iter()
                                .map(|r| r.id())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ),
                }
            }
        }
        let mut hdrs = Vec::new();
        for (k, v) in &r.headers {
            self.check_header_name(pos_of(v), k);
            if let Some(t) = self.template(v, names, needs) {
                hdrs.push((k.to_ascii_lowercase(), t));
            }
        }
        let third_party = self.hosts(&r.third_party);
        if !r.assets
            && let Some(h) = r.third_party.first()
        {
            self.err(
                pos_of(h),
                "`third_party` only matters with `assets: true` (it names hosts whose assets count as the site's own)",
            );
        }
        let first = urls.first().cloned()?;
        Some((
            Check::SecurityHeaders(HeadersCheck {
                urls,
                profile,
                hsts_max_age,
                rules,
                headers: hdrs,
                assets: r.assets,
                third_party,
            }),
            first,
        ))
    }

    fn https_redirect(
        &mut self,
        c: &S<RawHttpsRedirect>,
        names: &Names,
        needs: &mut Vec<String>,
    ) -> Option<(Check, Template)> {
        let r = &c.value;
        let url = self.check_url(&r.url, "https_redirect url", names, needs, &["http"])?;
        let max_hops = match &r.max_hops {
            None => 5,
            Some(n) if (1..=20).contains(&n.value) => n.value as u8,
            Some(n) => {
                self.err(pos_of(n), "`max_hops` must be from 1 to 20");
                5
            }
        };
        Some((
            Check::HttpsRedirect(RedirectCheck {
                url: url.clone(),
                allow_308: r.allow_308,
                max_hops,
            }),
            url,
        ))
    }

    fn tls(
        &mut self,
        c: &S<RawTls>,
        names: &Names,
        needs: &mut Vec<String>,
    ) -> Option<(Check, Template)> {
        let r = &c.value;
        let url = self.check_url(&r.url, "tls url", names, needs, &["https"]);
        let min_days = match &r.min_days {
            None => 14,
            Some(n) if (0..=3650).contains(&n.value) => n.value as u32,
            Some(n) => {
                self.err(pos_of(n), "`min_days` must be from 0 to 3650");
                14
            }
        };
        let server_name = match &r.server_name {
            Some(s) => Some(self.template(s, names, needs)?),
            None => None,
        };
        let url = url?;
        Some((
            Check::Tls(TlsCheck {
                url: url.clone(),
                min_days,
                server_name,
            }),
            url,
        ))
    }

    fn error_leaks(
        &mut self,
        c: &S<RawErrorLeaks>,
        names: &Names,
        needs: &mut Vec<String>,
    ) -> Option<(Check, Template)> {
        let r = &c.value;
        if r.requests.is_empty() {
            self.err(
                pos_of(c),
                "`error_leaks` needs at least one entry in `requests` (e.g. an unknown path, a malformed JSON body, a wrong method)",
            );
        }
        let mut requests = Vec::new();
        for q in &r.requests {
            let url = self.check_url(
                &q.value.url,
                "error_leaks url",
                names,
                needs,
                &["http", "https"],
            );
            let method = self.method(q.value.method.as_ref());
            let body = match &q.value.body {
                Some(b) => self.template(b, names, needs),
                None => None,
            };
            if let Some(ct) = &q.value.content_type
                && http::header::HeaderValue::from_str(&ct.value).is_err()
            {
                self.err(pos_of(ct), "content type is not a valid header value");
            }
            if let Some(url) = url {
                requests.push(LeakRequest {
                    method,
                    url,
                    body,
                    content_type: q.value.content_type.as_ref().map(|c| c.value.clone()),
                });
            }
        }
        let mut ignore = Vec::new();
        for g in &r.ignore {
            if leaks::GROUPS.contains(&g.value.as_str()) {
                ignore.push(g.value.clone());
            } else {
                self.err(
                    pos_of(g),
                    format!(
                        "unknown pattern group `{}`; the groups are {}",
                        g.value,
                        leaks::GROUPS.join(", ")
                    ),
                );
            }
        }
        let mut patterns = leaks::builtin(&ignore);
        for (name, re) in &r.patterns {
            if let Some(re) = self.regex(pos_of(re), &re.value) {
                patterns.push(LeakPattern {
                    name: name.clone(),
                    re,
                });
            }
        }
        let first = requests.first().map(|q| q.url.clone())?;
        Some((
            Check::ErrorLeaks(LeakCheck {
                requests,
                patterns: Arc::new(patterns),
            }),
            first,
        ))
    }

    fn frontend(
        &mut self,
        c: &S<RawFrontend>,
        names: &Names,
        needs: &mut Vec<String>,
    ) -> Option<(Check, Template)> {
        let r = &c.value;
        let url = self.check_url(&r.url, "frontend url", names, needs, &["http", "https"]);
        let max_total = match &r.max_total {
            Some(s) => Some(self.size(pos_of(s), &s.value)?),
            None => None,
        };
        let max_total_compressed = match &r.max_total_compressed {
            Some(s) => Some(self.size(pos_of(s), &s.value)?),
            None => None,
        };
        let third_party = self.hosts(&r.third_party);
        let url = url?;
        Some((
            Check::Frontend(FrontendCheck {
                url: url.clone(),
                max_total,
                max_total_compressed,
                require_compression: r.require_compression.unwrap_or(true),
                allow_source_maps: r.allow_source_maps,
                third_party,
            }),
            url,
        ))
    }

    /// `third_party:` entries: bare host names (no scheme, port, path or
    /// wildcard), as the URL parser normalises them (lowercase, punycode).
    fn hosts(&mut self, list: &[S<String>]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for h in list {
            let text = h.value.trim();
            let parsed = if text.contains('*') {
                Err("wildcards are not supported: list each host".to_string())
            } else {
                url::Host::parse(text).map_err(|_| {
                    "expected a bare host name like cdn.example.com (no scheme, port or path)"
                        .to_string()
                })
            };
            match parsed {
                Ok(host) => {
                    let host = host.to_string();
                    if !out.contains(&host) {
                        out.push(host);
                    }
                }
                Err(why) => self.err(pos_of(h), format!("third_party `{}`: {why}", h.value)),
            }
        }
        out
    }

    /// `level: warning | required` of a single-rule check (warning by default:
    /// the checklist does not demand these rules).
    fn level(&mut self, l: Option<&S<String>>) -> Level {
        match l.map(|l| (l, l.value.as_str())) {
            None | Some((_, "warning")) => Level::Warning,
            Some((_, "required")) => Level::Required,
            Some((l, other)) => {
                self.err(
                    pos_of(l),
                    format!("unknown level `{other}`: use `warning` (the default) or `required`"),
                );
                Level::Warning
            }
        }
    }

    fn api_docs(
        &mut self,
        c: &S<RawApiDocs>,
        names: &Names,
        needs: &mut Vec<String>,
    ) -> Option<(Check, Template)> {
        let r = &c.value;
        let base = self.check_url(&r.base, "api_docs base", names, needs, &["http", "https"]);
        let level = self.level(r.level.as_ref());
        let base = base?;
        Some((
            Check::ApiDocs(ApiDocsCheck {
                base: base.clone(),
                level,
            }),
            base,
        ))
    }

    fn login_timing(
        &mut self,
        c: &S<RawLoginTiming>,
        names: &Names,
        needs: &mut Vec<String>,
    ) -> Option<(Check, Template)> {
        let r = &c.value;
        let url = self.check_url(&r.url, "login_timing url", names, needs, &["http", "https"]);
        let username = self.template(&r.username, names, needs);
        let password = self.template(&r.password, names, needs);
        if let Some(p) = &password
            && !p.var_names().any(|n| self.secret_vars.contains(n))
        {
            self.err(
                pos_of(&r.password),
                "`password` must come from a secret variable (e.g. `${password}` with `password: { secret: true }` under `vars:`): the credential guard then never sends a refused password again",
            );
        }
        let mut field = |f: Option<&S<String>>, default: &str| match f {
            None => default.to_string(),
            Some(f) if !f.value.trim().is_empty() => f.value.clone(),
            Some(f) => {
                self.err(pos_of(f), "a JSON member name cannot be empty");
                default.to_string()
            }
        };
        let username_field = field(r.username_field.as_ref(), "username");
        let password_field = field(r.password_field.as_ref(), "password");
        if username_field == password_field {
            self.err(
                pos_of(c),
                format!("`username_field` and `password_field` are both `{username_field}`"),
            );
        }
        let samples = match &r.samples {
            None => 5,
            Some(n) if (3..=20).contains(&n.value) => n.value as u32,
            Some(n) => {
                self.err(
                    pos_of(n),
                    "`samples` must be from 3 to 20 (logins of each kind per run)",
                );
                5
            }
        };
        let factor = match &r.factor {
            None => 3.0,
            Some(f) if f.value.is_finite() && f.value > 1.0 && f.value <= 1000.0 => f.value,
            Some(f) => {
                self.err(
                    pos_of(f),
                    "`factor` must be a number above 1 and at most 1000 (e.g. 3: the slower median is over 3 times the faster)",
                );
                3.0
            }
        };
        let floor = self.duration_opt(r.floor.as_ref(), std::time::Duration::from_millis(20));
        let level = self.level(r.level.as_ref());
        let url = url?;
        Some((
            Check::LoginTiming(LoginTimingCheck {
                url: url.clone(),
                username: username?,
                password: password?,
                username_field,
                password_field,
                samples,
                factor,
                floor,
                level,
            }),
            url,
        ))
    }
}
