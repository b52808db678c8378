//! jsonwebtoken's cryptography for the broker: RS256 verification through ring (which the
//! workspace already links), installed as the process's jsonwebtoken `CryptoProvider`. It
//! verifies RS256 with an RSA modulus and exponent and nothing else: every other algorithm,
//! every HMAC secret and every signing request is refused here too, so a wrong `alg` fails
//! twice over. Never sees a token's claims; never signs.

use std::sync::OnceLock;

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature;
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: no_signer,
    verifier_factory: rs256_only,
    // JWK helpers are never called: the keys module builds keys from `n` and `e` itself.
    key_utils: KeyUtils::new_unimplemented(),
};

/// Another crate of the process installed its own provider first: the broker's checks
/// would not be the ones that run, so it verifies nothing.
#[derive(Debug, thiserror::Error)]
#[error(
    "another jsonwebtoken crypto provider is installed in this process; the broker verifies \
     tokens only with its own RS256 one"
)]
pub struct ForeignProvider;

/// Installs the broker's provider once; later calls say whether it is the one in force.
pub(crate) fn install() -> Result<(), ForeignProvider> {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    let ours = *INSTALLED.get_or_init(|| match PROVIDER.install_default() {
        Ok(()) => true,
        Err(existing) => std::ptr::eq(existing, &PROVIDER),
    });
    if ours { Ok(()) } else { Err(ForeignProvider) }
}

fn no_signer(_: &Algorithm, _: &EncodingKey) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
    Err(Error::from(ErrorKind::InvalidAlgorithm))
}

fn rs256_only(
    alg: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    if *alg != Algorithm::RS256 {
        return Err(Error::from(ErrorKind::InvalidAlgorithm));
    }
    match key.kind() {
        DecodingKeyKind::RsaModulusExponent { n, e } => Ok(Box::new(Rs256 {
            n: n.clone(),
            e: e.clone(),
        })),
        // An HMAC secret or DER bytes: key confusion, whatever the header says.
        DecodingKeyKind::SecretOrDer(_) => Err(Error::from(ErrorKind::InvalidKeyFormat)),
    }
}

struct Rs256 {
    n: Vec<u8>,
    e: Vec<u8>,
}

impl signature::Verifier<Vec<u8>> for Rs256 {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        // PKCS#1 v1.5 with SHA-256 and a 2048 to 8192-bit modulus: what GitLab signs with.
        RsaPublicKeyComponents {
            n: &self.n,
            e: &self.e,
        }
        .verify(&RSA_PKCS1_2048_8192_SHA256, msg, sig)
        .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Rs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The verifier refuses on its own, whatever reached it: the claims module's header
    // check is not the only guard.
    #[test]
    fn only_rs256_with_an_rsa_modulus_and_exponent_gets_a_verifier() {
        let rsa = DecodingKey::from_rsa_raw_components(&[0xc5; 256], &[1, 0, 1]);
        let secret = DecodingKey::from_secret(b"the public key as an HMAC secret").unwrap();
        let der = DecodingKey::from_rsa_der(&[0x30, 0x00]);
        assert!(rs256_only(&Algorithm::RS256, &rsa).is_ok());
        for alg in [
            Algorithm::HS256,
            Algorithm::RS384,
            Algorithm::PS256,
            Algorithm::ES256,
        ] {
            assert!(rs256_only(&alg, &rsa).is_err(), "{alg:?}");
            assert!(rs256_only(&alg, &secret).is_err(), "{alg:?}");
        }
        assert!(rs256_only(&Algorithm::RS256, &secret).is_err());
        assert!(rs256_only(&Algorithm::RS256, &der).is_err());
        let key = EncodingKey::from_secret(b"k").unwrap();
        assert!(no_signer(&Algorithm::RS256, &key).is_err());
    }

    #[test]
    fn a_signature_that_is_not_the_key_s_is_refused() {
        let verifier = rs256_only(
            &Algorithm::RS256,
            &DecodingKey::from_rsa_raw_components(&[0xc5; 256], &[1, 0, 1]),
        )
        .unwrap();
        assert!(verifier.verify(b"header.claims", &vec![0; 256]).is_err());
        assert!(verifier.verify(b"header.claims", &Vec::new()).is_err());
    }
}
