//! The Android Keystore [key attestation extension](https://source.android.com/docs/security/features/keystore/attestation#schema)
//! (`1.3.6.1.4.1.11129.2.1.17`): a DER `KeyDescription`.
//!
//! ```text
//! KeyDescription ::= SEQUENCE {
//!     attestationVersion         INTEGER,
//!     attestationSecurityLevel   SecurityLevel,
//!     keymasterVersion           INTEGER,
//!     keymasterSecurityLevel     SecurityLevel,
//!     attestationChallenge       OCTET STRING,
//!     uniqueId                   OCTET STRING,
//!     softwareEnforced           AuthorizationList,
//!     teeEnforced                AuthorizationList,
//! }
//! SecurityLevel ::= ENUMERATED { Software (0), TrustedEnvironment (1), StrongBox (2) }
//! AuthorizationList ::= SEQUENCE {
//!     purpose          [1]   EXPLICIT SET OF INTEGER OPTIONAL,
//!     ...
//!     allApplications  [600] EXPLICIT NULL OPTIONAL,
//!     ...
//!     origin           [702] EXPLICIT INTEGER OPTIONAL,
//!     ...
//! }
//! ```
//!
//! The parser is strict about encoding and lenient about content it does not use:
//!
//! * Every element must be DER: definite lengths in their shortest form, tag numbers in their
//!   shortest form, no bytes after the `KeyDescription`, integers minimally encoded. Integers and
//!   enumerations we read must be non-negative and fit in 64 bits.
//! * The `KeyDescription` has exactly its eight members, with the types above.
//! * An `AuthorizationList` member is one `[n] EXPLICIT` element wrapping exactly one DER element.
//!   A tag number may appear once. The members this verifier reads (`purpose`, `allApplications`,
//!   `origin`) must have their schema types. Members it does not read are checked only for
//!   framing, because KeyMint adds a few with every version. The ascending tag order DER prescribes
//!   is not enforced; the duplicate check already makes the list unambiguous.
//!
//! The walk is bounded by the input: no recursion beyond the schema's fixed depth, and each loop
//! consumes at least two bytes per iteration.

use x509_parser::asn1_rs::{Any, Class, FromDer, Tag};
use x509_parser::certificate::X509Certificate;
use x509_parser::der_parser::oid;
use x509_parser::der_parser::Oid;

use crate::error::AttestationError;

/// `id-android-key-attestation`: the key description extension.
pub(crate) const OID_KEY_DESCRIPTION: Oid<'static> = oid!(1.3.6 .1 .4 .1 .11129 .2 .1 .17);

/// `KM_ORIGIN_GENERATED`: the key was generated inside Keystore.
pub(crate) const KM_ORIGIN_GENERATED: u64 = 0;
/// `KM_PURPOSE_SIGN`: the key may sign.
pub(crate) const KM_PURPOSE_SIGN: u64 = 2;

/// `purpose` in an `AuthorizationList`.
const TAG_PURPOSE: u32 = 1;
/// `allApplications` in an `AuthorizationList`.
const TAG_ALL_APPLICATIONS: u32 = 600;
/// `origin` in an `AuthorizationList`.
const TAG_ORIGIN: u32 = 702;

/// Most members accepted in one `AuthorizationList` or `purpose` set. The schema has about 50
/// tags; this only bounds work on hostile input.
const MAX_MEMBERS: usize = 256;

/// `SecurityLevel`: where Keystore (or the attestation) runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecurityLevel {
    /// `Software (0)`: the Android system, no hardware isolation.
    Software,
    /// `TrustedEnvironment (1)`: a TEE.
    TrustedEnvironment,
    /// `StrongBox (2)`: a dedicated secure element.
    StrongBox,
}

impl SecurityLevel {
    /// The level for an `ENUMERATED` value, if defined.
    fn from_u64(value: u64) -> Option<Self> {
        match value {
            0 => Some(Self::Software),
            1 => Some(Self::TrustedEnvironment),
            2 => Some(Self::StrongBox),
            _ => None,
        }
    }

