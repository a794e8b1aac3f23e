//! Value parsers for clap: a flag's text becomes its typed value while the
//! command line is parsed, so a bad value is clap's exit 2 naming the flag
//! and the value (`error: invalid value 'X' for '--flag <V>': why`) before
//! anything runs.

/// An http(s) URL (`--baseline-prometheus`, `--pushgateway`, `healthcheck`'s URL).
pub(super) fn http_url(s: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(s).map_err(|e| e.to_string())?;
    if !matches!(u.scheme(), "http" | "https") || u.cannot_be_a_base() {
        return Err("an http:// or https:// URL".into());
    }
    Ok(u)
}

/// A size in bytes (`--max-body 10MB`), as a probe file's `max_body:` reads it.
pub(super) fn size(s: &str) -> Result<u64, String> {
    crate::config::parse_size(s).ok_or_else(|| format!("`{s}` is not a size"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_http_or_https_and_sizes_are_bytes() {
        assert_eq!(
            http_url("https://push.example:9091").unwrap().as_str(),
            "https://push.example:9091/"
        );
        assert_eq!(
            http_url("ftp://push.example").unwrap_err(),
            "an http:// or https:// URL"
        );
        assert_eq!(
            http_url("push.example").unwrap_err(),
            "relative URL without a base"
        );
        assert_eq!(size("2kB"), Ok(crate::config::parse_size("2kB").unwrap()));
        assert_eq!(size("ten"), Err("`ten` is not a size".to_string()));
    }
}
