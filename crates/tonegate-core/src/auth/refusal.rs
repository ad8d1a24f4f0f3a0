//! Why an audio socket upgrade was refused: one reason per check, short enough for the
//! 401 body and a metric label, never holding the credential.

/// Why an upgrade was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No `Authorization` header.
    #[error("missing Authorization header")]
    Missing,
    /// Not `Bearer <token>`.
    #[error("Authorization scheme must be Bearer")]
    Scheme,
    /// Wrong static token, or a JWT that cannot be read.
    #[error("invalid token")]
    Invalid,
    /// A JWT signed with anything but RS256.
    #[error("only RS256 tokens are accepted")]
    Algorithm,
    /// A JWT whose `kid` is missing or not in the JWKS.
    #[error("unknown signing key")]
    UnknownKey,
    /// A JWT whose signature does not verify.
    #[error("bad signature")]
    Signature,
    /// `iss` missing or not the configured issuer.
    #[error("wrong issuer")]
    Issuer,
    /// `aud` missing or not the configured audience.
    #[error("wrong audience")]
    Audience,
    /// `exp` has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` is still ahead.
    #[error("token not yet valid")]
    NotYetValid,
    /// No signing keys could be loaded.
    #[error("signing keys unavailable")]
    KeysUnavailable,
    /// No `X-Twilio-Signature` header where one is required.
    #[error("missing X-Twilio-Signature header")]
    TwilioMissing,
    /// An `X-Twilio-Signature` that does not verify.
    #[error("invalid X-Twilio-Signature")]
    TwilioSignature,
    /// A call token for another call than the socket names.
    #[error("the token is for another call")]
    OtherCall,
}

impl Refusal {
    /// Every refusal, for metric labels.
    pub const ALL: [Refusal; 14] = [
        Refusal::Missing,
        Refusal::Scheme,
        Refusal::Invalid,
        Refusal::Algorithm,
        Refusal::UnknownKey,
        Refusal::Signature,
        Refusal::Issuer,
        Refusal::Audience,
        Refusal::Expired,
        Refusal::NotYetValid,
        Refusal::KeysUnavailable,
        Refusal::TwilioMissing,
        Refusal::TwilioSignature,
        Refusal::OtherCall,
    ];

    /// Short label for metrics.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::Scheme => "scheme",
            Refusal::Invalid => "invalid",
            Refusal::Algorithm => "algorithm",
            Refusal::UnknownKey => "unknown_key",
            Refusal::Signature => "signature",
            Refusal::Issuer => "issuer",
            Refusal::Audience => "audience",
            Refusal::Expired => "expired",
            Refusal::NotYetValid => "not_yet_valid",
            Refusal::KeysUnavailable => "keys_unavailable",
            Refusal::TwilioMissing => "twilio_missing",
            Refusal::TwilioSignature => "twilio_signature",
            Refusal::OtherCall => "other_call",
        }
    }

    /// The `WWW-Authenticate` challenge of the 401: the scheme the refused check wanted.
    pub fn challenge(self) -> &'static str {
        match self {
            Refusal::TwilioMissing | Refusal::TwilioSignature => "X-Twilio-Signature",
            _ => "Bearer",
        }
    }
}