    /// Whether the level is hardware-backed (TEE or StrongBox).
    pub(crate) fn is_hardware(self) -> bool {
        matches!(self, Self::TrustedEnvironment | Self::StrongBox)
    }
}

/// The members of an `AuthorizationList` that WebAuthn L3 §8.4 looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AuthorizationList {
    /// `purpose [1]`: the `KM_PURPOSE_*` values, when present.
    pub(crate) purpose: Option<Vec<u64>>,
    /// `allApplications [600]` is present.
    pub(crate) all_applications: bool,
    /// `origin [702]`: the `KM_ORIGIN_*` value, when present.
    pub(crate) origin: Option<u64>,
}

/// A parsed `KeyDescription`, borrowing the octet strings from the certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyDescription<'a> {
    /// `attestationVersion` (1, 2, 3, 4, 100, 200, 300, 400...).
    pub(crate) attestation_version: u64,
    /// `attestationSecurityLevel`: where the attestation was made.
    pub(crate) attestation_security_level: SecurityLevel,
    /// `keymasterVersion` (also `keyMintVersion`).
    pub(crate) keymaster_version: u64,
    /// `keymasterSecurityLevel`: where the key lives.
    pub(crate) keymaster_security_level: SecurityLevel,
    /// `attestationChallenge`: for WebAuthn, the clientDataHash.
    pub(crate) attestation_challenge: &'a [u8],
    /// `uniqueId` (usually empty).
    pub(crate) unique_id: &'a [u8],
    /// `softwareEnforced`: authorizations enforced by the Android system.
    pub(crate) software_enforced: AuthorizationList,
    /// `teeEnforced` (`hardwareEnforced` in KeyMint): authorizations enforced by the TEE or
    /// StrongBox.
    pub(crate) tee_enforced: AuthorizationList,
}

/// A parse failure, reported as a certificate problem.
fn bad(reason: &'static str) -> AttestationError {
    AttestationError::Certificate(reason)
}

/// The key description of `cert`: the extension must be present exactly once.
pub(crate) fn from_certificate<'a>(
    cert: &X509Certificate<'a>,
) -> Result<KeyDescription<'a>, AttestationError> {
    let mut found = cert
        .extensions()
        .iter()
        .filter(|ext| ext.oid == OID_KEY_DESCRIPTION);
    let ext = found
        .next()
        .ok_or(bad("the key description extension is missing"))?;
    if found.next().is_some() {
        return Err(bad("the key description extension is repeated"));
    }
    KeyDescription::parse(ext.value)
}

impl<'a> KeyDescription<'a> {
    /// Parses the DER `KeyDescription` (the extension's `extnValue` contents).
    pub(crate) fn parse(der: &'a [u8]) -> Result<Self, AttestationError> {
        let (outer, rest) = Element::read(der)?;
        if !rest.is_empty() {
            return Err(bad("key description: bytes after the KeyDescription"));
        }
        let content =
            outer.expect_universal(Tag::Sequence, true, "key description: not a SEQUENCE")?;
        let mut members = Elements::new(content);
        let mut next = |what: &'static str| members.next().ok_or(bad(what)).and_then(|r| r);
        let attestation_version = next("key description: attestationVersion is missing")?
            .expect_uint(
                Tag::Integer,
                "key description: attestationVersion is not an INTEGER",
            )?;
        let attestation_security_level = security_level(next(
            "key description: attestationSecurityLevel is missing",
        )?)?;
        let keymaster_version = next("key description: keymasterVersion is missing")?.expect_uint(
            Tag::Integer,
            "key description: keymasterVersion is not an INTEGER",
        )?;
        let keymaster_security_level =
            security_level(next("key description: keymasterSecurityLevel is missing")?)?;
        let attestation_challenge = next("key description: attestationChallenge is missing")?
            .expect_universal(
                Tag::OctetString,
                false,
                "key description: attestationChallenge is not an OCTET STRING",
            )?;
        let unique_id = next("key description: uniqueId is missing")?.expect_universal(
            Tag::OctetString,
            false,
            "key description: uniqueId is not an OCTET STRING",
        )?;
        let software_enforced =
            AuthorizationList::parse(next("key description: softwareEnforced is missing")?)?;
        let tee_enforced =
            AuthorizationList::parse(next("key description: teeEnforced is missing")?)?;
        if members.next().is_some() {
            return Err(bad("key description: more than eight members"));
        }
        Ok(Self {
            attestation_version,
            attestation_security_level,
            keymaster_version,
            keymaster_security_level,
            attestation_challenge,
            unique_id,
            software_enforced,
            tee_enforced,
        })
    }
}

