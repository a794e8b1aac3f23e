//! TLS for the demo target: certificates generated in memory at start (a
//! "smokeprobe demo CA" that signs the leaf), the rustls server configuration
//! (ALPN `http/1.1` only), served through `net::tls_listener::TlsListener`.
//!
//! The leaf's SANs are `127.0.0.1`, `::1` and `localhost`, valid from a day ago
//! for 90 days; [`TlsMode`] selects the misconfigured variants a certificate
//! check must catch. The served chain is leaf + CA (the leaf alone when it is
//! self-signed). Handshakes run on their own tasks with a timeout, so a client
//! that fails (or stalls) its handshake never blocks or ends the accept loop.

use std::fmt;
use std::io;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

pub(super) use crate::net::tls_listener::TlsListener;
use crate::net::tls_listener::server_config;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

const DAY: i64 = 86_400;

/// The certificate the HTTPS demo target presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// Signed by the demo CA, valid from yesterday for 90 days.
    Valid,
    /// Signed by the demo CA, expires in 5 days.
    ExpiringSoon,
    /// Signed by the demo CA, expired yesterday (issued 60 days ago).
    Expired,
    /// Self-signed: not signed by the demo CA that [`ca_pem`](super::DemoServer::ca_pem) returns.
    SelfSigned,
    /// Signed by the demo CA, valid, but only for `wrong-host.invalid`.
    WrongHost,
}

const MODES: [(&str, TlsMode); 5] = [
    ("valid", TlsMode::Valid),
    ("expiring-soon", TlsMode::ExpiringSoon),
    ("expired", TlsMode::Expired),
    ("self-signed", TlsMode::SelfSigned),
    ("wrong-host", TlsMode::WrongHost),
];

impl FromStr for TlsMode {
    type Err = String;

    /// `valid`, `expiring-soon`, `expired`, `self-signed` or `wrong-host`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        MODES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map(|(_, mode)| *mode)
            .ok_or_else(|| {
                let names: Vec<&str> = MODES.iter().map(|(name, _)| *name).collect();
                format!(
                    "unknown TLS mode {s:?}; valid modes are {}",
                    names.join(", ")
                )
            })
    }
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = MODES
            .iter()
            .find(|(_, mode)| mode == self)
            .map_or("valid", |(name, _)| *name);
        f.write_str(name)
    }
}

/// What the HTTPS listener needs: the rustls config, and the CA for clients.
pub(super) struct DemoTls {
    pub config: Arc<ServerConfig>,
    pub ca_pem: String,
}

fn tls_error(e: impl fmt::Display) -> io::Error {
    io::Error::other(format!("demo TLS setup: {e}"))
}

impl DemoTls {
    /// Generates the CA and a leaf for `mode`, relative to the Unix time `now`.
    pub fn generate(mode: TlsMode, now: u64) -> io::Result<DemoTls> {
        let now = i64::try_from(now).map_err(tls_error)?;
        let epoch = rcgen::date_time_ymd(1970, 1, 1);
        let days_from_now = |days: i64| {
            let secs = u64::try_from(now + days * DAY).unwrap_or(0);
            epoch + Duration::from_secs(secs)
        };

        let mut ca_params = CertificateParams::default();
        ca_params.distinguished_name = DistinguishedName::new();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "smokeprobe demo CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca_params.not_before = days_from_now(-2);
        ca_params.not_after = days_from_now(3650);
        let ca_key = KeyPair::generate().map_err(tls_error)?;
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(tls_error)?;

        let names: Vec<String> = match mode {
            TlsMode::WrongHost => vec!["wrong-host.invalid".to_owned()],
            _ => vec!["127.0.0.1".into(), "::1".into(), "localhost".into()],
        };
        let common_name = if mode == TlsMode::WrongHost {
            "wrong-host.invalid"
        } else {
            "localhost"
        };
        let mut leaf = CertificateParams::new(names).map_err(tls_error)?;
        leaf.distinguished_name = DistinguishedName::new();
        leaf.distinguished_name
            .push(DnType::CommonName, common_name);
        leaf.is_ca = IsCa::ExplicitNoCa;
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let (not_before, not_after) = match mode {
            TlsMode::ExpiringSoon => (-1, 5),
            TlsMode::Expired => (-60, -1),
            TlsMode::Valid | TlsMode::SelfSigned | TlsMode::WrongHost => (-1, 90),
        };
        leaf.not_before = days_from_now(not_before);
        leaf.not_after = days_from_now(not_after);
        let leaf_key = KeyPair::generate().map_err(tls_error)?;
        let chain = if mode == TlsMode::SelfSigned {
            vec![
                leaf.self_signed(&leaf_key)
                    .map_err(tls_error)?
                    .der()
                    .clone(),
            ]
        } else {
            leaf.use_authority_key_identifier_extension = true;
            let cert = leaf.signed_by(&leaf_key, &ca).map_err(tls_error)?;
            vec![cert.der().clone(), ca.der().clone()]
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        Ok(DemoTls {
            config: server_config(chain, key)?,
            ca_pem: ca.pem(),
        })
    }
}
