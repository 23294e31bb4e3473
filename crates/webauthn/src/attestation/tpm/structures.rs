//! The two TPM 2.0 structures a `tpm` statement carries, parsed strictly: `pubArea`
//! ([`TPMT_PUBLIC`], TPM 2.0 Part 2 §12.2.4) and `certInfo` ([`TPMS_ATTEST`], Part 2 §10.12.12,
//! with a `TPMS_CERTIFY_INFO`).
//!
//! TPM structures are big-endian and length-prefixed (`TPM2B_*`: a `u16` size, then that many
//! bytes). Every read is bounds-checked, every size is capped at the largest value the structure
//! can hold, union selectors outside the set the structure allows are refused (their contents have
//! no defined size), and nothing may follow the structure. Parsing never panics.
//!
//! [`TPMT_PUBLIC`]: https://trustedcomputinggroup.org/resource/tpm-library-specification/
//! [`TPMS_ATTEST`]: https://trustedcomputinggroup.org/resource/tpm-library-specification/

use std::fmt;

/// `TPM_ALG_RSA`: an RSA key (`TPMI_ALG_PUBLIC`).
pub(crate) const TPM_ALG_RSA: u16 = 0x0001;
/// `TPM_ALG_ECC`: an elliptic-curve key (`TPMI_ALG_PUBLIC`).
pub(crate) const TPM_ALG_ECC: u16 = 0x0023;
/// `TPM_ALG_NULL`: "no algorithm" in a union selector.
pub(crate) const TPM_ALG_NULL: u16 = 0x0010;
/// `TPM_GENERATED_VALUE`: the magic that opens every structure the TPM itself signs.
pub(crate) const TPM_GENERATED_VALUE: u32 = 0xff54_4347;
/// `TPM_ST_ATTEST_CERTIFY`: the structure tag of a `TPM2_Certify` result.
pub(crate) const TPM_ST_ATTEST_CERTIFY: u16 = 0x8017;

/// The largest `TPMU_HA` (SHA-512): the cap of a `TPM2B_DIGEST`.
const MAX_DIGEST: usize = 64;
/// `sizeof(TPMT_HA)`: the cap of a `TPM2B_NAME` and a `TPM2B_DATA`.
const MAX_NAME: usize = 2 + MAX_DIGEST;
/// The cap of a `TPM2B_PUBLIC_KEY_RSA`: an 8192-bit modulus, the largest the verifier accepts.
const MAX_RSA_KEY_BYTES: usize = 1024;
/// The cap of a `TPM2B_ECC_PARAMETER`: larger than a coordinate of any TPM curve.
const MAX_ECC_KEY_BYTES: usize = 128;

/// Symmetric algorithms a `TPMI_ALG_SYM_OBJECT` may name: TDES, AES, SM4, Camellia.
const SYM_OBJECT_ALGS: [u16; 4] = [0x0003, 0x0006, 0x0013, 0x0026];
/// `TPMI_ALG_RSA_SCHEME` values whose details are a `TPMS_SCHEME_HASH`: RSASSA, RSAPSS, OAEP.
const RSA_HASH_SCHEMES: [u16; 3] = [0x0014, 0x0016, 0x0017];
/// `TPM_ALG_RSAES`: an RSA scheme whose details are empty.
const TPM_ALG_RSAES: u16 = 0x0015;
/// `TPMI_ALG_ECC_SCHEME` values whose details are a `TPMS_SCHEME_HASH`: ECDSA, ECDH, SM2,
/// ECSCHNORR, ECMQV.
const ECC_HASH_SCHEMES: [u16; 5] = [0x0018, 0x0019, 0x001b, 0x001c, 0x001d];
/// `TPM_ALG_ECDAA`: an ECC scheme whose details are a `TPMS_SCHEME_ECDAA` (hash and count).
const TPM_ALG_ECDAA: u16 = 0x001a;
/// `TPMI_ALG_KDF` values (MGF1, KDF1_SP800_56A, KDF2, KDF1_SP800_108), each with a hash.
const KDF_SCHEMES: [u16; 4] = [0x0007, 0x0020, 0x0021, 0x0022];

