//! TLS certificate inspection: connect to a server, complete a TLS handshake,
//! and report the certificate chain it serves, the negotiated protocol and
//! cipher suite, and what an ordinary client trusting the same roots would
//! conclude about the certificate ("expired on …", "not valid for host …").
//!
//! Unlike an HTTP client, the inspector does not stop at a bad certificate: its
//! verifier records the real verdict and then lets the handshake finish, so a
//! broken certificate can still be described in full. No application data is
//! ever sent over such a connection; it is closed right after the handshake.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

/// What one TLS handshake revealed.
#[derive(Debug, Clone)]
pub struct TlsInspection {
    /// Negotiated protocol version: "TLSv1.3" or "TLSv1.2".
    pub protocol: String,
    /// Negotiated cipher suite, IANA-style, e.g. "TLS13_AES_128_GCM_SHA256".
    pub cipher: String,
    /// The certificates as the server sent them, leaf first.
    pub chain: Vec<CertSummary>,
    /// What a normal client trusting the same roots would conclude for the
    /// server name that was asked for.
    pub verification: Result<(), TlsProblem>,
    /// Time from sending the ClientHello to a completed handshake (excludes
    /// name resolution and the TCP connect).
    pub handshake: Duration,
}

impl TlsInspection {
    /// The earliest expiry over the whole chain (an intermediate that expires
    /// before the leaf breaks the site just the same). `None` when no
    /// certificate in the chain could be parsed.
    pub fn earliest_not_after(&self) -> Option<i64> {
        self.chain
            .iter()
            .filter(|c| c.parsed)
            .map(|c| c.not_after)
            .min()
    }
}

/// The human-relevant parts of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    /// Subject distinguished name, one line, RFC 4514 style ("CN=example.com, O=…").
    /// For a certificate that cannot be parsed: "<unparseable certificate: …>".
    pub subject: String,
    /// Issuer distinguished name, same format.
    pub issuer: String,
    /// Subject alternative names: DNS names and IP addresses, in certificate order.
    pub sans: Vec<String>,
    /// Start of validity, unix seconds.
    pub not_before: i64,
    /// End of validity, unix seconds.
    pub not_after: i64,
    /// Subject equals issuer and the signature verifies with the certificate's
    /// own key (when its algorithm is one we can check; otherwise the name
    /// comparison alone decides).
    pub self_signed: bool,
    /// Serial number, lowercase hex without leading zeros.
    pub serial: String,
    /// False when the DER could not be parsed; then only `subject` is
    /// meaningful and the dates are 0.
    pub parsed: bool,
}

impl CertSummary {
    /// Days (fractional) until `not_after`; negative once expired.
    pub fn days_left(&self, now_unix: i64) -> f64 {
        (self.not_after - now_unix) as f64 / 86_400.0
    }
}

/// Why a normal client would refuse the certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsProblem {
    /// A certificate in the chain (the leaf unless an intermediate is the
    /// culprit) expired at `not_after` (unix seconds).
    #[error("{}", self.message_at(now_unix()))]
    Expired { not_after: i64 },
    /// A certificate in the chain only becomes valid at `not_before`.
    #[error("{}", self.message_at(now_unix()))]
    NotYetValid { not_before: i64 },
    /// The leaf certificate is self-signed and not in the trust store.
    #[error("certificate is self-signed and not in the trust store")]
    SelfSigned,
    /// The chain leads to an authority that is not trusted.
    #[error("certificate is issued by an unknown or untrusted authority: {issuer}")]
    UnknownIssuer { issuer: String },
    /// The leaf certificate does not cover the name that was asked for.
    #[error("{}", self.message_at(0))]
    WrongHost {
        expected: String,
        presented: Vec<String>,
    },
    /// Anything else, as a full sentence.
    #[error("{0}")]
    Other(String),
}

