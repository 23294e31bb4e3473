//! Why a policy text is refused: a leaf, so that the HTTP error type can carry it without
//! depending on the policy engine.

/// The largest policy text accepted, in bytes.
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

/// Why a policy text is refused. The messages are Cedar's, with the line and column of the
/// fault where Cedar gives one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The text holds no policy. Under Cedar's default deny that would refuse everything;
    /// clear the policy to permit everything, or write `forbid(principal, action, resource);`
    /// to refuse everything on purpose.
    #[error(
        "the policy text holds no policy (it would deny everything); clear the policy instead, \
         or write forbid(principal, action, resource); to deny everything on purpose"
    )]
    Empty,
    /// The text is Cedar but does not validate against [`SCHEMA`](super::SCHEMA) (strict mode), or uses
    /// templates.
    #[error("the policy does not validate against passkeyd's schema: {}", .0.join("; "))]
    Invalid(Vec<String>),
    /// The text is not Cedar.
    #[error("the policy does not parse: {}", .0.join("; "))]
    Parse(Vec<String>),
    /// The text is over [`MAX_POLICY_BYTES`].
    #[error("the policy is larger than {} bytes", MAX_POLICY_BYTES)]
    TooLarge,
}

impl PolicyError {
    /// One message per problem found.
    pub fn messages(&self) -> Vec<String> {
        match self {
            Self::Empty | Self::TooLarge => vec![self.to_string()],
            Self::Invalid(messages) | Self::Parse(messages) => messages.clone(),
        }
    }
}
