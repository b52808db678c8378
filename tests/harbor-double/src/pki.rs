//! Keys and certificates: the RS256 token-signing key (made once per process with the
//! `openssl` CLI, because RSA key generation is slow and ring cannot generate RSA keys), its
//! docker/libtrust key id, JWT signing and checking, and the per-double TLS certificates (made
//! with rcgen) for each [`TlsMode`](crate::TlsMode). Nothing here may touch the network.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use ring::signature::{self, RsaKeyPair, UnparsedPublicKey};

use crate::TlsMode;
use crate::util;

/// The token-signing key shared by every double in the process.
pub(crate) struct TokenKey {
    pair: RsaKeyPair,
    /// The self-signed certificate of the key: the registry's `rootcertbundle`.
    pub(crate) cert_pem: String,
    /// docker/libtrust key id, the JWT header's `kid` (docs/harbor-api.md#the-token-service).
    pub(crate) kid: String,
}

static TOKEN_KEY: OnceLock<TokenKey> = OnceLock::new();

pub(crate) fn token_key() -> &'static TokenKey {
    TOKEN_KEY.get_or_init(make_token_key)
}

fn make_token_key() -> TokenKey {
    let dir = std::env::temp_dir().join(format!(
        "harbor-double-key-{}-{}",
        std::process::id(),
        util::hex(&util::random_bytes(6))
    ));
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("harbor-double: cannot create {}: {e}", dir.display()));
    let key = dir.join("token.key.der");
    let spki = dir.join("token.pub.der");
    let crt = dir.join("token.crt");
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-outform",
        "DER",
        "-out",
        &s(&key),
    ]);
    openssl(&[
        "pkey",
        "-inform",
        "DER",
        "-in",
        &s(&key),
        "-pubout",
        "-outform",
        "DER",
        "-out",
        &s(&spki),
    ]);
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-keyform",
        "DER",
        "-key",
        &s(&key),
        "-subj",
        "/CN=harbor-token-issuer",
        "-days",
        "3650",
        "-out",
        &s(&crt),
    ]);
    let read = |p: &Path| {
        std::fs::read(p)
            .unwrap_or_else(|e| panic!("harbor-double: cannot read {}: {e}", p.display()))
    };
    // OpenSSL 3.0 writes a DER RSA key as PKCS#1 RSAPrivateKey, which ring reads with
    // from_der (from_pkcs8 would need an extra `openssl pkcs8 -topk8` run).
    let der = read(&key);
    let spki_der = read(&spki);
    let cert_pem = String::from_utf8_lossy(&read(&crt)).into_owned();
    let _ = std::fs::remove_dir_all(&dir);
    let pair = RsaKeyPair::from_der(&der)
        .or_else(|_| RsaKeyPair::from_pkcs8(&der))
        .unwrap_or_else(|e| panic!("harbor-double: openssl made a key ring rejects: {e}"));
    TokenKey {
        pair,
        cert_pem,
        kid: libtrust_kid(&spki_der),
    }
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("harbor-double: cannot run openssl (is it installed?): {e}"));
    assert!(
        out.status.success(),
        "harbor-double: openssl {} failed: {}",
        args.first().copied().unwrap_or_default(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// docker/libtrust's key id: base32 of the first 30 bytes of sha256(DER SubjectPublicKeyInfo),
/// without padding, in `:`-joined groups of 4. distribution looks the signing key up by it.
pub(crate) fn libtrust_kid(spki_der: &[u8]) -> String {
    let digest = sha256(spki_der);
    let b32 = base32(&digest.as_ref()[..30]);
    b32.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buf >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buf << (5 - bits)) & 31) as usize]));
    }
    out
}

impl TokenKey {
    /// A compact RS256 JWS of `claims`, with the header Harbor's golang-jwt writes.
    pub(crate) fn sign(&self, claims: &impl serde::Serialize) -> String {
        let header = serde_json::json!({"alg": "RS256", "kid": self.kid, "typ": "JWT"});
        let claims = serde_json::to_string(claims).unwrap_or_default();
        let signing_input = format!(
            "{}.{}",
            util::b64url(header.to_string().as_bytes()),
            util::b64url(claims.as_bytes())
        );
        let mut sig = vec![0u8; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                signing_input.as_bytes(),
                &mut sig,
            )
            .unwrap_or_else(|e| panic!("harbor-double: RS256 signing failed: {e}"));
        format!("{signing_input}.{}", util::b64url(&sig))
    }

    /// The claims of a token this key signed, if the signature holds and it has not expired.
    pub(crate) fn verify(&self, jwt: &str) -> Option<serde_json::Value> {
        let mut parts = jwt.rsplitn(2, '.');
        let sig = util::b64url_decode(parts.next()?)?;
        let signing_input = parts.next()?;
        let public = UnparsedPublicKey::new(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            self.pair.public().as_ref(),
        );
        public.verify(signing_input.as_bytes(), &sig).ok()?;
        let payload = signing_input.split('.').nth(1)?;
        let claims: serde_json::Value =
            serde_json::from_slice(&util::b64url_decode(payload)?).ok()?;
        let exp = claims.get("exp")?.as_i64()?;
        (exp > util::now_unix()).then_some(claims)
    }
}

