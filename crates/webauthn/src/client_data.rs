//! [`CollectedClientData`](https://www.w3.org/TR/webauthn-3/#dictdef-collectedclientdata):
//! parsing and the checks of WebAuthn L3 §7.1 steps 4-9 and §7.2 steps 6-11.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use crate::error::{ClientDataDefect, ClientDataError};
use crate::json::base64url_encode;
use crate::relying_party::RelyingParty;

/// Which ceremony a client data object belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientDataType {
    /// `webauthn.create`: registration.
    Create,
    /// `webauthn.get`: authentication.
    Get,
}

impl ClientDataType {
    /// The `type` string of this ceremony.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "webauthn.create",
            Self::Get => "webauthn.get",
        }
    }
}

/// The parsed `clientDataJSON`. Strings borrow from the input unless they contain escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectedClientData<'a> {
    /// `type`.
    pub type_: Cow<'a, str>,
    /// `challenge`, as the base64url text the client signed.
    pub challenge: Cow<'a, str>,
    /// `origin`.
    pub origin: Cow<'a, str>,
    /// `crossOrigin`; absent means false.
    pub cross_origin: bool,
    /// `topOrigin`, present for ceremonies in a cross-origin iframe.
    pub top_origin: Option<Cow<'a, str>>,
    /// `tokenBinding.status` when the member is an object.
    pub token_binding_status: Option<Cow<'a, str>>,
}

impl<'a> CollectedClientData<'a> {
    /// Parses `clientDataJSON` (L3 §7.1 step 4 / §7.2 step 6): UTF-8 (a leading BOM is dropped),
    /// a JSON object, no member twice. Unknown members are ignored.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ClientDataError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let text = std::str::from_utf8(bytes)
            .map_err(|_| ClientDataError::Malformed(ClientDataDefect::Utf8))?;
        if text.trim_start().as_bytes().first() != Some(&b'{') {
            return Err(ClientDataError::Malformed(ClientDataDefect::Json));
        }
        let defect = Cell::new(None);
        let mut de = serde_json::Deserializer::from_str(text);
        let parsed = de
            .deserialize_map(ClientDataVisitor {
                defect: &defect,
                marker: PhantomData,
            })
            .map_err(|e| {
                let fallback = if e.is_data() {
                    ClientDataDefect::WrongType
                } else {
                    ClientDataDefect::Json
                };
                ClientDataError::Malformed(defect.get().unwrap_or(fallback))
            })?;
        de.end()
            .map_err(|_| ClientDataError::Malformed(ClientDataDefect::Json))?;
        Ok(parsed)
    }

    /// Runs the checks shared by both ceremonies, in spec order: type, challenge, origin,
    /// crossOrigin, topOrigin, tokenBinding.
    pub fn verify(
        &self,
        expected_type: ClientDataType,
        challenge: &[u8],
        rp: &RelyingParty,
    ) -> Result<(), ClientDataError> {
        // §7.1 step 7 / §7.2 step 11: type.
        if self.type_ != expected_type.as_str() {
            return Err(ClientDataError::TypeMismatch {
                expected: expected_type.as_str(),
                got: self.type_.clone().into_owned(),
            });
        }
        // §7.1 step 8 / §7.2 step 12: the signed challenge, exactly as base64url without padding.
        if self.challenge.as_ref() != base64url_encode(challenge) {
            return Err(ClientDataError::ChallengeMismatch);
        }
        // §7.1 step 9 / §7.2 step 13: origin.
        if !rp.accepts_origin(&self.origin) {
            return Err(ClientDataError::OriginMismatch(
                self.origin.clone().into_owned(),
            ));
        }
        // §7.1 step 10 / §7.2 step 14: crossOrigin, then topOrigin.
        if self.cross_origin && !rp.cross_origin_allowed() {
            return Err(ClientDataError::CrossOriginNotAllowed);
        }
        if let Some(top) = &self.top_origin {
            if !rp.accepts_top_origin(top) {
                return Err(ClientDataError::TopOriginMismatch(top.clone().into_owned()));
            }
        }
        // Token binding is reserved in L3, but a malformed status is still refused.
        if let Some(status) = &self.token_binding_status {
            if status != "present" && status != "supported" {
                return Err(ClientDataError::TokenBinding);
            }
        }
        Ok(())
    }
}

/// Walks the members by hand (rather than deriving) to catch duplicates of any member we read
/// and to report a typed defect instead of serde's prose.
struct ClientDataVisitor<'c, 'a> {
    defect: &'c Cell<Option<ClientDataDefect>>,
    marker: PhantomData<&'a ()>,
}