impl TlsProblem {
    /// The message with relative times ("3 days ago") computed against
    /// `now_unix` rather than the clock; `Display` uses the current time.
    pub fn message_at(&self, now_unix: i64) -> String {
        match self {
            TlsProblem::Expired { not_after } => {
                let mut s = format!("certificate expired on {}", format_utc(*not_after));
                if now_unix >= *not_after {
                    let _ = write!(s, " ({} ago)", span(now_unix - not_after));
                }
                s
            }
            TlsProblem::NotYetValid { not_before } => {
                let mut s = format!(
                    "certificate is not valid before {}",
                    format_utc(*not_before)
                );
                if now_unix <= *not_before {
                    let _ = write!(s, " (in {})", span(not_before - now_unix));
                }
                s
            }
            TlsProblem::WrongHost {
                expected,
                presented,
            } => {
                if presented.is_empty() {
                    format!(
                        "certificate is not valid for {expected}: it names no host names or IP addresses"
                    )
                } else {
                    format!(
                        "certificate is not valid for {expected}: it is valid for {}",
                        presented.join(", ")
                    )
                }
            }
            other => other.to_string(),
        }
    }
}

/// Why no inspection could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectError {
    /// The server name is neither a DNS name nor an IP address.
    #[error("`{0}` is not a valid TLS server name (a DNS name or an IP address)")]
    InvalidServerName(String),
    /// "host: reason".
    #[error("cannot resolve {0}")]
    Dns(String),
    /// "address: reason" (for the last address tried).
    #[error("cannot connect to {0}")]
    Connect(String),
    /// "address: reason": no TLS spoken, an alert, a bad handshake signature…
    #[error("TLS handshake failed with {0}")]
    Handshake(String),
    /// The whole inspection did not finish within `after`; `during` names
    /// the step that was still waiting.
    #[error("no answer within {} while {during}", humantime::format_duration(*after))]
    Timeout {
        after: Duration,
        during: &'static str,
    },
}

/// Inspects TLS servers. Cheap to clone; the verifier inside (roots parsed
/// into trust anchors) is built once.
#[derive(Clone, Debug)]
pub struct TlsInspector {
    verifier: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
}

impl TlsInspector {
    /// An inspector that trusts `roots`, using `provider` for the handshake
    /// and for signature checks.
    pub fn new(
        roots: Arc<rustls::RootCertStore>,
        provider: Arc<CryptoProvider>,
    ) -> Result<TlsInspector, rustls::client::VerifierBuilderError> {
        let verifier =
            WebPkiServerVerifier::builder_with_provider(roots, provider.clone()).build()?;
        Ok(TlsInspector { verifier, provider })
    }

    /// Connects to `host:port` (an IP address or a name to resolve), performs a
    /// TLS handshake presenting `server_name` (SNI; a DNS name or an IP
    /// address), and reports what was served. Everything, including name
    /// resolution, is bounded by `timeout`.
    pub async fn inspect(
        &self,
        host: &str,
        port: u16,
        server_name: &str,
        timeout: Duration,
    ) -> Result<TlsInspection, InspectError> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| InspectError::InvalidServerName(server_name.to_owned()))?;
        let deadline = Instant::now() + timeout;
        let within = |during: &'static str| timed_out(timeout, during);
        let (tcp, addr) = connect(host, port, deadline, timeout).await?;

        // The recorder holds this connection's verdict, so it (and the config
        // around it) is per inspection; the expensive part, the inner
        // verifier, is shared. Resumption is off: a resumed session presents
        // no certificate, and we want a full handshake every time anyway.
        let recorder = Arc::new(Recorder {
            inner: self.verifier.clone(),
            seen: Mutex::new(None),
        });
        let mut cfg = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| InspectError::Handshake(format!("{addr}: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(recorder.clone())
            .with_no_client_auth();
        cfg.resumption = rustls::client::Resumption::disabled();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));

        let started = Instant::now();
        let mut tls = tokio::time::timeout_at(deadline, connector.connect(name, tcp))
            .await
            .map_err(within("waiting for the TLS handshake"))?
            .map_err(|e| InspectError::Handshake(format!("{addr}: {}", handshake_error(&e))))?;
        let handshake = started.elapsed();

        let (protocol, cipher) = negotiated(tls.get_ref().1);

        // Say goodbye (close_notify, then FIN) within what is left of the
        // budget; whatever happens here changes nothing we learned.
        let _ = tokio::time::timeout_at(deadline, tls.shutdown()).await;

        let seen = recorder
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(seen) = seen else {
            return Err(InspectError::Handshake(format!(
                "{addr}: completed without the server presenting a certificate"
            )));
        };
        let chain: Vec<CertSummary> = seen.chain.iter().map(|c| summarize(c)).collect();
        let now = i64::try_from(seen.now.as_secs()).unwrap_or(i64::MAX);
        let verification = seen
            .verdict
            .map_err(|e| problem(&e, &chain, server_name, now));
        Ok(TlsInspection {
            protocol,
            cipher,
            chain,
            verification,
            handshake,
        })
    }
}

