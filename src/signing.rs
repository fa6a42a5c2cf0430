//! PAdES baseline B-B signatures on reports, and their check.
//!
//! When a signing key is configured (`REPORTQ_SIGNING_KEY`: `kms:<key id or ARN>` on Lambda, or
//! the path of an RSA private key in PEM locally), every PDF the worker uploads is signed: a
//! last incremental update adds a signature field whose value is a detached CMS signature
//! (`/SubFilter /ETSI.CAdES.detached`) over the whole file but the signature value itself
//! (`/ByteRange`). The signed attributes are the content type, the message digest and the
//! ESS signing-certificate-v2 (PAdES B-B); the signing time is the dictionary's `/M`, the job's
//! date.
//!
//! Invariants:
//! - Deterministic: RSA PKCS#1 v1.5 signatures, a certificate derived from the key alone, and
//!   the job's date; a retried job uploads the same bytes, the signature included.
//! - The certificate is self-signed by the key, the same wherever it is made
//!   ([`Signer::certificate_pem`], `reportq signing certificate`): an archive publishes it once
//!   and checks every report against it (`reportq verify --cert`).
//! - A signature covers the file as uploaded: a check fails if anything was appended after it
//!   or any covered byte changed.

use std::sync::Arc;

use der::asn1::{BitString, GeneralizedTime, ObjectIdentifier, OctetString, SetOfVec, UtcTime};
use der::{Any, Decode, Encode};
use lopdf::{Dictionary, Document, IncrementalDocument, Object, StringFormat};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_CERTIFICATE_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");

/// The most any one stream of a PDF being checked may decode to.
const MAX_DECODED: usize = 64 << 20;

/// Room for the CMS signature in the file: a 4096-bit key's signature and certificate fit
/// with room to spare.
const CONTENTS_BYTES: usize = 8192;
/// What the `/ByteRange` is written as before its numbers are known: four numbers of this
/// many digits, then overwritten in place (space-padded).
const RANGE_DIGITS: usize = 12;

/// An RSA key that signs SHA-256 digests with PKCS#1 v1.5 (AWS KMS, or a PEM file).
#[async_trait::async_trait]
pub trait SigningKey: Send + Sync + std::fmt::Debug {
    /// The public key, DER SubjectPublicKeyInfo.
    async fn public_key_der(&self) -> Result<Vec<u8>, String>;
    /// RSASSA-PKCS1-v1_5 with SHA-256 over an already computed digest.
    async fn sign_sha256(&self, digest: &[u8; 32]) -> Result<Vec<u8>, String>;
}

/// An RSA private key read from a PEM file (PKCS#8 or PKCS#1).
#[derive(Debug)]
pub struct PemKey(rsa::RsaPrivateKey);

impl PemKey {
    pub fn read(path: &std::path::Path) -> Result<PemKey, String> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        use rsa::pkcs8::DecodePrivateKey;
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(&text)
            .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(&text))
            .map_err(|e| format!("{}: not an RSA private key in PEM: {e}", path.display()))?;
        Ok(PemKey(key))
    }
}

#[async_trait::async_trait]
impl SigningKey for PemKey {
    async fn public_key_der(&self) -> Result<Vec<u8>, String> {
        use rsa::pkcs8::EncodePublicKey;
        Ok(self.0.to_public_key().to_public_key_der().map_err(|e| e.to_string())?.as_bytes().to_vec())
    }

    async fn sign_sha256(&self, digest: &[u8; 32]) -> Result<Vec<u8>, String> {
        self.0.sign(rsa::Pkcs1v15Sign::new::<Sha256>(), digest).map_err(|e| e.to_string())
    }
}

/// An AWS KMS asymmetric RSA key (`KeySpec` RSA_2048 to RSA_4096, `KeyUsage` SIGN_VERIFY):
/// reports are signed with it, and the private key never leaves KMS.
#[derive(Debug, Clone)]
pub struct KmsKey {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsKey {
    pub fn new(shared: &aws_config::SdkConfig, key_id: &str) -> KmsKey {
        let timeouts = crate::aws::timeouts(shared, std::time::Duration::from_secs(5));
        let conf = aws_sdk_kms::config::Builder::from(shared).timeout_config(timeouts).build();
        KmsKey { client: aws_sdk_kms::Client::from_conf(conf), key_id: key_id.into() }
    }
}

#[async_trait::async_trait]
impl SigningKey for KmsKey {
    async fn public_key_der(&self) -> Result<Vec<u8>, String> {
        let out = self
            .client
            .get_public_key()
            .key_id(&self.key_id)
            .send()
            .await
            .map_err(|e| format!("KMS GetPublicKey {}: {}", self.key_id, crate::aws::describe(&e)))?;
        out.public_key().map(|b| b.as_ref().to_vec()).ok_or_else(|| format!("KMS gave no public key for {}", self.key_id))
    }

