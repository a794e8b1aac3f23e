//! HTTP client construction. The TLS configuration (root certificates, crypto
//! provider) is built once per process, on first use, and shared: loading the
//! roots costs about 1.6 ms, thirty times a whole check. Each flow run gets its own session so
//! that it opens fresh connections (keep-alive only between the steps of a run).
//! The network layer knows nothing about flows.
//!
//! [`http`] is the hyper-based session that measures each request's
//! resolve/connect/tls/processing/transfer phases; it shares the same TLS
//! configuration. [`tls_inspect`] reads a server's certificate chain and says what a normal
//! client would conclude about it; it shares the roots loaded here.

pub mod http;
pub mod tls_inspect;
pub mod tls_listener;

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

pub use tls_inspect::TlsInspector;

/// TLS and client settings shared by every flow run. Cheap to clone.
///
/// The root store is built on first use (system roots cost ~1.6 ms to load),
/// so a plain-HTTP probe never pays for it; the runner builds it before it
/// starts timing an HTTPS request, so no measurement includes it. Extra CA
/// files are read and checked up front, so a bad one is a startup error.
#[derive(Clone)]
pub struct HttpFactory {
    inner: Arc<Inner>,
}

struct Inner {
    provider: Arc<rustls::crypto::CryptoProvider>,
    extra_roots: Vec<CertificateDer<'static>>,
    tls: std::sync::OnceLock<Result<Tls, String>>,
    user_agent: String,
}

/// The TLS client configuration and the certificate inspector, sharing one
/// root store and verifier.
pub(crate) struct Tls {
    pub(crate) connector: tokio_rustls::TlsConnector,
    inspector: TlsInspector,
}

/// What the factory needs to know.
#[derive(Clone, Debug, Default)]
pub struct NetOptions {
    /// Extra PEM files with CA certificates to trust (private CAs).
    pub ca_files: Vec<std::path::PathBuf>,
    /// Extra CA certificates to trust, as PEM text held in memory (e.g. a CA
    /// generated at startup). Trusted exactly like `ca_files`.
    pub ca_pems: Vec<String>,
    pub user_agent: String,
}

impl HttpFactory {
    pub fn new(opts: &NetOptions) -> anyhow::Result<HttpFactory> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut extra_roots = Vec::new();
        for path in &opts.ca_files {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| anyhow::anyhow!("cannot read CA file {}: {e}", path.display()))?
                .collect::<Result<_, _>>()
                .map_err(|e| anyhow::anyhow!("bad PEM in CA file {}: {e}", path.display()))?;
            if certs.is_empty() {
                anyhow::bail!("CA file {} holds no certificate", path.display());
            }
            // Checked now, so that a bad file stops the probe at startup.
            let mut check = rustls::RootCertStore::empty();
            for c in certs {
                check
                    .add(c.clone())
                    .map_err(|e| anyhow::anyhow!("bad certificate in {}: {e}", path.display()))?;
                extra_roots.push(c);
            }
        }
        for (i, pem) in opts.ca_pems.iter().enumerate() {
            let n = i + 1;
            let certs: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(pem.as_bytes())
                    .collect::<Result<_, _>>()
                    .map_err(|e| anyhow::anyhow!("in-memory CA PEM #{n} is not valid PEM: {e}"))?;
            if certs.is_empty() {
                anyhow::bail!("in-memory CA PEM #{n} holds no certificate");
            }
            let mut check = rustls::RootCertStore::empty();
            for c in certs {
                check.add(c.clone()).map_err(|e| {
                    anyhow::anyhow!("in-memory CA PEM #{n} holds a bad certificate: {e}")
                })?;
                extra_roots.push(c);
            }
        }
        Ok(HttpFactory {
            inner: Arc::new(Inner {
                provider,
                extra_roots,
                tls: std::sync::OnceLock::new(),
                user_agent: opts.user_agent.clone(),
            }),
        })
    }

    /// The TLS configuration, built on first use.
    pub(crate) fn tls(&self) -> Result<&Tls, String> {
        self.inner
            .tls
            .get_or_init(|| self.build_tls())
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Builds the TLS configuration now if it is not built yet (before a
    /// timed HTTPS request, so the timing never includes loading roots).
    pub fn warm_tls(&self) {
        let _ = self.tls();
    }

    fn build_tls(&self) -> Result<Tls, String> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            // No system store (e.g. a scratch container): Mozilla's roots, compiled in.
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for c in &self.inner.extra_roots {
            let _ = roots.add(c.clone());
        }
        // One store, shared (not copied) by the HTTP client config and the
        // inspector's verifier.
        let roots = Arc::new(roots);
        let provider = self.inner.provider.clone();
        let inspector = TlsInspector::new(roots.clone(), provider.clone())
            .map_err(|e| format!("cannot build the TLS certificate verifier: {e}"))?;
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot configure TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Tls {
            connector: tokio_rustls::TlsConnector::from(Arc::new(cfg)),
            inspector,
        })
    }

    pub(crate) fn user_agent(&self) -> &str {
        &self.inner.user_agent
    }

    /// The certificate inspector, trusting the same roots as the sessions.
    pub fn tls_inspector(&self) -> Result<&TlsInspector, String> {
        self.tls().map(|t| &t.inspector)
    }
}