/// The error of an inspection whose whole budget (`after`) ran out `during`
/// one of its steps.
fn timed_out(
    after: Duration,
    during: &'static str,
) -> impl FnOnce(tokio::time::error::Elapsed) -> InspectError {
    move |_| InspectError::Timeout { after, during }
}

/// Resolves `host` (an IPv6 literal may come in brackets) and connects to
/// the first of its addresses that accepts, by `deadline`.
async fn connect(
    host: &str,
    port: u16,
    deadline: Instant,
    timeout: Duration,
) -> Result<(tokio::net::TcpStream, SocketAddr), InspectError> {
    let within = |during: &'static str| timed_out(timeout, during);
    // "[::1]" is how IPv6 literals appear in URLs; accept it here too.
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let addrs: Vec<SocketAddr> =
        tokio::time::timeout_at(deadline, tokio::net::lookup_host((bare, port)))
            .await
            .map_err(within("resolving the host name"))?
            .map_err(|e| InspectError::Dns(format!("{host}: {e}")))?
            .collect();
    if addrs.is_empty() {
        return Err(InspectError::Dns(format!("{host}: no addresses")));
    }

    let mut tcp = None;
    let mut last_err = String::new();
    for addr in &addrs {
        match tokio::time::timeout_at(deadline, tokio::net::TcpStream::connect(addr))
            .await
            .map_err(within("connecting"))?
        {
            Ok(s) => {
                tcp = Some((s, *addr));
                break;
            }
            Err(e) => last_err = format!("{addr}: {e}"),
        }
    }
    let Some((tcp, addr)) = tcp else {
        return Err(InspectError::Connect(last_err));
    };
    let _ = tcp.set_nodelay(true);
    Ok((tcp, addr))
}

/// The protocol version and cipher suite a handshake settled on, as shown.
fn negotiated(conn: &rustls::ClientConnection) -> (String, String) {
    let protocol = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
        Some(v) => format!("{v:?}"),
        None => String::new(),
    };
    let cipher = conn
        .negotiated_cipher_suite()
        .map(|s| {
            let s = s.suite();
            s.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{s:?}"))
        })
        .unwrap_or_default();
    (protocol, cipher)
}

/// Wraps the real verifier: remembers what it was shown and what the real
/// verifier said, then accepts so the handshake can complete. Handshake
/// signatures are still checked for real, so the server must hold the key of
/// the certificate it presents.
#[derive(Debug)]
struct Recorder {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Option<Seen>>,
}

#[derive(Debug)]
struct Seen {
    chain: Vec<CertificateDer<'static>>,
    verdict: Result<(), rustls::Error>,
    now: UnixTime,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map(|_| ());
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(Seen {
            chain,
            verdict,
            now,
        });
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Turns rustls' verdict into a precise problem, using the parsed chain for
/// the details rustls does not carry.
fn problem(err: &rustls::Error, chain: &[CertSummary], server_name: &str, now: i64) -> TlsProblem {
    let leaf = chain.first();
    let leaf_nb = leaf.map_or(0, |l| l.not_before);
    let leaf_na = leaf.map_or(0, |l| l.not_after);
    let rustls::Error::InvalidCertificate(ce) = err else {
        return TlsProblem::Other(format!("certificate rejected: {err}"));
    };
    let unix = |t: &UnixTime| i64::try_from(t.as_secs()).unwrap_or(i64::MAX);
    match ce {
        CertificateError::ExpiredContext { not_after, .. } => TlsProblem::Expired {
            not_after: unix(not_after),
        },
        // Without context: the leaf if it is the expired one, else the
        // earliest expired certificate in the chain.
        CertificateError::Expired => TlsProblem::Expired {
            not_after: if leaf_na < now {
                leaf_na
            } else {
                chain
                    .iter()
                    .filter(|c| c.parsed && c.not_after < now)
                    .map(|c| c.not_after)
                    .min()
                    .unwrap_or(leaf_na)
            },
        },
        CertificateError::NotValidYetContext { not_before, .. } => TlsProblem::NotYetValid {
            not_before: unix(not_before),
        },
        CertificateError::NotValidYet => TlsProblem::NotYetValid {
            not_before: if leaf_nb > now {
                leaf_nb
            } else {
                chain
                    .iter()
                    .filter(|c| c.parsed && c.not_before > now)
                    .map(|c| c.not_before)
                    .max()
                    .unwrap_or(leaf_nb)
            },
        },
        CertificateError::UnknownIssuer => match leaf {
            Some(l) if l.self_signed => TlsProblem::SelfSigned,
            _ => TlsProblem::UnknownIssuer {
                issuer: missing_issuer(chain),
            },
        },
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            TlsProblem::WrongHost {
                expected: server_name.to_owned(),
                presented: leaf.map(|l| l.sans.clone()).unwrap_or_default(),
            }
        }
        // A self-signed leaf can also fail on a signature check when the trust
        // store holds a different certificate with the same name (a machine's
        // own `CN=localhost`, say): for the person reading, it is self-signed.
        _ if leaf.is_some_and(|l| l.self_signed) => TlsProblem::SelfSigned,
        other => TlsProblem::Other(format!("certificate rejected: {other}")),
    }
}

