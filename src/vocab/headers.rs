//! The security-header policy's words: the rule ids probe files name in
//! `require`/`warn`/`ignore` and reports show, the levels, and the profiles
//! that set each rule's level. Shared by the compiler (validation) and the
//! `security_headers` check (evaluation).

/// One rule of the policy. The ids are what probe files name in
/// `require`/`warn`/`ignore` and what reports show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HeaderRule {
    Hsts,
    HstsSubdomains,
    HstsPreload,
    FrameOptions,
    ContentTypeOptions,
    Csp,
    CspUnsafe,
    ReferrerPolicy,
    PermissionsPolicy,
    ServerVersion,
    PoweredBy,
    CookieSecure,
    CookieHttpOnly,
    CookieSameSite,
}

/// How a rule counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Required,
    Warning,
    Off,
}

pub const PROFILES: [&str; 2] = ["checklist", "strict"];

impl HeaderRule {
    pub const ALL: [HeaderRule; 14] = [
        HeaderRule::Hsts,
        HeaderRule::HstsSubdomains,
        HeaderRule::HstsPreload,
        HeaderRule::FrameOptions,
        HeaderRule::ContentTypeOptions,
        HeaderRule::Csp,
        HeaderRule::CspUnsafe,
        HeaderRule::ReferrerPolicy,
        HeaderRule::PermissionsPolicy,
        HeaderRule::ServerVersion,
        HeaderRule::PoweredBy,
        HeaderRule::CookieSecure,
        HeaderRule::CookieHttpOnly,
        HeaderRule::CookieSameSite,
    ];

    pub fn id(&self) -> &'static str {
        match self {
            HeaderRule::Hsts => "hsts",
            HeaderRule::HstsSubdomains => "hsts-subdomains",
            HeaderRule::HstsPreload => "hsts-preload",
            HeaderRule::FrameOptions => "frame-options",
            HeaderRule::ContentTypeOptions => "content-type-options",
            HeaderRule::Csp => "csp",
            HeaderRule::CspUnsafe => "csp-unsafe",
            HeaderRule::ReferrerPolicy => "referrer-policy",
            HeaderRule::PermissionsPolicy => "permissions-policy",
            HeaderRule::ServerVersion => "server-version",
            HeaderRule::PoweredBy => "powered-by",
            HeaderRule::CookieSecure => "cookie-secure",
            HeaderRule::CookieHttpOnly => "cookie-httponly",
            HeaderRule::CookieSameSite => "cookie-samesite",
        }
    }

    pub fn parse(s: &str) -> Option<HeaderRule> {
        HeaderRule::ALL.into_iter().find(|r| r.id() == s)
    }

    /// The level a profile gives this rule. `checklist` is ContraVento's
    /// production checklist (HSTS ≥ 1 year, DENY framing, nosniff; the rest are
    /// warnings); `strict` requires everything but HSTS preload.
    pub fn level_in(&self, profile: &str) -> Level {
        use HeaderRule::*;
        match profile {
            "strict" => match self {
                HstsPreload => Level::Warning,
                _ => Level::Required,
            },
            _ => match self {
                Hsts | FrameOptions | ContentTypeOptions => Level::Required,
                HstsPreload => Level::Off,
                _ => Level::Warning,
            },
        }
    }
}
