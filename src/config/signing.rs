//! Report signing settings ([`crate::signing`]), for the worker and `reportq render`.

use std::path::PathBuf;

use super::{ConfigError, Env};

/// Where the signing key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningKeySpec {
    /// An AWS KMS asymmetric key (RSA, SIGN_VERIFY): `kms:<key id, alias or ARN>`.
    Kms(String),
    /// An RSA private key in a PEM file (local runs).
    Pem(PathBuf),
}

/// `REPORTQ_SIGNING_KEY` (`kms:...`, or a PEM file's path; unset: reports are not signed) and
/// `REPORTQ_SIGNING_NAME` (the certificate's subject, default `CN=reportq report signing`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningSettings {
    pub key: Option<SigningKeySpec>,
    pub name: String,
}

impl SigningSettings {
    pub fn read(env: &Env) -> Result<SigningSettings, ConfigError> {
        let key = match env.get("REPORTQ_SIGNING_KEY").filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(v) => match v.strip_prefix("kms:") {
                Some("") => {
                    return Err(ConfigError::Invalid {
                        name: "REPORTQ_SIGNING_KEY",
                        value: v.clone(),
                        reason: "kms: needs a key id, alias or ARN".into(),
                    });
                }
                Some(id) => Some(SigningKeySpec::Kms(id.to_string())),
                None => Some(SigningKeySpec::Pem(PathBuf::from(v.strip_prefix("pem:").unwrap_or(&v)))),
            },
        };
        let name = env.get("REPORTQ_SIGNING_NAME").unwrap_or_else(|| "CN=reportq report signing".into());
        if name.parse::<x509_cert::name::Name>().is_err() {
            return Err(ConfigError::Invalid {
                name: "REPORTQ_SIGNING_NAME",
                value: name,
                reason: "a distinguished name, e.g. CN=Example Archive reports,O=Example Archive".into(),
            });
        }
        Ok(SigningSettings { key, name })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_kms_or_a_pem_file_and_names_must_parse() {
        let read = |pairs: &[(&str, &str)]| SigningSettings::read(&Env::from_pairs(pairs.iter().copied()));
        assert_eq!(read(&[]).unwrap().key, None);
        assert_eq!(read(&[("REPORTQ_SIGNING_KEY", "kms:alias/reports")]).unwrap().key, Some(SigningKeySpec::Kms("alias/reports".into())));
        assert_eq!(read(&[("REPORTQ_SIGNING_KEY", "/etc/k.pem")]).unwrap().key, Some(SigningKeySpec::Pem("/etc/k.pem".into())));
        assert!(matches!(read(&[("REPORTQ_SIGNING_KEY", "kms:")]), Err(ConfigError::Invalid { name: "REPORTQ_SIGNING_KEY", .. })));
        assert!(matches!(read(&[("REPORTQ_SIGNING_NAME", "not a name")]), Err(ConfigError::Invalid { name: "REPORTQ_SIGNING_NAME", .. })));
    }
}
