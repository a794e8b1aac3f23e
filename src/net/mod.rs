//! HTTP client construction. The TLS configuration (root certificates, crypto
//! provider) is built once per process and shared: loading the roots costs about
//! 1.6 ms, thirty times a whole check. Each flow run gets its own session so
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

/// TLS and client settings shared by every flow run.
#[derive(Clone)]
pub struct HttpFactory {
    tls: Arc<rustls::ClientConfig>,
    /// Built in `new` from the same roots and provider as `tls`, so that its
    /// certificate verifier is also built once per process.
    inspector: TlsInspector,
    user_agent: String,
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
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            // No system store (e.g. a scratch container): Mozilla's roots, compiled in.
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for path in &opts.ca_files {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| anyhow::anyhow!("cannot read CA file {}: {e}", path.display()))?
                .collect::<Result<_, _>>()
                .map_err(|e| anyhow::anyhow!("bad PEM in CA file {}: {e}", path.display()))?;
            if certs.is_empty() {
                anyhow::bail!("CA file {} holds no certificate", path.display());
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| anyhow::anyhow!("bad certificate in {}: {e}", path.display()))?;
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
            for c in certs {
                roots.add(c).map_err(|e| {
                    anyhow::anyhow!("in-memory CA PEM #{n} holds a bad certificate: {e}")
                })?;
            }
        }
        // One store, shared (not copied) by the HTTP client config and the
        // inspector's verifier.
        let roots = Arc::new(roots);
        let inspector = TlsInspector::new(roots.clone(), provider.clone())
            .map_err(|e| anyhow::anyhow!("cannot build the TLS certificate verifier: {e}"))?;
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(HttpFactory {
            tls: Arc::new(cfg),
            inspector,
            user_agent: opts.user_agent.clone(),
        })
    }

    /// The certificate inspector, trusting the same roots as the sessions.
    pub fn tls_inspector(&self) -> &TlsInspector {
        &self.inspector
    }
}