/// The authority the chain stops at: follow issuer links from the leaf
/// through the served certificates; the issuer of the last one reached is the
/// one the client could not find (or, if that last one is a self-signed root,
/// the root itself, which is served but not trusted).
fn missing_issuer(chain: &[CertSummary]) -> String {
    let Some(mut cur) = chain.first() else {
        return String::new();
    };
    for _ in 0..chain.len() {
        if cur.self_signed {
            return cur.subject.clone();
        }
        match chain[1..]
            .iter()
            .find(|c| c.subject == cur.issuer && c != &cur)
        {
            Some(next) => cur = next,
            None => break,
        }
    }
    cur.issuer.clone()
}

fn unparseable(why: String) -> CertSummary {
    CertSummary {
        subject: format!("<unparseable certificate: {why}>"),
        issuer: String::new(),
        sans: Vec::new(),
        not_before: 0,
        not_after: 0,
        self_signed: false,
        serial: String::new(),
        parsed: false,
    }
}

/// Summarises one DER certificate; never panics, whatever the bytes.
fn summarize(der: &[u8]) -> CertSummary {
    let cert = match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => cert,
        Err(e) => return unparseable(e.to_string()),
    };
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(d) => sans.push((*d).to_owned()),
                GeneralName::IPAddress(b) => {
                    if let Ok(v4) = <[u8; 4]>::try_from(*b) {
                        sans.push(IpAddr::from(v4).to_string());
                    } else if let Ok(v6) = <[u8; 16]>::try_from(*b) {
                        sans.push(IpAddr::from(v6).to_string());
                    }
                }
                _ => {}
            }
        }
    }
    CertSummary {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        sans,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        self_signed: is_self_signed(&cert),
        serial: format!("{:x}", cert.tbs_certificate.serial),
        parsed: true,
    }
}

fn is_self_signed(cert: &X509Certificate<'_>) -> bool {
    if cert.subject().as_raw() != cert.issuer().as_raw() {
        return false;
    }
    // A CA can issue a certificate whose subject repeats its own name; only
    // the signature tells the two apart. Unknown algorithm: trust the names.
    own_signature(cert).unwrap_or(true)
}

/// Whether the certificate's signature verifies with its own public key
/// (x509-parser's `verify`, on ring), or `None` if the algorithm is not one it
/// knows.
fn own_signature(cert: &X509Certificate<'_>) -> Option<bool> {
    match cert.verify_signature(None) {
        Ok(()) => Some(true),
        Err(x509_parser::error::X509Error::SignatureVerificationError) => Some(false),
        Err(_) => None,
    }
}

/// [`own_signature`] of a DER certificate; `None` if it does not parse.
#[cfg(test)]
fn signed_by_own_key(cert_der: &[u8]) -> Option<bool> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    own_signature(&cert)
}

/// Makes io errors from the handshake say what went wrong in plain words.
fn handshake_error(e: &std::io::Error) -> String {
    if let Some(rustls::Error::InvalidMessage(_)) =
        e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
    {
        return format!("{e} (the server does not seem to speak TLS on this port)");
    }
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        return "the server closed the connection during the handshake".to_owned();
    }
    e.to_string()
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// "2026-11-20 14:03:07 UTC" for unix seconds (proleptic Gregorian calendar).
fn format_utc(t: i64) -> String {
    format!("{} UTC", crate::builtins::date_time(t, ' '))
}