/// Why a TPM structure could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StructureError {
    /// `certInfo.type` is not `TPM_ST_ATTEST_CERTIFY`.
    AttestType(u16),
    /// A union selector is not allowed where it appears.
    Selector(&'static str),
    /// `certInfo.magic` is not `TPM_GENERATED_VALUE`.
    Magic(u32),
    /// `pubArea.nameAlg` is not SHA-1, SHA-256, SHA-384 or SHA-512.
    NameAlg(u16),
    /// `pubArea.type` is neither RSA nor ECC.
    PublicType(u16),
    /// A sized buffer is larger than its structure allows.
    TooLong(&'static str),
    /// Bytes follow the structure.
    TrailingBytes(usize),
    /// The structure ends early.
    Truncated,
}

impl StructureError {
    /// A fixed description, for [`crate::error::AttestationError::Malformed`].
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::AttestType(_) => "certInfo type is not TPM_ST_ATTEST_CERTIFY",
            Self::Selector(what) => what,
            Self::Magic(_) => "certInfo magic is not TPM_GENERATED_VALUE",
            Self::NameAlg(_) => "pubArea nameAlg is not SHA-1, SHA-256, SHA-384 or SHA-512",
            Self::PublicType(_) => "pubArea type is neither TPM_ALG_RSA nor TPM_ALG_ECC",
            Self::TooLong(what) => what,
            Self::TrailingBytes(_) => "a TPM structure has trailing bytes",
            Self::Truncated => "a TPM structure is truncated",
        }
    }
}

impl fmt::Display for StructureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// A hash algorithm a TPM names objects with (`TPMI_ALG_HASH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameAlg {
    /// `TPM_ALG_SHA1` (0x0004).
    Sha1,
    /// `TPM_ALG_SHA256` (0x000B).
    Sha256,
    /// `TPM_ALG_SHA384` (0x000C).
    Sha384,
    /// `TPM_ALG_SHA512` (0x000D).
    Sha512,
}

impl NameAlg {
    /// The algorithm for a `TPM_ALG_ID`, when supported.
    pub(crate) fn from_u16(id: u16) -> Option<Self> {
        match id {
            0x0004 => Some(Self::Sha1),
            0x000b => Some(Self::Sha256),
            0x000c => Some(Self::Sha384),
            0x000d => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The `TPM_ALG_ID`.
    pub(crate) fn to_u16(self) -> u16 {
        match self {
            Self::Sha1 => 0x0004,
            Self::Sha256 => 0x000b,
            Self::Sha384 => 0x000c,
            Self::Sha512 => 0x000d,
        }
    }
}

/// `TPMT_SYM_DEF_OBJECT`: the symmetric algorithm of a storage key (NULL for signing keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SymDefObject {
    /// `TPM_ALG_NULL`.
    Null,
    /// A block cipher with its key size and mode.
    Cipher {
        /// The `TPMI_ALG_SYM_OBJECT`.
        algorithm: u16,
        /// `TPMU_SYM_KEY_BITS`.
        key_bits: u16,
        /// `TPMU_SYM_MODE`.
        mode: u16,
    },
}

/// An asymmetric or KDF scheme (`TPMT_RSA_SCHEME`, `TPMT_ECC_SCHEME`, `TPMT_KDF_SCHEME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `TPM_ALG_NULL`: the key may be used with any scheme.
    Null,
    /// A scheme without details (`TPM_ALG_RSAES`).
    Empty(u16),
    /// A scheme with a `TPMS_SCHEME_HASH`.
    Hash {
        /// The scheme.
        scheme: u16,
        /// Its hash algorithm.
        hash_alg: u16,
    },
    /// `TPM_ALG_ECDAA` with its `TPMS_SCHEME_ECDAA`.
    Ecdaa {
        /// The hash algorithm.
        hash_alg: u16,
        /// The commit counter.
        count: u16,
    },
}

/// `TPMU_PUBLIC_PARMS` and `TPMU_PUBLIC_ID` together: the key a `TPMT_PUBLIC` describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PublicKey<'a> {
    /// `TPMS_RSA_PARMS` and a `TPM2B_PUBLIC_KEY_RSA`.
    Rsa {
        /// `symmetric`.
        symmetric: SymDefObject,
        /// `scheme`.
        scheme: Scheme,
        /// `keyBits`: the modulus size.
        key_bits: u16,
        /// `exponent`: 0 stands for the default, 2^16 + 1.
        exponent: u32,
        /// The big-endian modulus.
        modulus: &'a [u8],
    },
    /// `TPMS_ECC_PARMS` and a `TPMS_ECC_POINT`.
    Ecc {
        /// `symmetric`.
        symmetric: SymDefObject,
        /// `scheme`.
        scheme: Scheme,
        /// `curveID` (`TPM_ECC_CURVE`).
        curve_id: u16,
        /// `kdf`.
        kdf: Scheme,
        /// The big-endian x coordinate.
        x: &'a [u8],
        /// The big-endian y coordinate.
        y: &'a [u8],
    },
}

