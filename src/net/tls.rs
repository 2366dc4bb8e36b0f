//! TLS termination with rustls: TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`, and a certificate
//! that can be replaced while running.
//!
//! The certificate lives in a [`CertStore`] that rustls asks on every handshake; a reload
//! swaps the `Arc` inside, so new handshakes get the new certificate and open connections
//! keep theirs. A broken or mismatched pair never replaces a good one.

use crate::config::TlsFiles;
use rustls::SignatureAlgorithm;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::{CertifiedKey, SigningKey};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::{Arc, RwLock};

pub(crate) const ALPN_H2: &[u8] = b"h2";
pub(crate) const ALPN_HTTP1: &[u8] = b"http/1.1";

/// The crypto provider for every TLS use in hookwall: ring's, with AES-128-GCM ahead of
/// AES-256-GCM in each family. Both are strong; the SHA-256 suites' key schedule runs on the
/// CPU's SHA extensions where SHA-384's cannot, and AES-128 has 10 rounds to AES-256's 14
/// (benches/README.md: the handshake profile spent 7% in SHA-512 blocks).
pub(crate) fn provider() -> Arc<CryptoProvider> {
    use rustls::crypto::ring::cipher_suite::*;
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = vec![
        TLS13_AES_128_GCM_SHA256,
        TLS13_AES_256_GCM_SHA384,
        TLS13_CHACHA20_POLY1305_SHA256,
        TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ];
    Arc::new(provider)
}

/// A certificate and key as loaded, with its expiry for the metric.
#[derive(Clone)]
pub struct LoadedCert {
    pub(crate) certified: Arc<CertifiedKey>,
    /// `notAfter` of the leaf certificate, Unix seconds.
    pub(crate) not_after: i64,
}

/// Why a certificate pair could not be loaded or TLS set up. Each message says what to fix;
/// [`TlsError::Files`] adds which files and keys were read.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("server.tls.{key}: cannot read {}: {source}", path.display())]
    Read {
        key: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{source} (server.tls.cert_file = {}, server.tls.key_file = {})", cert_file.display(), key_file.display())]
    Files {
        cert_file: std::path::PathBuf,
        key_file: std::path::PathBuf,
        source: Box<TlsError>,
    },
    #[error("the certificate file is not valid PEM: {0}")]
    CertificatePem(rustls_pki_types::pem::Error),
    #[error("the certificate file holds no CERTIFICATE block; give the PEM chain, leaf first")]
    NoCertificate,
    #[error(
        "the key file holds no usable PRIVATE KEY block ({0}); give the PEM key of the certificate"
    )]
    KeyPem(rustls_pki_types::pem::Error),
    #[error("the leaf certificate cannot be parsed: {0}")]
    Certificate(String),
    #[error("the private key is not usable: {0}")]
    Key(rustls::Error),
    /// Shown without rustls's own text, which is a debug form (`KeyMismatch`).
    #[error(
        "the private key does not belong to the certificate; give the key the certificate was issued for"
    )]
    KeyMismatch(#[source] rustls::Error),
    #[error("TLS setup failed: {0}")]
    Setup(rustls::Error),
    #[error("could not generate a self-signed certificate: {0}")]
    Generate(String),
}

/// Loads and checks a PEM certificate chain and key. Errors name the file and the fix.
pub(crate) fn load_pem_files(files: &TlsFiles) -> Result<LoadedCert, TlsError> {
    let read = |key: &'static str, path: &std::path::Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            key,
            path: path.to_path_buf(),
            source,
        })
    };
    let cert_pem = read("cert_file", &files.cert_file)?;
    let key_pem = read("key_file", &files.key_file)?;
    load_pem(&cert_pem, &key_pem).map_err(|source| TlsError::Files {
        cert_file: files.cert_file.clone(),
        key_file: files.key_file.clone(),
        source: Box::new(source),
    })
}

/// Builds a certified key from PEM bytes: the chain (leaf first) and its private key.
pub(crate) fn load_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<LoadedCert, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(TlsError::CertificatePem)?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(TlsError::KeyPem)?;
    load_der(chain, key)
}