impl ClientDataVisitor<'_, '_> {
    fn fail<E: de::Error>(&self, defect: ClientDataDefect) -> E {
        self.defect.set(Some(defect));
        E::custom(defect)
    }
}

/// `tokenBinding` is an object with a `status`; a bare string is the pre-L1 shape some browsers
/// sent and is ignored; anything else is malformed.
#[derive(Deserialize)]
#[serde(untagged)]
enum TokenBinding<'a> {
    Object {
        #[serde(borrow)]
        status: Cow<'a, str>,
    },
    Legacy(#[allow(dead_code, reason = "read only to tell the shape")] IgnoredString),
}

struct IgnoredString;
impl<'de> Deserialize<'de> for IgnoredString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = IgnoredString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<IgnoredString, E> {
                Ok(IgnoredString)
            }
        }
        deserializer.deserialize_str(V)
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T) -> Result<(), ClientDataDefect> {
    if slot.is_some() {
        return Err(ClientDataDefect::DuplicateMember);
    }
    *slot = Some(value);
    Ok(())
}

impl<'de: 'a, 'a> Visitor<'de> for ClientDataVisitor<'_, 'a> {
    type Value = CollectedClientData<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a CollectedClientData object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut type_ = None;
        let mut challenge = None;
        let mut origin = None;
        let mut cross_origin = None;
        let mut top_origin = None;
        let mut token_binding: Option<Option<Cow<'a, str>>> = None;
        let string = |v: Result<Cow<'a, str>, M::Error>| {
            v.map_err(|_| self.fail::<M::Error>(ClientDataDefect::WrongType))
        };
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let result = match key.as_ref() {
                "type" => set_once(&mut type_, string(map.next_value())?),
                "challenge" => set_once(&mut challenge, string(map.next_value())?),
                "origin" => set_once(&mut origin, string(map.next_value())?),
                "topOrigin" => set_once(&mut top_origin, string(map.next_value())?),
                "crossOrigin" => {
                    let value: bool = map
                        .next_value()
                        .map_err(|_| self.fail::<M::Error>(ClientDataDefect::WrongType))?;
                    set_once(&mut cross_origin, value)
                }
                "tokenBinding" => {
                    let value: TokenBinding<'a> = map
                        .next_value()
                        .map_err(|_| self.fail::<M::Error>(ClientDataDefect::WrongType))?;
                    let status = match value {
                        TokenBinding::Object { status } => Some(status),
                        TokenBinding::Legacy(_) => None,
                    };
                    set_once(&mut token_binding, status)
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    Ok(())
                }
            };
            result.map_err(|d| self.fail::<M::Error>(d))?;
        }
        let (Some(type_), Some(challenge), Some(origin)) = (type_, challenge, origin) else {
            return Err(self.fail(ClientDataDefect::MissingMember));
        };
        Ok(CollectedClientData {
            type_,
            challenge,
            origin,
            cross_origin: cross_origin.unwrap_or(false),
            top_origin,
            token_binding_status: token_binding.flatten(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rp() -> RelyingParty {
        RelyingParty::new("example.com", ["https://example.com"])
    }

    const CHALLENGE: &[u8] = b"0123456789abcdef";

    fn json(extra: &str) -> String {
        format!(
            r#"{{"type":"webauthn.get","challenge":"{}","origin":"https://example.com"{extra}}}"#,
            base64url_encode(CHALLENGE)
        )
    }

    fn check(text: &str) -> Result<(), ClientDataError> {
        CollectedClientData::parse(text.as_bytes())?.verify(ClientDataType::Get, CHALLENGE, &rp())
    }

    #[test]
    fn accepts_unknown_members_and_bom() {
        check(&json(
            r#","other_keys_can_be_added_here":"x","n":{"a":[1]}"#,
        ))
        .unwrap();
        let with_bom = format!("\u{feff}{}", json(""));
        check(&with_bom).unwrap();
    }

    #[test]
    fn duplicate_members_are_refused() {
        let text = json(r#","type":"webauthn.get""#);
        assert_eq!(
            check(&text),
            Err(ClientDataError::Malformed(
                ClientDataDefect::DuplicateMember
            ))
        );
        let text = json(r#","challenge":"AAAA""#);
        assert_eq!(
            check(&text),
            Err(ClientDataError::Malformed(
                ClientDataDefect::DuplicateMember
            ))
        );
    }

    #[test]
    fn malformed_shapes() {
        let cases = [
            ("[]", ClientDataDefect::Json),
            ("", ClientDataDefect::Json),
            (
                r#"{"type":"webauthn.get"}"#,
                ClientDataDefect::MissingMember,
            ),
            (
                r#"{"type":1,"challenge":"","origin":""}"#,
                ClientDataDefect::WrongType,
            ),
            (
                r#"{"type":"webauthn.get","challenge":"","origin":"","crossOrigin":"yes"}"#,
                ClientDataDefect::WrongType,
            ),
        ];
        for (text, defect) in cases {
            assert_eq!(
                check(text),
                Err(ClientDataError::Malformed(defect)),
                "{text}"
            );
        }
        assert_eq!(
            CollectedClientData::parse(b"{\"type\":\"\xff\"}"),
            Err(ClientDataError::Malformed(ClientDataDefect::Utf8))
        );
        assert_eq!(
            CollectedClientData::parse(format!("{} x", json("")).as_bytes()),
            Err(ClientDataError::Malformed(ClientDataDefect::Json))
        );
    }

    #[test]
    fn type_challenge_origin() {
        let wrong_type = json("").replace("webauthn.get", "webauthn.create");
        assert!(matches!(
            check(&wrong_type),
            Err(ClientDataError::TypeMismatch { .. })
        ));
        let empty_type = json("").replace("webauthn.get", "");
        assert!(matches!(
            check(&empty_type),
            Err(ClientDataError::TypeMismatch { .. })
        ));
        // The same challenge bytes in standard base64 with padding is not the same challenge.
        let padded = json("").replace(&base64url_encode(CHALLENGE), "MDEyMzQ1Njc4OWFiY2RlZg==");
        assert_eq!(check(&padded), Err(ClientDataError::ChallengeMismatch));
        let origin = json("").replace("https://example.com", "http://example.com");
        assert!(matches!(
            check(&origin),
            Err(ClientDataError::OriginMismatch(_))
        ));
    }

    #[test]
    fn cross_origin_and_top_origin() {
        assert_eq!(
            check(&json(r#","crossOrigin":true"#)),
            Err(ClientDataError::CrossOriginNotAllowed)
        );
        check(&json(r#","crossOrigin":false"#)).unwrap();
        assert!(matches!(
            check(&json(r#","topOrigin":"https://evil.com""#)),
            Err(ClientDataError::TopOriginMismatch(_))
        ));
    }

    #[test]
    fn token_binding_shapes() {
        check(&json(r#","tokenBinding":{"status":"supported"}"#)).unwrap();
        check(&json(r#","tokenBinding":{"status":"present","id":"AAAA"}"#)).unwrap();
        check(&json(r#","tokenBinding":"unused""#)).unwrap();
        assert_eq!(
            check(&json(r#","tokenBinding":{"status":"foo"}"#)),
            Err(ClientDataError::TokenBinding)
        );
        assert_eq!(
            check(&json(r#","tokenBinding":{"status":"not-supported"}"#)),
            Err(ClientDataError::TokenBinding)
        );
        for bad in [r#","tokenBinding":{}"#, r#","tokenBinding":5"#] {
            assert_eq!(
                check(&json(bad)),
                Err(ClientDataError::Malformed(ClientDataDefect::WrongType)),
                "{bad}"
            );
        }
    }

    #[test]
    fn deep_nesting_never_exhausts_the_stack() {
        for depth in [200, 100_000] {
            for (open, close) in [("[", "]"), (r#"{"a":"#, "}")] {
                let nested = format!("{}0{}", open.repeat(depth), close.repeat(depth));
                // An unknown member is skipped without recursing, whatever its depth.
                check(&json(&format!(r#","x":{nested}"#))).unwrap();
                assert_eq!(
                    check(&json(&format!(r#","tokenBinding":{nested}"#))),
                    Err(ClientDataError::Malformed(ClientDataDefect::WrongType))
                );
                assert!(CollectedClientData::parse(nested.as_bytes()).is_err());
            }
        }
    }

    // Property tests: the parser never panics, and accepts exactly the well-formed objects.

    use proptest::prelude::*;

    /// Members a client data object might carry, as (key, JSON value) text.
    const KEYS: [&str; 8] = [
        "type",
        "challenge",
        "origin",
        "crossOrigin",
        "topOrigin",
        "tokenBinding",
        "other_keys_can_be_added_here",
        "x",
    ];
    const VALUES: [&str; 12] = [
        r#""webauthn.get""#,
        r#""https://example.com""#,
        r#""MDEyMzQ1Njc4OWFiY2RlZg""#,
        r#""we\u0062authn.get""#,
        "true",
        "false",
        "null",
        "17",
        "{}",
        "[]",
        r#"{"status":"present"}"#,
        r#""""#,
    ];

    /// Whether a member with this key may carry this value.
    fn fits(key: &str, value: &str) -> bool {
        let is_string = value.starts_with('"');
        match key {
            "type" | "challenge" | "origin" | "topOrigin" => is_string,
            "crossOrigin" => value == "true" || value == "false",
            "tokenBinding" => is_string || value.contains("status"),
            _ => true,
        }
    }

    fn member() -> impl Strategy<Value = (usize, usize)> {
        (0..KEYS.len(), 0..VALUES.len())
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_bytes(
            data in prop::collection::vec(any::<u8>(), 0..512)
        ) {
            if let Ok(parsed) = CollectedClientData::parse(&data) {
                for ceremony in [ClientDataType::Create, ClientDataType::Get] {
                    let _ = parsed.verify(ceremony, CHALLENGE, &rp());
                }
            }
        }

        #[test]
        fn parse_never_panics_on_json_ish_text(
            text in r#"[\{\}\[\]":,a-z0-9\\ .\-/_]{0,96}"#
        ) {
            let _ = CollectedClientData::parse(text.as_bytes());
            let _ = CollectedClientData::parse(format!("{{{text}}}").as_bytes());
        }

        #[test]
        fn parse_never_panics_on_json_ish_objects(
            members in prop::collection::vec(("[a-zA-Z]{0,12}", "[ -~]{0,16}"), 0..8),
            tail in "[ -~]{0,4}",
        ) {
            let body: Vec<String> = members
                .iter()
                .map(|(k, v)| format!(r#""{k}":"{}""#, v.replace(['\\', '"'], "")))
                .collect();
            let text = format!("{{{}}}{tail}", body.join(","));
            let _ = CollectedClientData::parse(text.as_bytes());
        }

        #[test]
        fn parse_accepts_exactly_well_formed_objects(
            members in prop::collection::vec(member(), 0..9),
            bom in any::<bool>(),
            spaces in any::<bool>(),
        ) {
            let sep = if spaces { " , " } else { "," };
            let body: Vec<String> = members
                .iter()
                .map(|&(k, v)| format!(r#""{}":{}"#, KEYS[k], VALUES[v]))
                .collect();
            let text = format!(
                "{}{{{}}}",
                if bom { "\u{feff}" } else { "" },
                body.join(sep)
            );
            let parsed = CollectedClientData::parse(text.as_bytes());

            // Known members at most once and of the right type; type, challenge, origin present.
            let known = &KEYS[..6];
            let count = |key: &str| members.iter().filter(|&&(k, _)| KEYS[k] == key).count();
            let valid = known.iter().all(|key| count(key) <= 1)
                && members.iter().all(|&(k, v)| fits(KEYS[k], VALUES[v]))
                && ["type", "challenge", "origin"].iter().all(|key| count(key) == 1);
            prop_assert_eq!(parsed.is_ok(), valid, "{}", text);

            if let Ok(parsed) = parsed {
                let value = |key: &str| {
                    members
                        .iter()
                        .find(|&&(k, _)| KEYS[k] == key)
                        .map(|&(_, v)| VALUES[v])
                };
                let unquote = |v: &str| {
                    serde_json::from_str::<String>(v).unwrap()
                };
                prop_assert_eq!(parsed.type_.as_ref(), unquote(value("type").unwrap()));
                prop_assert_eq!(parsed.origin.as_ref(), unquote(value("origin").unwrap()));
                prop_assert_eq!(parsed.cross_origin, value("crossOrigin") == Some("true"));
                prop_assert_eq!(
                    parsed.top_origin.as_deref().map(str::to_owned),
                    value("topOrigin").map(unquote)
                );
                for ceremony in [ClientDataType::Create, ClientDataType::Get] {
                    let _ = parsed.verify(ceremony, CHALLENGE, &rp());
                }
            }
        }

        #[test]
        fn a_bom_never_changes_the_outcome(data in prop::collection::vec(any::<u8>(), 0..128)) {
            prop_assume!(!data.starts_with(b"\xEF\xBB\xBF"));
            let mut with_bom = b"\xEF\xBB\xBF".to_vec();
            with_bom.extend_from_slice(&data);
            prop_assert_eq!(
                CollectedClientData::parse(&with_bom),
                CollectedClientData::parse(&data)
            );
        }
    }
}