    async fn sign_sha256(&self, digest: &[u8; 32]) -> Result<Vec<u8>, String> {
        use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
        let out = self
            .client
            .sign()
            .key_id(&self.key_id)
            .message(aws_sdk_kms::primitives::Blob::new(digest.to_vec()))
            .message_type(MessageType::Digest)
            .signing_algorithm(SigningAlgorithmSpec::RsassaPkcs1V15Sha256)
            .send()
            .await
            .map_err(|e| format!("KMS Sign {}: {}", self.key_id, crate::aws::describe(&e)))?;
        out.signature().map(|b| b.as_ref().to_vec()).ok_or_else(|| format!("KMS gave no signature for {}", self.key_id))
    }
}

/// The signer `settings` name, if any: the key from KMS (with `shared`'s endpoint, region and
/// credentials, or the standard configuration's when `None`) or a PEM file, and its
/// certificate (one KMS signature, at start).
pub async fn signer(shared: Option<&aws_config::SdkConfig>, settings: &crate::config::SigningSettings) -> Result<Option<Signer>, String> {
    use crate::config::SigningKeySpec;
    let key: Arc<dyn SigningKey> = match &settings.key {
        None => return Ok(None),
        Some(SigningKeySpec::Kms(id)) => match shared {
            Some(sdk) => Arc::new(KmsKey::new(sdk, id)),
            None => Arc::new(KmsKey::new(&crate::aws::sdk_config().await, id)),
        },
        Some(SigningKeySpec::Pem(path)) => Arc::new(PemKey::read(path)?),
    };
    Signer::new(key, &settings.name).await.map(Some)
}

/// Signs PDFs with one key and its certificate.
#[derive(Debug, Clone)]
pub struct Signer {
    key: Arc<dyn SigningKey>,
    cert: Certificate,
}

fn sha256_alg() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned { oid: ID_SHA256, parameters: None }
}

fn rsa_alg(oid: ObjectIdentifier) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned { oid, parameters: Some(Any::null()) }
}

fn der_err(e: der::Error) -> String {
    format!("DER: {e}")
}

/// ESS `SigningCertificateV2` with one `ESSCertIDv2` (SHA-256, the default, so no algorithm).
#[derive(der::Sequence)]
struct EssCertIdV2 {
    cert_hash: OctetString,
}

#[derive(der::Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

