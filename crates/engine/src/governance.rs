//! The governance vocabulary the front ends parse and show: a collection's governance fields
//! and their values, roles, and the bounds on free text (from `gabarit-governance`, whose
//! policy the use cases apply).

pub use gabarit_governance::{
    Condition, GovernanceDraft, LegalBasis, PurposeCategory, Retention, Role, limits, parse_jurisdiction,
};

use serde::Serialize;

/// One value of a governance list: its code, and its article of the GDPR where it has one.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Term {
    /// The code the API and the CLI take.
    pub code: &'static str,
    /// The article (`6(1)(a)`, `9(2)(j)`), for legal bases and conditions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article: Option<String>,
}

/// The governance vocabulary, as the front ends offer it (their words for each code are
/// theirs, in each language): served by the API so that no front end copies the lists.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vocabulary {
    /// Lawful bases (GDPR art. 6(1)).
    pub legal_bases: Vec<Term>,
    /// Conditions for processing biometric data (GDPR art. 9(2)).
    pub conditions: Vec<Term>,
    /// Purpose categories.
    pub purpose_categories: Vec<Term>,
    /// Roles.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<gabarit_governance::Role>))]
    pub roles: Vec<&'static str>,
}

/// The vocabulary, in the order the lists are shown.
pub fn vocabulary() -> Vocabulary {
    Vocabulary {
        legal_bases: LegalBasis::ALL
            .iter()
            .map(|b| Term { code: b.name(), article: Some(format!("6(1)({})", b.letter())) })
            .collect(),
        conditions: Condition::ALL
            .iter()
            .map(|c| Term { code: c.name(), article: Some(format!("9(2)({})", c.letter())) })
            .collect(),
        purpose_categories: PurposeCategory::ALL.iter().map(|p| Term { code: p.name(), article: None }).collect(),
        roles: Role::ALL.iter().map(|r| r.name()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vocabulary_lists_every_value_with_its_article() {
        let v = vocabulary();
        assert_eq!(v.legal_bases.len(), 6);
        assert_eq!(v.legal_bases[0], Term { code: "consent", article: Some("6(1)(a)".into()) });
        assert_eq!(v.conditions.len(), 10);
        assert_eq!(v.conditions.last().map(|c| c.article.as_deref()), Some(Some("9(2)(j)")));
        assert_eq!(v.purpose_categories.len(), 5);
        assert_eq!(v.roles, ["admin", "curator", "investigator", "reviewer", "dpo"]);
        for t in v.legal_bases.iter().chain(&v.conditions) {
            assert!(LegalBasis::parse(t.code).is_ok() || Condition::parse(t.code).is_ok(), "{} parses back", t.code);
        }
    }
}
