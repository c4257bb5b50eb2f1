//! The server's certificate and key, read once at start.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, Result};

/// Where the certificate chain and private key are, as PEM files.
#[derive(Clone, Debug)]
pub struct TlsConfig {
    /// The certificate chain, the server's own certificate first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl TlsConfig {
    /// Reads both files and builds the rustls configuration. Each failure
    /// is one line that names the file and what to do.
    pub(crate) fn load(&self) -> Result<Arc<ServerConfig>> {
        let certs = read_certs(&self.cert)?;
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|e| {
            Error::Tls(format!(
                "cannot read a private key from {}: {} (give the key in PEM with --tls-key)",
                self.key.display(),
                pem_error(&e)
            ))
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| {
                Error::Tls(format!(
                    "the key in {} does not fit the certificate in {}: {e}",
                    self.key.display(),
                    self.cert.display()
                ))
            })?;
        // HTTP/1.1 only: the page and the WebSocket upgrade both need it.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let bad = |why: String| {
        Error::Tls(format!(
            "cannot read a certificate from {}: {why} (give the certificate chain in PEM with --tls-cert)",
            path.display()
        ))
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(pem_error(&e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(pem_error(&e)))?;
    if certs.is_empty() {
        return Err(bad("no CERTIFICATE section in it".into()));
    }
    Ok(certs)
}

fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error as Pem;
    match e {
        Pem::Io(io) => io.to_string(),
        Pem::NoItemsFound => "no PEM section of the right kind in it".into(),
        other => format!("not valid PEM ({other:?})"),
    }
}