impl Signer {
    /// The key's self-signed certificate for `name` (a distinguished name, `CN=...,O=...`),
    /// made from the key alone: serial from the public key's hash, valid from 2020 with no
    /// end (RFC 5280's 99991231235959Z).
    pub async fn new(key: Arc<dyn SigningKey>, name: &str) -> Result<Signer, String> {
        let spki_der = key.public_key_der().await?;
        let spki = SubjectPublicKeyInfoOwned::from_der(&spki_der).map_err(der_err)?;
        if spki.algorithm.oid != RSA_ENCRYPTION {
            return Err(format!("the signing key is {}; reportq signs with RSA keys (deterministic signatures)", spki.algorithm.oid));
        }
        let name: Name = name.parse().map_err(|e| format!("the certificate name {name:?}: {e}"))?;
        let mut serial = Sha256::digest(&spki_der)[..16].to_vec();
        serial[0] &= 0x7f;
        serial[0] |= 0x40;
        let validity = Validity {
            not_before: Time::UtcTime(UtcTime::from_unix_duration(std::time::Duration::from_secs(1_577_836_800)).map_err(der_err)?),
            not_after: Time::GeneralTime(GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(253_402_300_799)).map_err(der_err)?),
        };
        let usage =
            x509_cert::ext::pkix::KeyUsage(x509_cert::ext::pkix::KeyUsages::DigitalSignature | x509_cert::ext::pkix::KeyUsages::NonRepudiation);
        let ext = x509_cert::ext::Extension {
            extn_id: const_oid_key_usage(),
            critical: true,
            extn_value: OctetString::new(usage.to_der().map_err(der_err)?).map_err(der_err)?,
        };
        let tbs = x509_cert::TbsCertificate {
            version: x509_cert::Version::V3,
            serial_number: SerialNumber::new(&serial).map_err(der_err)?,
            signature: rsa_alg(SHA256_WITH_RSA),
            issuer: name.clone(),
            validity,
            subject: name,
            subject_public_key_info: spki,
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(vec![ext]),
        };
        let digest: [u8; 32] = Sha256::digest(tbs.to_der().map_err(der_err)?).into();
        let sig = key.sign_sha256(&digest).await?;
        let cert = Certificate {
            tbs_certificate: tbs,
            signature_algorithm: rsa_alg(SHA256_WITH_RSA),
            signature: BitString::from_bytes(&sig).map_err(der_err)?,
        };
        Ok(Signer { key, cert })
    }

    /// The certificate, PEM: what an archive publishes and checks reports against.
    pub fn certificate_pem(&self) -> String {
        use der::EncodePem;
        self.cert.to_pem(der::pem::LineEnding::LF).expect("a certificate encodes")
    }

    /// Signs `pdf` with a last incremental update; `epoch` is the signing time (the job's).
    pub async fn sign_pdf(&self, pdf: Vec<u8>, epoch: i64) -> Result<Vec<u8>, String> {
        let (mut out, contents_at) = prepare(pdf, epoch)?;
        let (start, end) = (contents_at, contents_at + 2 + 2 * CONTENTS_BYTES);
        let mut h = Sha256::new();
        h.update(&out[..start]);
        h.update(&out[end..]);
        let digest: [u8; 32] = h.finalize().into();
        let cms = self.cms(&digest).await?;
        if cms.len() > CONTENTS_BYTES {
            return Err(format!("the signature is {} bytes; the file has room for {CONTENTS_BYTES}", cms.len()));
        }
        let hex = hex::encode_upper(&cms);
        out[start + 1..start + 1 + hex.len()].copy_from_slice(hex.as_bytes());
        Ok(out)
    }

    /// The detached CMS SignedData for a content digest.
    async fn cms(&self, digest: &[u8; 32]) -> Result<Vec<u8>, String> {
        let attr =
            |oid, value: Any| -> Result<Attribute, String> { Ok(Attribute { oid, values: SetOfVec::try_from(vec![value]).map_err(der_err)? }) };
        let cert_der = self.cert.to_der().map_err(der_err)?;
        let ess =
            SigningCertificateV2 { certs: vec![EssCertIdV2 { cert_hash: OctetString::new(Sha256::digest(&cert_der).to_vec()).map_err(der_err)? }] };
        let signed_attrs = SetOfVec::try_from(vec![
            attr(ID_CONTENT_TYPE, Any::encode_from(&ID_DATA).map_err(der_err)?)?,
            attr(ID_MESSAGE_DIGEST, Any::encode_from(&OctetString::new(digest.to_vec()).map_err(der_err)?).map_err(der_err)?)?,
            attr(ID_SIGNING_CERTIFICATE_V2, Any::encode_from(&ess).map_err(der_err)?)?,
        ])
        .map_err(der_err)?;
        let to_sign: [u8; 32] = Sha256::digest(signed_attrs.to_der().map_err(der_err)?).into();
        let signature = self.key.sign_sha256(&to_sign).await?;
        let tbs = &self.cert.tbs_certificate;
        let signer = cms::signed_data::SignerInfo {
            version: cms::content_info::CmsVersion::V1,
            sid: cms::signed_data::SignerIdentifier::IssuerAndSerialNumber(cms::cert::IssuerAndSerialNumber {
                issuer: tbs.issuer.clone(),
                serial_number: tbs.serial_number.clone(),
            }),
            digest_alg: sha256_alg(),
            signed_attrs: Some(signed_attrs),
            signature_algorithm: rsa_alg(RSA_ENCRYPTION),
            signature: OctetString::new(signature).map_err(der_err)?,
            unsigned_attrs: None,
        };
        let signed_data = cms::signed_data::SignedData {
            version: cms::content_info::CmsVersion::V1,
            digest_algorithms: SetOfVec::try_from(vec![sha256_alg()]).map_err(der_err)?,
            encap_content_info: cms::signed_data::EncapsulatedContentInfo { econtent_type: ID_DATA, econtent: None },
            certificates: Some(cms::signed_data::CertificateSet(
                SetOfVec::try_from(vec![cms::cert::CertificateChoices::Certificate(self.cert.clone())]).map_err(der_err)?,
            )),
            crls: None,
            signer_infos: cms::signed_data::SignerInfos(SetOfVec::try_from(vec![signer]).map_err(der_err)?),
        };
        let info = cms::content_info::ContentInfo { content_type: ID_SIGNED_DATA, content: Any::encode_from(&signed_data).map_err(der_err)? };
        info.to_der().map_err(der_err)
    }
}

