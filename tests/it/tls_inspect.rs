//! The TLS inspector against in-process TLS servers on 127.0.0.1:0, with
//! certificates generated per test by rcgen: one case per verdict, plus the
//! ways a connection can fail before a certificate is seen.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use smokeprobe::net::tls_inspect::{InspectError, TlsInspection, TlsProblem};
use smokeprobe::net::{HttpFactory, NetOptions, TlsInspector};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use x509_parser::time::ASN1Time;

const DAY: i64 = 86_400;
const TIMEOUT: Duration = Duration::from_secs(10);

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// rcgen wants `time::OffsetDateTime`, which is not a dependency of ours;
/// x509-parser hands one out.
fn at(unix: i64) -> ASN1Time {
    ASN1Time::from_timestamp(unix).unwrap()
}

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
    pem: String,
}

fn ca(cn: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    let cert = params.self_signed(&key).unwrap();
    Ca {
        der: cert.der().clone(),
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

struct Leaf {
    der: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    not_before: i64,
    not_after: i64,
}

/// A leaf for `sans`, valid from `not_before` to `not_after` (unix seconds),
/// signed by `ca` or, without one, by itself.
fn leaf(ca: Option<&Ca>, sans: &[&str], not_before: i64, not_after: i64) -> Leaf {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "smokeprobe test leaf");
    params.not_before = at(not_before).to_datetime();
    params.not_after = at(not_after).to_datetime();
    let cert = match ca {
        Some(ca) => params.signed_by(&key, &ca.issuer).unwrap(),
        None => params.self_signed(&key).unwrap(),
    };
    Leaf {
        der: cert.der().clone(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        not_before,
        not_after,
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS server that answers every HTTP/1.1 request with "ok"; the accept
/// loop lives as long as the test's runtime.
async fn serve_tls_versions(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> SocketAddr {
    let cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(|_req| async {
                    Ok::<_, Infallible>(hyper::Response::new("ok".to_owned()))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    addr
}

async fn serve_tls(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> SocketAddr {
    serve_tls_versions(chain, key, rustls::DEFAULT_VERSIONS).await
}

fn factory(ca_pems: Vec<String>) -> HttpFactory {
    HttpFactory::new(&NetOptions {
        ca_pems,
        user_agent: "smokeprobe-test".into(),
        ..NetOptions::default()
    })
    .unwrap()
}

fn inspector(ca: &Ca) -> TlsInspector {
    factory(vec![ca.pem.clone()])
        .tls_inspector()
        .expect("TLS configuration builds")
        .clone()
}

async fn inspect_leaf(ca: &Ca, leaf: &Leaf, server_name: &str) -> TlsInspection {
    let addr = serve_tls(vec![leaf.der.clone(), ca.der.clone()], leaf.key.clone_key()).await;
    inspector(ca)
        .inspect("127.0.0.1", addr.port(), server_name, TIMEOUT)
        .await
        .unwrap()
}

/// "2026-11-20 14:03:07 UTC", computed with the `time` crate rcgen uses, as
/// an independent check of the inspector's own formatting.
fn utc(unix: i64) -> String {
    let t = at(unix).to_datetime();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[tokio::test]
async fn valid_chain_is_reported_leaf_first_and_trusted() {
    let ca = ca("smokeprobe test CA");
    let now = now();
    let leaf = leaf(
        Some(&ca),
        &["localhost", "127.0.0.1"],
        now - DAY,
        now + 90 * DAY,
    );
    let addr = serve_tls(vec![leaf.der.clone(), ca.der.clone()], leaf.key.clone_key()).await;
    let insp = inspector(&ca);
    for name in ["127.0.0.1", "localhost"] {
        let i = insp
            .inspect("127.0.0.1", addr.port(), name, TIMEOUT)
            .await
            .unwrap();
        assert_eq!(i.verification, Ok(()), "for {name}");
        assert_eq!(i.protocol, "TLSv1.3");
        assert!(i.cipher.starts_with("TLS13_"), "{}", i.cipher);
        assert!(i.handshake > Duration::ZERO && i.handshake < TIMEOUT);
        assert_eq!(i.chain.len(), 2);
        let (l, c) = (&i.chain[0], &i.chain[1]);
        assert_eq!(l.subject, "CN=smokeprobe test leaf");
        assert_eq!(l.issuer, "CN=smokeprobe test CA");
        assert_eq!(l.sans, ["localhost", "127.0.0.1"]);
        assert!(l.parsed && !l.self_signed);
        assert!(!l.serial.is_empty() && l.serial.chars().all(|c| c.is_ascii_hexdigit()));
        assert!((l.not_before - leaf.not_before).abs() <= 1);
        assert!((l.not_after - leaf.not_after).abs() <= 1);
        assert!(
            (l.days_left(now) - 90.0).abs() < 0.001,
            "{}",
            l.days_left(now)
        );
        assert_eq!(c.subject, "CN=smokeprobe test CA");
        assert_eq!(c.issuer, c.subject);
        assert!(c.self_signed);
        assert!(c.sans.is_empty());
        assert_eq!(i.earliest_not_after(), Some(l.not_after.min(c.not_after)));
    }
}

#[tokio::test]
async fn certificate_expiring_soon_is_still_valid_with_five_days_left() {
    let ca = ca("smokeprobe test CA");
    let now = now();
    let leaf = leaf(Some(&ca), &["127.0.0.1"], now - DAY, now + 5 * DAY);
    let i = inspect_leaf(&ca, &leaf, "127.0.0.1").await;
    assert_eq!(i.verification, Ok(()));
    assert!((i.chain[0].not_after - leaf.not_after).abs() <= 1);
    assert!((i.chain[0].days_left(now) - 5.0).abs() < 0.001);
    assert_eq!(i.earliest_not_after(), Some(i.chain[0].not_after));
}

#[tokio::test]
async fn expired_certificate_says_when() {
    let ca = ca("smokeprobe test CA");
    let now = now();
    let leaf = leaf(Some(&ca), &["127.0.0.1"], now - 30 * DAY, now - DAY - 60);
    let i = inspect_leaf(&ca, &leaf, "127.0.0.1").await;
    let l = &i.chain[0];
    assert!((l.not_after - leaf.not_after).abs() <= 1);
    assert!(l.days_left(now) < -1.0 && l.days_left(now) > -1.01);
    let problem = i.verification.unwrap_err();
    assert_eq!(
        problem,
        TlsProblem::Expired {
            not_after: l.not_after
        }
    );
    assert_eq!(
        problem.to_string(),
        format!("certificate expired on {} (1 day ago)", utc(l.not_after))
    );
}

#[tokio::test]
async fn certificate_not_yet_valid_says_when() {
    let ca = ca("smokeprobe test CA");
    let now = now();
    let leaf = leaf(
        Some(&ca),
        &["127.0.0.1"],
        now + 2 * DAY + 3600,
        now + 90 * DAY,
    );
    let i = inspect_leaf(&ca, &leaf, "127.0.0.1").await;
    let problem = i.verification.unwrap_err();
    assert_eq!(
        problem,
        TlsProblem::NotYetValid {
            not_before: i.chain[0].not_before
        }
    );
    assert_eq!(
        problem.to_string(),
        format!(
            "certificate is not valid before {} (in 2 days)",
            utc(leaf.not_before)
        )
    );
}

#[tokio::test]
async fn self_signed_leaf_is_named_as_such() {
    let trusted = ca("smokeprobe test CA");
    let now = now();
    let leaf = leaf(None, &["127.0.0.1"], now - DAY, now + 90 * DAY);
    let addr = serve_tls(vec![leaf.der.clone()], leaf.key.clone_key()).await;
    let i = inspector(&trusted)
        .inspect("127.0.0.1", addr.port(), "127.0.0.1", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(i.chain.len(), 1);
    assert!(i.chain[0].self_signed);
    let problem = i.verification.unwrap_err();
    assert_eq!(problem, TlsProblem::SelfSigned);
    assert_eq!(
        problem.to_string(),
        "certificate is self-signed and not in the trust store"
    );
}

#[tokio::test]
async fn expired_self_signed_leaf_reports_the_expiry_first() {
    // rustls checks validity dates before looking for an issuer; the verdict
    // follows it, and the chain still shows the certificate is self-signed.
    let trusted = ca("smokeprobe test CA");
    let now = now();
    let leaf = leaf(None, &["127.0.0.1"], now - 30 * DAY, now - 3 * DAY - 60);
    let addr = serve_tls(vec![leaf.der.clone()], leaf.key.clone_key()).await;
    let i = inspector(&trusted)
        .inspect("127.0.0.1", addr.port(), "127.0.0.1", TIMEOUT)
        .await
        .unwrap();
    assert!(i.chain[0].self_signed);
    let problem = i.verification.unwrap_err();
    assert_eq!(
        problem,
        TlsProblem::Expired {
            not_after: leaf.not_after
        }
    );
    assert_eq!(
        problem.to_string(),
        format!(
            "certificate expired on {} (3 days ago)",
            utc(leaf.not_after)
        )
    );
}

#[tokio::test]
async fn certificate_from_an_untrusted_ca_names_the_issuer() {
    let trusted = ca("smokeprobe test CA");
    let other = ca("some other CA");
    let now = now();
    let leaf = leaf(Some(&other), &["127.0.0.1"], now - DAY, now + 90 * DAY);
    let addr = serve_tls(vec![leaf.der.clone()], leaf.key.clone_key()).await;
    let i = inspector(&trusted)
        .inspect("127.0.0.1", addr.port(), "127.0.0.1", TIMEOUT)
        .await
        .unwrap();
    let problem = i.verification.unwrap_err();
    assert_eq!(
        problem,
        TlsProblem::UnknownIssuer {
            issuer: "CN=some other CA".into()
        }
    );
    assert_eq!(
        problem.to_string(),
        "certificate is issued by an unknown or untrusted authority: CN=some other CA"
    );
}

#[tokio::test]
async fn certificate_for_another_host_lists_what_it_covers() {
    let ca = ca("smokeprobe test CA");
    let now = now();
    let leaf = leaf(
        Some(&ca),
        &["wrong-host.invalid"],
        now - DAY,
        now + 90 * DAY,
    );
    let i = inspect_leaf(&ca, &leaf, "127.0.0.1").await;
    assert_eq!(i.chain[0].sans, ["wrong-host.invalid"]);
    let problem = i.verification.unwrap_err();
    assert_eq!(
        problem,
        TlsProblem::WrongHost {
            expected: "127.0.0.1".into(),
            presented: vec!["wrong-host.invalid".into()],
        }
    );
    assert_eq!(
        problem.to_string(),
        "certificate is not valid for 127.0.0.1: it is valid for wrong-host.invalid"
    );
}

#[tokio::test]
async fn tls12_server_reports_its_protocol_and_cipher() {
    let ca = ca("smokeprobe test CA");
    let now = now();
    let leaf = leaf(Some(&ca), &["127.0.0.1"], now - DAY, now + 90 * DAY);
    let addr = serve_tls_versions(
        vec![leaf.der.clone(), ca.der.clone()],
        leaf.key.clone_key(),
        &[&rustls::version::TLS12],
    )
    .await;
    let i = inspector(&ca)
        .inspect("127.0.0.1", addr.port(), "127.0.0.1", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(i.protocol, "TLSv1.2");
    assert!(
        i.cipher.starts_with("TLS_ECDHE_ECDSA_WITH_"),
        "{}",
        i.cipher
    );
    assert_eq!(i.verification, Ok(()));
    assert_eq!(i.chain.len(), 2);
}

#[tokio::test]
async fn server_that_never_answers_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept and hold connections, never writing a byte.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let ca = ca("smokeprobe test CA");
    let limit = Duration::from_millis(300);
    let started = Instant::now();
    let err = inspector(&ca)
        .inspect("127.0.0.1", port, "127.0.0.1", limit)
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(
        err,
        InspectError::Timeout {
            after: limit,
            during: "waiting for the TLS handshake"
        }
    );
    assert_eq!(
        err.to_string(),
        "no answer within 300ms while waiting for the TLS handshake"
    );
    assert!(
        took >= limit && took < limit + Duration::from_secs(2),
        "{took:?}"
    );
}

#[tokio::test]
async fn plain_http_server_is_a_handshake_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
                let _ = s.shutdown().await;
            });
        }
    });
    let ca = ca("smokeprobe test CA");
    let err = inspector(&ca)
        .inspect("127.0.0.1", port, "127.0.0.1", TIMEOUT)
        .await
        .unwrap_err();
    let InspectError::Handshake(detail) = &err else {
        panic!("expected a handshake error, got {err:?}");
    };
    assert!(
        detail.starts_with(&format!("127.0.0.1:{port}: ")),
        "{detail}"
    );
    assert!(
        err.to_string()
            .ends_with("(the server does not seem to speak TLS on this port)"),
        "{err}"
    );
    assert!(!err.to_string().contains('\n'));
}

#[tokio::test]
async fn closed_port_is_a_connect_error() {
    let port = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let ca = ca("smokeprobe test CA");
    let err = inspector(&ca)
        .inspect("127.0.0.1", port, "127.0.0.1", TIMEOUT)
        .await
        .unwrap_err();
    let InspectError::Connect(detail) = &err else {
        panic!("expected a connect error, got {err:?}");
    };
    assert!(
        detail.starts_with(&format!("127.0.0.1:{port}: ")),
        "{detail}"
    );
    assert!(err.to_string().starts_with("cannot connect to 127.0.0.1:"));
}

#[tokio::test]
async fn invalid_server_name_is_refused_before_connecting() {
    let ca = ca("smokeprobe test CA");
    let err = inspector(&ca)
        .inspect("127.0.0.1", 1, "not a host name", TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        InspectError::InvalidServerName("not a host name".into())
    );
}

#[tokio::test]
async fn http_client_trusts_in_memory_ca_pems() {
    let ca = ca("smokeprobe test CA");
    let now = now();
    let leaf = leaf(
        Some(&ca),
        &["localhost", "127.0.0.1"],
        now - DAY,
        now + 90 * DAY,
    );
    let addr = serve_tls(vec![leaf.der.clone(), ca.der.clone()], leaf.key.clone_key()).await;
    let url = format!("https://127.0.0.1:{}/", addr.port());

    use smokeprobe::net::http::{Request, SessionOptions};
    let get = || Request::new(http::Method::GET, url::Url::parse(&url).unwrap());
    let opts = SessionOptions::default();
    let resp = factory(vec![ca.pem.clone()])
        .session()
        .send(get(), &opts)
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(&resp.body[..], b"ok");

    // Without the CA the same server is refused: trust really comes from ca_pems.
    let refused = factory(Vec::new()).session().send(get(), &opts).await;
    assert!(refused.is_err());
}

#[test]
fn bad_ca_pems_are_reported_by_position() {
    let ca = ca("smokeprobe test CA");
    let err = HttpFactory::new(&NetOptions {
        ca_pems: vec![ca.pem.clone(), "no certificate here".into()],
        ..NetOptions::default()
    })
    .err()
    .unwrap();
    assert_eq!(err.to_string(), "in-memory CA PEM #2 holds no certificate");

    let broken = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
    let err = HttpFactory::new(&NetOptions {
        ca_pems: vec![broken.into()],
        ..NetOptions::default()
    })
    .err()
    .unwrap();
    assert!(
        err.to_string()
            .starts_with("in-memory CA PEM #1 is not valid PEM: "),
        "{err}"
    );
}