/// Builds a certified key from DER (the embedded default's generated certificate).
pub(crate) fn load_der(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<LoadedCert, TlsError> {
    let not_after = x509_parser::parse_x509_certificate(&chain[0])
        .map_err(|err| TlsError::Certificate(err.to_string()))?
        .1
        .validity()
        .not_after
        .timestamp();
    let signing_key = signing_key(key)?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified.keys_match().map_err(TlsError::KeyMismatch)?;
    Ok(LoadedCert {
        certified: Arc::new(certified),
        not_after,
    })
}

/// The certificate's private key, ready to sign handshakes. An RSA key signs through
/// aws-lc (BoringSSL's RSA), which does a TLS handshake's private-key operation in ~55 % of
/// ring's time (benches/README.md, round 3); every other key, and all the rest of TLS, stays
/// on ring's provider.
fn signing_key(key: PrivateKeyDer<'static>) -> Result<Arc<dyn SigningKey>, TlsError> {
    let on_ring = provider()
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(TlsError::Key)?;
    if on_ring.algorithm() != SignatureAlgorithm::RSA {
        return Ok(on_ring);
    }
    rustls::crypto::aws_lc_rs::sign::any_supported_type(&key).map_err(TlsError::Key)
}

/// Makes ring's provider (as [`provider`] orders it) the process default, for the libraries
/// that build their own TLS clients without naming one (the Redis client, for `rediss://`):
/// with two crypto libraries compiled in, rustls would not choose for them. Idempotent.
pub(crate) fn install_process_default() {
    let _ = CryptoProvider::install_default(Arc::unwrap_or_clone(provider()));
}

/// The serving certificate, asked by rustls on every handshake.
#[derive(Debug)]
pub(crate) struct CertStore {
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertStore {
    pub(crate) fn new(certified: Arc<CertifiedKey>) -> Arc<CertStore> {
        Arc::new(CertStore {
            current: RwLock::new(certified),
        })
    }

    /// New handshakes use `certified` from now on; open connections are not touched.
    pub(crate) fn replace(&self, certified: Arc<CertifiedKey>) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = certified;
    }

    pub(crate) fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The rustls server config: TLS 1.3 and 1.2, ALPN h2 then http/1.1, stateless session
/// tickets so returning senders resume cheaply.
pub(crate) fn server_config(store: Arc<CertStore>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Setup)?
        .with_no_client_auth()
        .with_cert_resolver(store);
    config.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP1.to_vec()];
    // Our order (see `provider`) rather than the client's.
    config.ignore_client_order = true;
    // Stateless tickets whose key rustls rotates every 6 hours (the previous key still
    // decrypts until it expires): no state shared between workers or replicas.
    config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(TlsError::Setup)?;
    Ok(Arc::new(config))
}