/// The PEM files of one double's TLS setup.
pub(crate) struct TlsFiles {
    pub(crate) ca_pem: String,
    pub(crate) other_ca_pem: String,
    pub(crate) server_cert_pem: String,
    pub(crate) server_cert_der: Vec<u8>,
    pub(crate) server_key_pem: String,
    pub(crate) server_key_der: Vec<u8>,
}

impl TlsFiles {
    /// A fresh CA, an unrelated CA and a server certificate shaped by `mode`
    /// (docs/harbor-api.md#faults-and-tls-modes). ECDSA P-256 keys: generated in microseconds, and
    /// every client in the rig accepts them.
    pub(crate) fn generate(mode: TlsMode) -> TlsFiles {
        let (ca_params, ca_key, ca_pem) = make_ca("harbor-double test CA");
        let (_, _, other_ca_pem) = make_ca("harbor-double unrelated CA");
        let server_key = KeyPair::generate().unwrap_or_else(|e| fail("server key", &e));
        let names = match mode {
            TlsMode::NameMismatch => vec!["harbor.invalid".to_owned()],
            _ => vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
        };
        let mut params = CertificateParams::new(names).unwrap_or_else(|e| fail("server names", &e));
        params
            .distinguished_name
            .push(DnType::CommonName, "harbor-double");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let now = time::OffsetDateTime::now_utc();
        let (not_before, not_after) = match mode {
            TlsMode::Expired => (
                now - time::Duration::days(30),
                now - time::Duration::days(1),
            ),
            _ => (
                now - time::Duration::days(1),
                now + time::Duration::days(30),
            ),
        };
        params.not_before = not_before;
        params.not_after = not_after;
        let cert = match mode {
            TlsMode::SelfSigned => params.self_signed(&server_key),
            _ => {
                let issuer = Issuer::new(ca_params, &ca_key);
                params.signed_by(&server_key, &issuer)
            }
        }
        .unwrap_or_else(|e| fail("server certificate", &e));
        TlsFiles {
            ca_pem,
            other_ca_pem,
            server_cert_pem: cert.pem(),
            server_cert_der: cert.der().to_vec(),
            server_key_pem: server_key.serialize_pem(),
            server_key_der: server_key.serialize_der(),
        }
    }
}

fn make_ca(name: &str) -> (CertificateParams, KeyPair, String) {
    let key = KeyPair::generate().unwrap_or_else(|e| fail("CA key", &e));
    let mut params =
        CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| fail("CA", &e));
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(2);
    params.not_after = now + time::Duration::days(60);
    let cert = params
        .self_signed(&key)
        .unwrap_or_else(|e| fail("CA certificate", &e));
    (params, key, cert.pem())
}

fn fail(what: &str, e: &rcgen::Error) -> ! {
    panic!("harbor-double: cannot make the {what}: {e}")
}

fn sha256(bytes: &[u8]) -> ring::digest::Digest {
    ring::digest::digest(&ring::digest::SHA256, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc_4648_without_padding() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn libtrust_kid_is_twelve_groups_of_four() {
        let kid = libtrust_kid(b"any key");
        let groups: Vec<&str> = kid.split(':').collect();
        assert_eq!(groups.len(), 12);
        assert!(groups.iter().all(|g| g.len() == 4));
    }

    #[test]
    fn the_kid_is_the_one_openssl_and_python_compute_for_the_token_key() {
        // Recompute from the certificate with the openssl CLI, as tokensrv.py does.
        let key = token_key();
        let dir = std::env::temp_dir().join(format!(
            "harbor-double-kid-{}",
            util::hex(&util::random_bytes(6))
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let crt = dir.join("t.crt");
        std::fs::write(&crt, &key.cert_pem).unwrap();
        let pem = Command::new("openssl")
            .args(["x509", "-in", &s(&crt), "-noout", "-pubkey"])
            .output()
            .unwrap()
            .stdout;
        let b64: String = String::from_utf8_lossy(&pem)
            .lines()
            .filter(|l| !l.contains("-----"))
            .collect();
        let der = util::b64_decode(&b64).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(libtrust_kid(&der), key.kid);
    }

    #[test]
    fn signed_tokens_verify_and_tampered_ones_do_not() {
        let key = token_key();
        let jwt = key.sign(&serde_json::json!({"sub": "alice", "exp": util::now_unix() + 60}));
        assert_eq!(key.verify(&jwt).unwrap()["sub"], "alice");
        let mut tampered = jwt.clone();
        tampered.insert(jwt.find('.').unwrap() + 3, 'x');
        assert!(key.verify(&tampered).is_none());
        let expired = key.sign(&serde_json::json!({"exp": util::now_unix() - 1}));
        assert!(key.verify(&expired).is_none());
    }
}