/// A parsed `TPMT_PUBLIC`, the public area of the credential key inside the TPM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PubArea<'a> {
    /// `nameAlg`: the hash of the object's Name.
    pub(crate) name_alg: NameAlg,
    /// `objectAttributes` (`TPMA_OBJECT`).
    pub(crate) object_attributes: u32,
    /// `authPolicy` (`TPM2B_DIGEST`).
    pub(crate) auth_policy: &'a [u8],
    /// `parameters` and `unique`.
    pub(crate) key: PublicKey<'a>,
}

/// `TPMS_CLOCK_INFO` (17 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClockInfo {
    /// `clock`: milliseconds the TPM has been powered.
    pub(crate) clock: u64,
    /// `resetCount`.
    pub(crate) reset_count: u32,
    /// `restartCount`.
    pub(crate) restart_count: u32,
    /// `safe` (a `TPMI_YES_NO`, kept as sent: the W3C test vectors put 0x33 there, and L3 §8.3
    /// says to ignore `clockInfo`).
    pub(crate) safe: u8,
}

/// A parsed `TPMS_ATTEST` of type `TPM_ST_ATTEST_CERTIFY` (`magic` and `type` are checked while
/// parsing: `attested` has no defined layout otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CertInfo<'a> {
    /// `qualifiedSigner` (`TPM2B_NAME`).
    pub(crate) qualified_signer: &'a [u8],
    /// `extraData` (`TPM2B_DATA`): the caller's nonce, here the hash of `attToBeSigned`.
    pub(crate) extra_data: &'a [u8],
    /// `clockInfo`.
    pub(crate) clock_info: ClockInfo,
    /// `firmwareVersion`.
    pub(crate) firmware_version: u64,
    /// `attested.certify.name` (`TPM2B_NAME`): the certified object's Name.
    pub(crate) name: &'a [u8],
    /// `attested.certify.qualifiedName` (`TPM2B_NAME`).
    pub(crate) qualified_name: &'a [u8],
}

