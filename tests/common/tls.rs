//! A self-signed certificate made for each test run, and a real TLS
//! WebSocket client (rustls under tungstenite) that trusts it.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use tungstenite::WebSocket;

use super::WAIT;

pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;
pub type Wss = WebSocket<TlsStream>;

/// A certificate for `localhost` and 127.0.0.1, its key, and the files
/// the server reads them from (removed on drop).
pub struct TestCert {
    pub cert: PathBuf,
    pub key: PathBuf,
    der: CertificateDer<'static>,
}

impl TestCert {
    pub fn new() -> TestCert {
        static N: AtomicUsize = AtomicUsize::new(0);
        let made = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])
        .expect("a self-signed certificate");
        let stem = std::env::temp_dir().join(format!(
            "wshub-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let cert = stem.with_extension("cert.pem");
        let key = stem.with_extension("key.pem");
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        TestCert {
            cert,
            key,
            der: made.cert.der().clone(),
        }
    }

    /// A client configuration that trusts this certificate only.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }

    /// A TLS connection to `addr`, handshake not yet run (it runs on the
    /// first read or write).
    pub fn tls_stream(&self, addr: SocketAddr) -> TlsStream {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        tcp.set_write_timeout(Some(WAIT)).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let conn = ClientConnection::new(self.client_config(), name).unwrap();
        StreamOwned::new(conn, tcp)
    }

    /// Opens a wss:// WebSocket to `addr` at `path`.
    pub fn connect(&self, addr: SocketAddr, path: &str) -> Wss {
        let url = format!("wss://localhost:{}{path}", addr.port());
        let (ws, _) = tungstenite::client(url.as_str(), self.tls_stream(addr))
            .expect("WebSocket handshake over TLS");
        ws
    }
}

impl Drop for TestCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.cert);
        let _ = std::fs::remove_file(&self.key);
    }
}