/// Reads a `SecurityLevel` (ENUMERATED 0, 1 or 2).
fn security_level(element: Element<'_>) -> Result<SecurityLevel, AttestationError> {
    let value = element.expect_uint(
        Tag::Enumerated,
        "key description: a SecurityLevel is not an ENUMERATED",
    )?;
    SecurityLevel::from_u64(value).ok_or(bad("key description: unknown SecurityLevel"))
}

impl AuthorizationList {
    /// Parses an `AuthorizationList` SEQUENCE.
    fn parse(element: Element<'_>) -> Result<Self, AttestationError> {
        let content = element.expect_universal(
            Tag::Sequence,
            true,
            "key description: an AuthorizationList is not a SEQUENCE",
        )?;
        let mut list = Self::default();
        let mut seen: Vec<u32> = Vec::new();
        for member in Elements::new(content) {
            let member = member?;
            if member.class != Class::ContextSpecific || !member.constructed {
                return Err(bad(
                    "key description: an AuthorizationList member is not [n] EXPLICIT",
                ));
            }
            if seen.contains(&member.tag) {
                return Err(bad(
                    "key description: an AuthorizationList tag appears twice",
                ));
            }
            if seen.len() == MAX_MEMBERS {
                return Err(bad("key description: too many AuthorizationList members"));
            }
            seen.push(member.tag);
            // EXPLICIT tagging: the content is exactly one element.
            let (inner, rest) = Element::read(member.content)?;
            if !rest.is_empty() {
                return Err(bad(
                    "key description: an [n] EXPLICIT member holds more than one element",
                ));
            }
            match member.tag {
                TAG_PURPOSE => {
                    let set = inner.expect_universal(
                        Tag::Set,
                        true,
                        "key description: purpose is not a SET OF INTEGER",
                    )?;
                    let mut purposes = Vec::new();
                    for value in Elements::new(set) {
                        if purposes.len() == MAX_MEMBERS {
                            return Err(bad("key description: too many purposes"));
                        }
                        purposes.push(value?.expect_uint(
                            Tag::Integer,
                            "key description: purpose is not a SET OF INTEGER",
                        )?);
                    }
                    list.purpose = Some(purposes);
                }
                TAG_ALL_APPLICATIONS => {
                    let null = inner.expect_universal(
                        Tag::Null,
                        false,
                        "key description: allApplications is not NULL",
                    )?;
                    if !null.is_empty() {
                        return Err(bad("key description: allApplications is not NULL"));
                    }
                    list.all_applications = true;
                }
                TAG_ORIGIN => {
                    list.origin =
                        Some(inner.expect_uint(
                            Tag::Integer,
                            "key description: origin is not an INTEGER",
                        )?)
                }
                _ => {}
            }
        }
        Ok(list)
    }
}

/// One DER element, framing checked.
#[derive(Debug, Clone, Copy)]
struct Element<'a> {
    /// The tag class.
    class: Class,
    /// Whether the constructed bit is set.
    constructed: bool,
    /// The tag number.
    tag: u32,
    /// The content octets.
    content: &'a [u8],
}

