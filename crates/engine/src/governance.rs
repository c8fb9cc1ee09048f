//! The governance vocabulary the front ends parse and show: a collection's governance fields
//! and their values, roles, and the bounds on free text (from `gabarit-governance`, whose
//! policy the use cases apply).

pub use gabarit_governance::{
    Condition, GovernanceDraft, LegalBasis, PurposeCategory, Retention, Role, limits, parse_jurisdiction,
};