fn const_oid_key_usage() -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap("2.5.29.15")
}

/// The file with a signature field whose `/Contents` is zeros, its `/ByteRange` filled in,
/// and where the `/Contents` hex string starts (its `<`).
fn prepare(pdf: Vec<u8>, epoch: i64) -> Result<(Vec<u8>, usize), String> {
    let doc = Document::load_mem(&pdf).map_err(|e| format!("reading the PDF to sign: {e}"))?;
    let root = doc.trailer.get(b"Root").and_then(Object::as_reference).map_err(|e| format!("no catalog: {e}"))?;
    let mut catalog = doc.get_dictionary(root).map_err(|e| e.to_string())?.clone();
    if catalog.has(b"AcroForm") {
        return Err("the PDF already has a form or a signature".into());
    }
    let mut inc = IncrementalDocument::create_from(pdf, doc);
    let placeholder = 10i64.pow(RANGE_DIGITS as u32 - 1);
    let mut sig = Dictionary::new();
    sig.set("Type", Object::Name(b"Sig".to_vec()));
    sig.set("Filter", Object::Name(b"Adobe.PPKLite".to_vec()));
    sig.set("SubFilter", Object::Name(b"ETSI.CAdES.detached".to_vec()));
    sig.set("ByteRange", Object::Array(vec![Object::Integer(placeholder); 4]));
    sig.set("Contents", Object::String(vec![0; CONTENTS_BYTES], StringFormat::Hexadecimal));
    sig.set("M", Object::String(crate::template::pdf_date(epoch).into_bytes(), StringFormat::Literal));
    let sig_id = inc.new_document.add_object(Object::Dictionary(sig));
    // A signature field with no widget: nothing is drawn, so nothing changes for a reader
    // or for the tagged structure (an invisible widget would need tagging as an annotation).
    let mut field = Dictionary::new();
    field.set("FT", Object::Name(b"Sig".to_vec()));
    field.set("T", Object::String(b"reportq".to_vec(), StringFormat::Literal));
    field.set("V", Object::Reference(sig_id));
    let field_id = inc.new_document.add_object(Object::Dictionary(field));
    let mut form = Dictionary::new();
    form.set("Fields", Object::Array(vec![Object::Reference(field_id)]));
    form.set("SigFlags", Object::Integer(3));
    catalog.set("AcroForm", Object::Dictionary(form));
    inc.new_document.set_object(root, Object::Dictionary(catalog));
    let mut out = Vec::new();
    inc.save_to(&mut out).map_err(|e| format!("writing the signature's update: {e}"))?;
    let range_text = format!("[{p} {p} {p} {p}]", p = placeholder);
    let range_at = find_last(&out, range_text.as_bytes()).ok_or("the signature's byte range was not written as expected")?;
    let zeros = format!("<{}>", "00".repeat(CONTENTS_BYTES));
    let contents_at = find_last(&out, zeros.as_bytes()).ok_or("the signature's contents were not written as expected")?;
    let after = contents_at + zeros.len();
    let range = format!("[0 {contents_at} {after} {}]", out.len() - after);
    if range.len() > range_text.len() {
        return Err("the file is too large to sign".into());
    }
    let padded = format!("{range:<width$}", width = range_text.len());
    out[range_at..range_at + padded.len()].copy_from_slice(padded.as_bytes());
    Ok((out, contents_at))
}

fn find_last(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// What the signature check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureCheck {
    pub ok: bool,
    pub detail: String,
    /// The signer's certificate (PEM), when the signature carries one.
    pub certificate: Option<String>,
}