/// A bounds-checked big-endian cursor.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], StructureError> {
        let (head, rest) = self
            .rest
            .split_at_checked(len)
            .ok_or(StructureError::Truncated)?;
        self.rest = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], StructureError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, StructureError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, StructureError> {
        self.array().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Result<u32, StructureError> {
        self.array().map(u32::from_be_bytes)
    }

    fn u64(&mut self) -> Result<u64, StructureError> {
        self.array().map(u64::from_be_bytes)
    }

    /// A `TPM2B_*`: a `u16` size, at most `max`, then the bytes.
    fn sized(&mut self, max: usize, what: &'static str) -> Result<&'a [u8], StructureError> {
        let len = usize::from(self.u16()?);
        if len > max {
            return Err(StructureError::TooLong(what));
        }
        self.take(len)
    }

    fn finish(self) -> Result<(), StructureError> {
        match self.rest.len() {
            0 => Ok(()),
            n => Err(StructureError::TrailingBytes(n)),
        }
    }

    /// `TPMT_SYM_DEF_OBJECT`.
    fn sym_def_object(&mut self) -> Result<SymDefObject, StructureError> {
        match self.u16()? {
            TPM_ALG_NULL => Ok(SymDefObject::Null),
            algorithm if SYM_OBJECT_ALGS.contains(&algorithm) => Ok(SymDefObject::Cipher {
                algorithm,
                key_bits: self.u16()?,
                mode: self.u16()?,
            }),
            _ => Err(StructureError::Selector(
                "pubArea symmetric is not a TPMI_ALG_SYM_OBJECT",
            )),
        }
    }

    /// `TPMT_RSA_SCHEME`.
    fn rsa_scheme(&mut self) -> Result<Scheme, StructureError> {
        match self.u16()? {
            TPM_ALG_NULL => Ok(Scheme::Null),
            TPM_ALG_RSAES => Ok(Scheme::Empty(TPM_ALG_RSAES)),
            scheme if RSA_HASH_SCHEMES.contains(&scheme) => Ok(Scheme::Hash {
                scheme,
                hash_alg: self.u16()?,
            }),
            _ => Err(StructureError::Selector(
                "pubArea scheme is not a TPMI_ALG_RSA_SCHEME",
            )),
        }
    }

    /// `TPMT_ECC_SCHEME`.
    fn ecc_scheme(&mut self) -> Result<Scheme, StructureError> {
        match self.u16()? {
            TPM_ALG_NULL => Ok(Scheme::Null),
            TPM_ALG_ECDAA => Ok(Scheme::Ecdaa {
                hash_alg: self.u16()?,
                count: self.u16()?,
            }),
            scheme if ECC_HASH_SCHEMES.contains(&scheme) => Ok(Scheme::Hash {
                scheme,
                hash_alg: self.u16()?,
            }),
            _ => Err(StructureError::Selector(
                "pubArea scheme is not a TPMI_ALG_ECC_SCHEME",
            )),
        }
    }

    /// `TPMT_KDF_SCHEME`.
    fn kdf_scheme(&mut self) -> Result<Scheme, StructureError> {
        match self.u16()? {
            TPM_ALG_NULL => Ok(Scheme::Null),
            scheme if KDF_SCHEMES.contains(&scheme) => Ok(Scheme::Hash {
                scheme,
                hash_alg: self.u16()?,
            }),
            _ => Err(StructureError::Selector(
                "pubArea kdf is not a TPMI_ALG_KDF",
            )),
        }
    }
}

impl<'a> PubArea<'a> {
    /// Parses a complete `TPMT_PUBLIC` of an RSA or ECC key.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, StructureError> {
        let mut r = Reader { rest: bytes };
        let public_type = r.u16()?;
        if public_type != TPM_ALG_RSA && public_type != TPM_ALG_ECC {
            return Err(StructureError::PublicType(public_type));
        }
        let name_alg_id = r.u16()?;
        let name_alg =
            NameAlg::from_u16(name_alg_id).ok_or(StructureError::NameAlg(name_alg_id))?;
        let object_attributes = r.u32()?;
        let auth_policy = r.sized(MAX_DIGEST, "pubArea authPolicy is longer than a digest")?;
        let key = if public_type == TPM_ALG_RSA {
            let symmetric = r.sym_def_object()?;
            let scheme = r.rsa_scheme()?;
            let key_bits = r.u16()?;
            let exponent = r.u32()?;
            let modulus = r.sized(
                MAX_RSA_KEY_BYTES,
                "pubArea unique RSA modulus is longer than 8192 bits",
            )?;
            PublicKey::Rsa {
                symmetric,
                scheme,
                key_bits,
                exponent,
                modulus,
            }
        } else {
            let symmetric = r.sym_def_object()?;
            let scheme = r.ecc_scheme()?;
            let curve_id = r.u16()?;
            let kdf = r.kdf_scheme()?;
            let too_long = "pubArea unique ECC coordinate is too long";
            let x = r.sized(MAX_ECC_KEY_BYTES, too_long)?;
            let y = r.sized(MAX_ECC_KEY_BYTES, too_long)?;
            PublicKey::Ecc {
                symmetric,
                scheme,
                curve_id,
                kdf,
                x,
                y,
            }
        };
        r.finish()?;
        Ok(Self {
            name_alg,
            object_attributes,
            auth_policy,
            key,
        })
    }
}

impl<'a> CertInfo<'a> {
    /// Parses a complete `TPMS_ATTEST`, refusing any `magic` but `TPM_GENERATED_VALUE` and any
    /// `type` but `TPM_ST_ATTEST_CERTIFY`.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, StructureError> {
        let mut r = Reader { rest: bytes };
        let magic = r.u32()?;
        if magic != TPM_GENERATED_VALUE {
            return Err(StructureError::Magic(magic));
        }
        let attest_type = r.u16()?;
        if attest_type != TPM_ST_ATTEST_CERTIFY {
            return Err(StructureError::AttestType(attest_type));
        }
        let name_too_long = "certInfo holds a TPM2B_NAME longer than a TPMT_HA";
        let qualified_signer = r.sized(MAX_NAME, name_too_long)?;
        let extra_data = r.sized(MAX_NAME, "certInfo extraData is longer than a TPMT_HA")?;
        let clock_info = ClockInfo {
            clock: r.u64()?,
            reset_count: r.u32()?,
            restart_count: r.u32()?,
            safe: r.u8()?,
        };
        let firmware_version = r.u64()?;
        let name = r.sized(MAX_NAME, name_too_long)?;
        let qualified_name = r.sized(MAX_NAME, name_too_long)?;
        r.finish()?;
        Ok(Self {
            qualified_signer,
            extra_data,
            clock_info,
            firmware_version,
            name,
            qualified_name,
        })
    }
}