/// A coarse length of time: "less than a minute", "5 minutes", "3 hours", "6 days".
fn span(secs: i64) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match secs {
        ..60 => "less than a minute".to_owned(),
        60..3600 => plural(secs / 60, "minute"),
        3600..86_400 => plural(secs / 3600, "hour"),
        _ => plural(secs / 86_400, "day"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_formatted_in_utc() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(-1), "1969-12-31 23:59:59 UTC");
        assert_eq!(format_utc(253_402_300_799), "9999-12-31 23:59:59 UTC");
    }

    #[test]
    fn problems_read_as_one_precise_sentence() {
        let t = 1_700_000_000;
        let expired = TlsProblem::Expired { not_after: t };
        assert_eq!(
            expired.message_at(t + 6 * 86_400 + 100),
            "certificate expired on 2023-11-14 22:13:20 UTC (6 days ago)"
        );
        assert_eq!(
            expired.message_at(t + 86_400),
            "certificate expired on 2023-11-14 22:13:20 UTC (1 day ago)"
        );
        assert_eq!(
            expired.message_at(t + 7200),
            "certificate expired on 2023-11-14 22:13:20 UTC (2 hours ago)"
        );
        let early = TlsProblem::NotYetValid { not_before: t };
        assert_eq!(
            early.message_at(t - 3 * 86_400),
            "certificate is not valid before 2023-11-14 22:13:20 UTC (in 3 days)"
        );
        let wrong = TlsProblem::WrongHost {
            expected: "api.example.com".into(),
            presented: vec!["www.example.com".into(), "10.0.0.1".into()],
        };
        assert_eq!(
            wrong.to_string(),
            "certificate is not valid for api.example.com: it is valid for www.example.com, 10.0.0.1"
        );
        let nameless = TlsProblem::WrongHost {
            expected: "a.example".into(),
            presented: vec![],
        };
        assert_eq!(
            nameless.to_string(),
            "certificate is not valid for a.example: it names no host names or IP addresses"
        );
        // Display of the time-relative variants uses the clock.
        assert!(
            expired
                .to_string()
                .starts_with("certificate expired on 2023-11-14 22:13:20 UTC (")
        );
    }

    #[test]
    fn garbage_der_becomes_an_unparseable_summary() {
        for junk in [
            &b""[..],
            b"\x30",
            b"\x30\x03abc",
            b"\xff\xff\xff\xff",
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        ] {
            let s = summarize(junk);
            assert!(!s.parsed);
            assert!(
                s.subject.starts_with("<unparseable certificate: "),
                "{}",
                s.subject
            );
            assert_eq!(signed_by_own_key(junk), None);
        }
    }

    #[test]
    fn self_signed_needs_the_signature_not_just_the_names() {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name = rcgen::DistinguishedName::new();
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "twin");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let ca_sum = summarize(ca.der());
        assert!(ca_sum.self_signed);
        assert_eq!(ca_sum.subject, "CN=twin");

        // Same subject as its issuer, but signed by the CA's key.
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let mut leaf_params =
            rcgen::CertificateParams::new(vec!["twin.example".to_owned()]).unwrap();
        leaf_params.distinguished_name = ca_params.distinguished_name.clone();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
        let leaf_sum = summarize(leaf.der());
        assert_eq!(leaf_sum.subject, leaf_sum.issuer);
        assert!(!leaf_sum.self_signed);
        assert_eq!(leaf_sum.sans, vec!["twin.example".to_owned()]);
    }

    #[test]
    fn missing_issuer_follows_the_served_chain() {
        let cert = |subject: &str, issuer: &str| CertSummary {
            subject: subject.into(),
            issuer: issuer.into(),
            sans: vec![],
            not_before: 0,
            not_after: 0,
            self_signed: subject == issuer,
            serial: "1".into(),
            parsed: true,
        };
        let leaf = cert("CN=leaf", "CN=inter");
        let inter = cert("CN=inter", "CN=root");
        let root = cert("CN=root", "CN=root");
        assert_eq!(missing_issuer(std::slice::from_ref(&leaf)), "CN=inter");
        assert_eq!(missing_issuer(&[leaf.clone(), inter.clone()]), "CN=root");
        assert_eq!(missing_issuer(&[leaf, inter, root]), "CN=root");
    }
}