/// Checks a PDF's signature: the byte range covers the whole file but the signature value, the
/// digest matches, and the signature verifies with the embedded certificate; `trusted` (PEM),
/// when given, must be that certificate. `None` when the PDF has no signature.
pub fn check(pdf: &[u8], trusted: Option<&str>) -> Option<SignatureCheck> {
    let doc = Document::load_mem_with_options(pdf, lopdf::LoadOptions { max_decompressed_size: Some(MAX_DECODED), ..Default::default() }).ok()?;
    let catalog = doc.catalog().ok()?;
    let form = doc.dereference(catalog.get(b"AcroForm").ok()?).ok()?.1.as_dict().ok()?.clone();
    let fields = doc.dereference(form.get(b"Fields").ok()?).ok()?.1.as_array().ok()?.clone();
    let sig = fields.iter().find_map(|f| {
        let f = doc.dereference(f).ok()?.1.as_dict().ok()?;
        (f.get(b"FT").ok()?.as_name().ok()? == b"Sig").then_some(())?;
        Some(doc.dereference(f.get(b"V").ok()?).ok()?.1.as_dict().ok()?.clone())
    })?;
    let fail = |detail: String| Some(SignatureCheck { ok: false, detail, certificate: None });
    let range: Vec<i64> = match sig.get(b"ByteRange").and_then(Object::as_array) {
        Ok(a) => a.iter().filter_map(|o| o.as_i64().ok()).collect(),
        Err(_) => return fail("the signature has no /ByteRange".into()),
    };
    let contents = match sig.get(b"Contents").and_then(Object::as_str) {
        Ok(c) => c.to_vec(),
        Err(_) => return fail("the signature has no /Contents".into()),
    };
    let [0, a, b, c] = range[..] else { return fail(format!("the byte range {range:?} does not start at 0 with two parts")) };
    let (a, b, c) = (a as usize, b as usize, c as usize);
    if a >= b || b + c != pdf.len() || pdf.get(a) != Some(&b'<') || pdf.get(b - 1) != Some(&b'>') {
        return fail(format!(
            "the signature covers bytes 0-{a} and {b}-{}, and the file has {} bytes: something was added or moved after signing",
            b + c,
            pdf.len()
        ));
    }
    let mut h = Sha256::new();
    h.update(&pdf[..a]);
    h.update(&pdf[b..]);
    let digest = h.finalize();
    match verify_cms(&contents, &digest, trusted) {
        Ok(cert) => Some(SignatureCheck {
            ok: true,
            detail: format!("PAdES signature over the whole file but its value, by {}", cert.tbs_certificate.subject),
            certificate: der::EncodePem::to_pem(&cert, der::pem::LineEnding::LF).ok(),
        }),
        Err(e) => fail(e),
    }
}

fn verify_cms(contents: &[u8], digest: &[u8], trusted: Option<&str>) -> Result<Certificate, String> {
    use rsa::pkcs8::DecodePublicKey;
    let mut reader = der::SliceReader::new(contents).map_err(der_err)?;
    let info: cms::content_info::ContentInfo = der::Decode::decode(&mut reader).map_err(|e| format!("the signature is not CMS: {e}"))?;
    if info.content_type != ID_SIGNED_DATA {
        return Err(format!("the signature is CMS {}, not SignedData", info.content_type));
    }
    let sd: cms::signed_data::SignedData = info.content.decode_as().map_err(|e| format!("the signature's SignedData: {e}"))?;
    let si = sd.signer_infos.0.iter().next().ok_or("the signature has no signer")?;
    let attrs = si.signed_attrs.as_ref().ok_or("the signature has no signed attributes")?;
    let md = attrs
        .iter()
        .find(|a| a.oid == ID_MESSAGE_DIGEST)
        .and_then(|a| a.values.iter().next())
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .ok_or("the signature has no message digest")?;
    if md.as_bytes() != digest {
        return Err("the file's bytes do not match the signed digest: the report was changed after signing".into());
    }
    let cms::signed_data::SignerIdentifier::IssuerAndSerialNumber(sid) = &si.sid else {
        return Err("the signer is named by key id, not certificate".into());
    };
    let certs = sd.certificates.as_ref().map(|c| c.0.iter().collect::<Vec<_>>()).unwrap_or_default();
    let embedded = certs.into_iter().find_map(|c| match c {
        cms::cert::CertificateChoices::Certificate(c)
            if c.tbs_certificate.serial_number == sid.serial_number && c.tbs_certificate.issuer == sid.issuer =>
        {
            Some(c.clone())
        }
        _ => None,
    });
    let cert = match trusted {
        Some(pem) => {
            let t = <Certificate as der::DecodePem>::from_pem(pem).map_err(|e| format!("--cert is not a PEM certificate: {e}"))?;
            if embedded.as_ref().is_some_and(|e| e != &t) {
                return Err(format!("signed by {}, not by the certificate given", embedded.unwrap().tbs_certificate.subject));
            }
            t
        }
        None => embedded.ok_or("the signature carries no certificate for its signer (give one with --cert)")?,
    };
    let spki = cert.tbs_certificate.subject_public_key_info.to_der().map_err(der_err)?;
    let key = rsa::RsaPublicKey::from_public_key_der(&spki).map_err(|e| format!("the certificate's key: {e}"))?;
    let hashed = Sha256::digest(attrs.to_der().map_err(der_err)?);
    key.verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &hashed, si.signature.as_bytes())
        .map_err(|_| "the signature value does not verify with the certificate's key".to_string())?;
    Ok(cert)
}