impl<'a> Element<'a> {
    /// Reads one element from the front of `input` with asn1-rs, then checks what its DER reader
    /// leaves to the caller: the tag number and the length are in their shortest form.
    fn read(input: &'a [u8]) -> Result<(Self, &'a [u8]), AttestationError> {
        let (rest, any) =
            Any::from_der(input).map_err(|_| bad("key description: not valid DER"))?;
        let header = &any.header;
        let element = Self {
            class: header.class(),
            constructed: header.is_constructed(),
            tag: header.tag().0,
            content: any.data,
        };
        let raw_tag = header
            .raw_tag()
            .ok_or(bad("key description: not valid DER"))?;
        if raw_tag != element.canonical_tag().as_slice() {
            return Err(bad("key description: a tag is not in its shortest form"));
        }
        // What asn1-rs consumed, minus tag and content, is the length octets.
        let consumed = input.len() - rest.len();
        if consumed != raw_tag.len() + length_octets(any.data.len()) + any.data.len() {
            return Err(bad("key description: a length is not in its shortest form"));
        }
        Ok((element, rest))
    }

    /// The shortest identifier octets for this class, form and tag number (X.690 §8.1.2).
    fn canonical_tag(&self) -> Vec<u8> {
        let class_bits = (self.class as u8) << 6;
        let form_bit = if self.constructed { 0x20 } else { 0 };
        if self.tag < 31 {
            // Fits in the low five bits (checked just above).
            return vec![class_bits | form_bit | self.tag as u8];
        }
        let mut out = vec![class_bits | form_bit | 0x1f];
        let mut groups = Vec::with_capacity(5);
        let mut n = self.tag;
        while n > 0 {
            groups.push((n & 0x7f) as u8);
            n >>= 7;
        }
        for (i, group) in groups.iter().enumerate().rev() {
            out.push(if i == 0 { *group } else { group | 0x80 });
        }
        out
    }

    /// The content of a universal element with this tag and form, else `wrong_type`.
    fn expect_universal(
        &self,
        tag: Tag,
        constructed: bool,
        wrong_type: &'static str,
    ) -> Result<&'a [u8], AttestationError> {
        if self.class != Class::Universal || self.tag != tag.0 || self.constructed != constructed {
            return Err(bad(wrong_type));
        }
        Ok(self.content)
    }

    /// A non-negative INTEGER or ENUMERATED of at most 64 bits, minimally encoded; `wrong_type`
    /// when the element is something else.
    fn expect_uint(&self, tag: Tag, wrong_type: &'static str) -> Result<u64, AttestationError> {
        let content = self.expect_universal(tag, false, wrong_type)?;
        let magnitude = match content {
            [] => return Err(bad("key description: an integer is empty")),
            [first, ..] if first & 0x80 != 0 => {
                return Err(bad("key description: an integer is negative"))
            }
            // A leading zero is only allowed to keep the next byte's top bit clear.
            [0, second, ..] if second & 0x80 == 0 => {
                return Err(bad("key description: an integer is not minimally encoded"))
            }
            [0, rest @ ..] if !rest.is_empty() => rest,
            _ => content,
        };
        if magnitude.len() > 8 {
            return Err(bad("key description: an integer does not fit in 64 bits"));
        }
        Ok(magnitude
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }
}

/// How many length octets DER uses for a content of `len` bytes (X.690 §10.1).
fn length_octets(len: usize) -> usize {
    if len < 0x80 {
        1
    } else {
        1 + (usize::BITS - len.leading_zeros()).div_ceil(8) as usize
    }
}

/// The elements of a constructed element's content, in order.
struct Elements<'a> {
    /// What is left to read.
    rest: &'a [u8],
}

impl<'a> Elements<'a> {
    /// Iterates over the elements in `content`.
    fn new(content: &'a [u8]) -> Self {
        Self { rest: content }
    }
}

impl<'a> Iterator for Elements<'a> {
    type Item = Result<Element<'a>, AttestationError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match Element::read(self.rest) {
            Ok((element, rest)) => {
                self.rest = rest;
                Some(Ok(element))
            }
            Err(e) => {
                // Stop after the first error.
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}
