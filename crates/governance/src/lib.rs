//! Governance as values: what makes processing lawful, who may do what, and the audit chain.
//!
//! - [`legal`]: [`LegalBasis`] (GDPR art. 6(1)) and [`Condition`] (art. 9(2): biometric data
//!   used to identify a person is a special category) carry their article letters;
//!   [`Governance`] is what every collection must record before anything is ingested, and
//!   [`GovernanceDraft::missing`] names what is missing, [`GovernanceDraft::validate`] what
//!   is wrong.
//! - [`policy`]: [`Role`] × [`Action`] is one exhaustive table ([`reach`]) saying how far each
//!   permission reaches; [`Authorized`] is a proof, bound to its action by its type and to the
//!   collections it covers by its [`Scope`], that only [`authorize`] creates.
//! - [`audit`]: canonical entries chained and authenticated with a key (HMAC-SHA256), the
//!   verification that names the first broken entry, and signed checkpoints that detect a
//!   truncated or rewritten chain.
//! - [`limits`]: the bounds of every free-text field, checked before anything is stored.
//!
//! No I/O here: storage is the catalog's, clocks and keys are passed in.

pub mod audit;
pub mod legal;
pub mod limits;
pub mod policy;

pub use legal::{Condition, Governance, GovernanceDraft, LegalBasis, PurposeCategory, Retention, parse_jurisdiction};
pub use policy::{
    Act, Action, Authorized, Principal, Reach, Role, Scope, actions, authorize, authorize_system, confirmed, permits,
    reach,
};

/// Policy errors (user errors: each says what to change).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A value is not one of the accepted ones.
    #[error("{field}: {value:?} is not valid; expected {expected}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// The value given (shortened).
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// A free-text value is longer than its field allows, or holds control characters.
    #[error("{field}: {problem}")]
    Bounds {
        /// The field.
        field: &'static str,
        /// What is wrong (its length and the limit, or the character).
        problem: String,
    },
    /// Governance fields are missing.
    #[error("collection {collection:?} lacks {}: set them with `gabarit collection update {collection} --{}` ...", missing.join(", "), missing.first().copied().unwrap_or(""))]
    Incomplete {
        /// The collection.
        collection: String,
        /// Flag names of the missing fields.
        missing: Vec<&'static str>,
    },
    /// The user may not do this.
    #[error("{user} ({roles}) may not {action}")]
    Forbidden {
        /// The user.
        user: String,
        /// Their roles.
        roles: String,
        /// The action refused.
        action: String,
    },
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests;
