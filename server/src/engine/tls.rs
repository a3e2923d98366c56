//! TLS to an engine, as the docker CLI speaks it: the CA it was given (else the system's roots),
//! the client certificate and key when there are some, and no verification of the engine's
//! certificate only when asked (`--tls`/DOCKER_TLS without verify, a context's SkipTLSVerify).

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::target::TlsFiles;

/// The client side of TLS for `files`; the error names the file and what is wrong with it.
pub(crate) fn client_config(files: &TlsFiles) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let builder = if files.skip_verify {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        match &files.ca {
            Some(ca) => {
                for cert in certificates(ca)? {
                    roots.add(cert).map_err(|e| format!("the CA certificate {} is not usable: {e}", ca.display()))?;
                }
            }
            None => {
                // An https:// engine with no CA of its own: the system's, as docker does.
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
            }
        }
        builder.with_root_certificates(roots)
    };
    let config = match (&files.cert, &files.key) {
        (Some(cert), Some(key)) => {
            let chain = certificates(cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("cannot read the client key {}: {}", key.display(), pem_error(e)))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("the client certificate {} and its key do not go together: {e}", cert.display()))?
        }
        (Some(only), None) | (None, Some(only)) => {
            return Err(format!(
                "{} has no partner: a client certificate needs its key and the key its certificate",
                only.display()
            ))
        }
        (None, None) => builder.with_no_client_auth(),
    };
    let mut config = config;
    // No session resumption, as the docker CLI (Go's client has no session cache): a server
    // that verifies client certificates may refuse a resumed session it cannot tie to one.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// The name the engine's certificate must carry: the host of its address (an IP or a DNS name).
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_string()).map_err(|e| format!("{host:?} cannot be checked against a certificate: {e}"))
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read the certificate {}: {}", path.display(), pem_error(e)))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the certificate {} is not valid PEM: {}", path.display(), pem_error(e)))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

fn pem_error(e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM item of this kind in it".to_string(),
        other => format!("{other:?}"),
    }
}

/// Accepts any engine certificate (the user asked not to verify it); the handshake's own
/// signatures are still checked, so the session is at least with the certificate's holder.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