/// A self-signed certificate for localhost and 127.0.0.1, made at start (embedded default).
pub(crate) fn self_signed_localhost() -> Result<LoadedCert, TlsError> {
    let generated = rcgen::generate_simple_self_signed(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])
    .map_err(|err| TlsError::Generate(err.to_string()))?;
    let key = PrivateKeyDer::try_from(generated.signing_key.serialize_der())
        .map_err(|err| TlsError::Generate(err.to_string()))?;
    load_der(vec![generated.cert.der().clone()], key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem_pair(names: &[&str]) -> (String, String) {
        let generated = rcgen::generate_simple_self_signed(
            names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        )
        .unwrap();
        (generated.cert.pem(), generated.signing_key.serialize_pem())
    }

    /// A client of rustls's defaults (offering AES-256-GCM first) trusting `cert_pem`.
    fn client_config(
        cert_pem: &str,
        version: &'static rustls::SupportedProtocolVersion,
    ) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(cert_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(&[version])
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }

    /// Runs a handshake in memory, then lets the client read what followed (TLS 1.3 tickets).
    fn connect(
        client: &Arc<rustls::ClientConfig>,
        server: &Arc<rustls::ServerConfig>,
    ) -> (rustls::ClientConnection, rustls::ServerConnection) {
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let mut client = rustls::ClientConnection::new(Arc::clone(client), name).unwrap();
        let mut server = rustls::ServerConnection::new(Arc::clone(server)).unwrap();
        for _ in 0..10 {
            let mut wire = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut wire).unwrap();
            }
            server.read_tls(&mut wire.as_slice()).unwrap();
            server.process_new_packets().unwrap();
            let mut wire = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut wire).unwrap();
            }
            client.read_tls(&mut wire.as_slice()).unwrap();
            client.process_new_packets().unwrap();
            if !client.is_handshaking() && !server.is_handshaking() && !server.wants_write() {
                break;
            }
        }
        assert!(!client.is_handshaking() && !server.is_handshaking());
        (client, server)
    }

    #[test]
    fn prefers_aes_128_gcm_and_lets_returning_senders_resume() {
        let (cert, key) = pem_pair(&["localhost"]);
        let loaded = load_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        let server = server_config(CertStore::new(loaded.certified)).unwrap();
        for (version, suite) in [
            (
                &rustls::version::TLS13,
                rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
            ),
            (
                &rustls::version::TLS12,
                rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            ),
        ] {
            let client = client_config(&cert, version);
            let (first, _) = connect(&client, &server);
            assert_eq!(first.negotiated_cipher_suite().unwrap().suite(), suite);
            assert_eq!(first.handshake_kind(), Some(rustls::HandshakeKind::Full));
            let (second, _) = connect(&client, &server);
            assert_eq!(
                second.handshake_kind(),
                Some(rustls::HandshakeKind::Resumed),
                "{version:?}: a returning sender resumes its session"
            );
        }
    }

    /// An RSA-2048 certificate and key made by openssl (rcgen here, on ring, cannot make
    /// RSA keys).
    fn rsa_pem_pair() -> (String, String) {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("rsa.crt"), dir.path().join("rsa.key"));
        let made = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args([
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost",
            ])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl (Debian's openssl package) makes the RSA test certificate");
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        (
            std::fs::read_to_string(cert).unwrap(),
            std::fs::read_to_string(key).unwrap(),
        )
    }

    #[test]
    fn an_rsa_certificate_signs_tls_12_and_13_handshakes_a_ring_client_accepts() {
        let (cert, key) = rsa_pem_pair();
        let loaded = load_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        assert_eq!(loaded.certified.key.algorithm(), SignatureAlgorithm::RSA);

        let server = server_config(CertStore::new(loaded.certified)).unwrap();
        for (version, suite) in [
            (
                &rustls::version::TLS13,
                rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
            ),
            (
                &rustls::version::TLS12,
                rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            ),
        ] {
            // The client (on ring) checks the handshake signature aws-lc made.
            let (client, _) = connect(&client_config(&cert, version), &server);
            assert_eq!(client.negotiated_cipher_suite().unwrap().suite(), suite);
        }

        let (cert, key) = pem_pair(&["localhost"]);
        let ecdsa = load_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        assert_eq!(ecdsa.certified.key.algorithm(), SignatureAlgorithm::ECDSA);
    }

    #[test]
    fn loads_a_matching_pair_and_reads_its_expiry() {
        let (cert, key) = pem_pair(&["localhost"]);
        let loaded = load_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        assert!(loaded.not_after > 1_700_000_000);
    }

    #[test]
    fn refuses_a_key_of_another_certificate() {
        let (cert, _) = pem_pair(&["localhost"]);
        let (_, other_key) = pem_pair(&["localhost"]);
        let err = load_pem(cert.as_bytes(), other_key.as_bytes())
            .err()
            .expect("mismatched pair must fail");
        assert!(matches!(err, TlsError::KeyMismatch(_)), "{err}");
        assert!(err.to_string().contains("does not belong"), "{err}");
    }

    #[test]
    fn refuses_files_without_pem_blocks() {
        let (_, key) = pem_pair(&["localhost"]);
        let err = load_pem(b"not a certificate", key.as_bytes())
            .err()
            .expect("garbage must fail");
        assert!(matches!(err, TlsError::NoCertificate), "{err}");
        assert!(err.to_string().contains("no CERTIFICATE"), "{err}");
    }

    #[test]
    fn store_replaces_the_certificate_for_new_lookups() {
        let (cert_a, key_a) = pem_pair(&["a.example"]);
        let (cert_b, key_b) = pem_pair(&["b.example"]);
        let a = load_pem(cert_a.as_bytes(), key_a.as_bytes()).unwrap();
        let b = load_pem(cert_b.as_bytes(), key_b.as_bytes()).unwrap();
        let store = CertStore::new(a.certified.clone());
        assert!(Arc::ptr_eq(&store.current(), &a.certified));
        store.replace(b.certified.clone());
        assert!(Arc::ptr_eq(&store.current(), &b.certified));
    }
}
