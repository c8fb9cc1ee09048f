//! Governance as values: what makes processing lawful, who may do what, and the audit chain.
//!
//! - [`LegalBasis`] (GDPR art. 6(1)) and [`Condition`] (art. 9(2): biometric data used to
//!   identify a person is a special category) as enumerations carrying their article letters;
//!   [`Governance`] is what every collection must record before anything is ingested, and
//!   [`GovernanceDraft::missing`] names what is missing.
//! - [`Role`] and [`Action`]: the permission table is one exhaustive `match`, so a new role or
//!   action cannot compile without a decision. [`Authorized`] is a proof that only
//!   [`authorize`] creates: functions that touch biometric data take one.
//! - [`audit`]: canonical entries chained by SHA-256, and the verification that names the
//!   first broken entry.
//!
//! No I/O here: storage is the catalog's, clocks are passed in.

pub mod audit;

use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

/// Policy errors (user errors: each says what to change).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A value is not one of the accepted ones.
    #[error("{field}: {value:?} is not valid; expected {expected}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: String,
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

/// GDPR art. 6(1): the lawful basis of the processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegalBasis {
    /// 6(1)(a) consent of the data subject.
    Consent,
    /// 6(1)(b) performance of a contract.
    Contract,
    /// 6(1)(c) legal obligation of the controller.
    LegalObligation,
    /// 6(1)(d) vital interests.
    VitalInterests,
    /// 6(1)(e) task in the public interest or official authority.
    PublicTask,
    /// 6(1)(f) legitimate interests.
    LegitimateInterests,
}

impl LegalBasis {
    /// Every basis.
    pub const ALL: [LegalBasis; 6] = [
        LegalBasis::Consent,
        LegalBasis::Contract,
        LegalBasis::LegalObligation,
        LegalBasis::VitalInterests,
        LegalBasis::PublicTask,
        LegalBasis::LegitimateInterests,
    ];
    /// Its letter in art. 6(1).
    pub fn letter(self) -> char {
        match self {
            LegalBasis::Consent => 'a',
            LegalBasis::Contract => 'b',
            LegalBasis::LegalObligation => 'c',
            LegalBasis::VitalInterests => 'd',
            LegalBasis::PublicTask => 'e',
            LegalBasis::LegitimateInterests => 'f',
        }
    }
    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            LegalBasis::Consent => "consent",
            LegalBasis::Contract => "contract",
            LegalBasis::LegalObligation => "legal_obligation",
            LegalBasis::VitalInterests => "vital_interests",
            LegalBasis::PublicTask => "public_task",
            LegalBasis::LegitimateInterests => "legitimate_interests",
        }
    }
    /// Parses `a`…`f`, `6(1)(a)`, `art6-1-a` or the short name.
    pub fn parse(s: &str) -> Result<LegalBasis> {
        parse_lettered(
            s,
            &Self::ALL,
            |b| b.letter(),
            |b| b.name(),
            "legal-basis",
            "6(1)(a)…(f) or consent, contract, legal_obligation, vital_interests, public_task, legitimate_interests",
        )
    }
}

impl fmt::Display for LegalBasis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GDPR art. 6(1)({}) {}", self.letter(), self.name())
    }
}

/// GDPR art. 9(2): the condition lifting the ban on processing biometric data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// 9(2)(a) explicit consent.
    ExplicitConsent,
    /// 9(2)(b) employment and social security law.
    Employment,
    /// 9(2)(c) vital interests of a person unable to consent.
    VitalInterests,
    /// 9(2)(d) foundation, association or not-for-profit body.
    NotForProfit,
    /// 9(2)(e) data manifestly made public by the data subject.
    ManifestlyPublic,
    /// 9(2)(f) legal claims or courts acting in their judicial capacity.
    LegalClaims,
    /// 9(2)(g) substantial public interest, on the basis of law.
    SubstantialPublicInterest,
    /// 9(2)(h) preventive or occupational medicine, health care.
    HealthCare,
    /// 9(2)(i) public health.
    PublicHealth,
    /// 9(2)(j) archiving in the public interest, research, statistics (art. 89).
    Archiving,
}

impl Condition {
    /// Every condition.
    pub const ALL: [Condition; 10] = [
        Condition::ExplicitConsent,
        Condition::Employment,
        Condition::VitalInterests,
        Condition::NotForProfit,
        Condition::ManifestlyPublic,
        Condition::LegalClaims,
        Condition::SubstantialPublicInterest,
        Condition::HealthCare,
        Condition::PublicHealth,
        Condition::Archiving,
    ];
    /// Its letter in art. 9(2).
    pub fn letter(self) -> char {
        match self {
            Condition::ExplicitConsent => 'a',
            Condition::Employment => 'b',
            Condition::VitalInterests => 'c',
            Condition::NotForProfit => 'd',
            Condition::ManifestlyPublic => 'e',
            Condition::LegalClaims => 'f',
            Condition::SubstantialPublicInterest => 'g',
            Condition::HealthCare => 'h',
            Condition::PublicHealth => 'i',
            Condition::Archiving => 'j',
        }
    }
    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Condition::ExplicitConsent => "explicit_consent",
            Condition::Employment => "employment",
            Condition::VitalInterests => "vital_interests",
            Condition::NotForProfit => "not_for_profit",
            Condition::ManifestlyPublic => "manifestly_public",
            Condition::LegalClaims => "legal_claims",
            Condition::SubstantialPublicInterest => "substantial_public_interest",
            Condition::HealthCare => "health_care",
            Condition::PublicHealth => "public_health",
            Condition::Archiving => "archiving",
        }
    }
    /// Parses `a`…`j`, `9(2)(a)`, `art9-2-a` or the short name.
    pub fn parse(s: &str) -> Result<Condition> {
        parse_lettered(
            s,
            &Self::ALL,
            |c| c.letter(),
            |c| c.name(),
            "condition",
            "9(2)(a)…(j) or explicit_consent, employment, vital_interests, not_for_profit, manifestly_public, legal_claims, substantial_public_interest, health_care, public_health, archiving",
        )
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GDPR art. 9(2)({}) {}", self.letter(), self.name())
    }
}

fn parse_lettered<T: Copy>(
    s: &str,
    all: &[T],
    letter: impl Fn(T) -> char,
    name: impl Fn(T) -> &'static str,
    field: &'static str,
    expected: &str,
) -> Result<T> {
    let t = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
    let last = t.trim_end_matches(')').chars().last();
    all.iter()
        .copied()
        .find(|&v| {
            name(v) == t
                || (t.len() == 1 && last == Some(letter(v)))
                || ((t.starts_with("6(") || t.starts_with("9(") || t.starts_with("art")) && last == Some(letter(v)))
        })
        .ok_or_else(|| Error::Invalid { field, value: s.to_string(), expected: expected.to_string() })
}

/// The kind of purpose a collection serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PurposeCategory {
    /// Photo and video archives (press, broadcasters, museums).
    Archive,
    /// Investigations on lawfully obtained media.
    Investigation,
    /// Event photos found by participants, with their consent.
    EventPhotos,
    /// Identity-fraud detection.
    FraudPrevention,
    /// Research and statistics.
    Research,
}

impl PurposeCategory {
    /// Every category.
    pub const ALL: [PurposeCategory; 5] = [
        PurposeCategory::Archive,
        PurposeCategory::Investigation,
        PurposeCategory::EventPhotos,
        PurposeCategory::FraudPrevention,
        PurposeCategory::Research,
    ];
    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            PurposeCategory::Archive => "archive",
            PurposeCategory::Investigation => "investigation",
            PurposeCategory::EventPhotos => "event_photos",
            PurposeCategory::FraudPrevention => "fraud_prevention",
            PurposeCategory::Research => "research",
        }
    }
    /// Parses a short name.
    pub fn parse(s: &str) -> Result<PurposeCategory> {
        let t = s.trim().to_ascii_lowercase().replace('-', "_");
        Self::ALL.iter().copied().find(|c| c.name() == t).ok_or_else(|| Error::Invalid {
            field: "purpose-category",
            value: s.to_string(),
            expected: "archive, investigation, event_photos, fraud_prevention or research".into(),
        })
    }
}

/// How long a collection's data is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Retention {
    /// This many days after ingestion.
    Days(u32),
    /// Until this date (inclusive).
    Until(jiff::civil::Date),
}

impl Retention {
    /// Whether data ingested at `ingested` has expired at `now`.
    pub fn expired(&self, ingested: jiff::Timestamp, now: jiff::Timestamp) -> bool {
        match self {
            Retention::Days(d) => now.as_second() - ingested.as_second() >= i64::from(*d) * 86_400,
            Retention::Until(date) => jiff::tz::TimeZone::UTC.to_datetime(now).date() > *date,
        }
    }
}

/// Validates an ISO 3166-1 alpha-2 code (two ASCII capital letters).
pub fn parse_jurisdiction(s: &str) -> Result<String> {
    let t = s.trim().to_ascii_uppercase();
    if t.len() == 2 && t.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(t)
    } else {
        Err(Error::Invalid {
            field: "jurisdiction",
            value: s.to_string(),
            expected: "an ISO 3166-1 alpha-2 code such as FR".into(),
        })
    }
}

/// What a collection must record before anything is ingested into it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Governance {
    /// Controller's name.
    pub controller: String,
    /// Controller's contact (email or address).
    pub controller_contact: String,
    /// Purpose in plain words.
    pub purpose: String,
    /// Kind of purpose.
    pub purpose_category: PurposeCategory,
    /// Art. 6 basis.
    pub legal_basis: LegalBasis,
    /// Art. 9(2) condition.
    pub condition: Condition,
    /// Jurisdictions (ISO 3166-1 alpha-2).
    pub jurisdictions: Vec<String>,
    /// Retention.
    pub retention: Retention,
    /// DPIA reference.
    pub dpia: String,
}

/// Governance fields as entered, possibly incomplete.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GovernanceDraft {
    /// Controller's name.
    pub controller: Option<String>,
    /// Controller's contact.
    pub controller_contact: Option<String>,
    /// Purpose.
    pub purpose: Option<String>,
    /// Kind of purpose.
    pub purpose_category: Option<PurposeCategory>,
    /// Art. 6 basis.
    pub legal_basis: Option<LegalBasis>,
    /// Art. 9(2) condition.
    pub condition: Option<Condition>,
    /// Jurisdictions.
    pub jurisdictions: Vec<String>,
    /// Retention.
    pub retention: Option<Retention>,
    /// DPIA reference.
    pub dpia: Option<String>,
}

impl GovernanceDraft {
    /// The flags of the fields still missing.
    pub fn missing(&self) -> Vec<&'static str> {
        let blank = |o: &Option<String>| o.as_deref().is_none_or(|s| s.trim().is_empty());
        let mut m = Vec::new();
        if blank(&self.controller) {
            m.push("controller");
        }
        if blank(&self.controller_contact) {
            m.push("controller-contact");
        }
        if blank(&self.purpose) {
            m.push("purpose");
        }
        if self.purpose_category.is_none() {
            m.push("purpose-category");
        }
        if self.legal_basis.is_none() {
            m.push("legal-basis");
        }
        if self.condition.is_none() {
            m.push("condition");
        }
        if self.jurisdictions.is_empty() {
            m.push("jurisdiction");
        }
        if self.retention.is_none() {
            m.push("retention-days");
        }
        if blank(&self.dpia) {
            m.push("dpia");
        }
        m
    }

    /// The complete governance record, or the error naming what is missing.
    pub fn complete(&self, collection: &str) -> Result<Governance> {
        match (
            &self.controller,
            &self.controller_contact,
            &self.purpose,
            self.purpose_category,
            self.legal_basis,
            self.condition,
            self.retention,
            &self.dpia,
        ) {
            (Some(c), Some(cc), Some(p), Some(pc), Some(lb), Some(cond), Some(r), Some(d))
                if self.missing().is_empty() =>
            {
                Ok(Governance {
                    controller: c.clone(),
                    controller_contact: cc.clone(),
                    purpose: p.clone(),
                    purpose_category: pc,
                    legal_basis: lb,
                    condition: cond,
                    jurisdictions: self.jurisdictions.clone(),
                    retention: r,
                    dpia: d.clone(),
                })
            }
            _ => Err(Error::Incomplete { collection: collection.to_string(), missing: self.missing() }),
        }
    }
}

/// A role. Users may hold several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Users and keys.
    Admin,
    /// Collections and ingestion.
    Curator,
    /// Searches within the collections granted to them.
    Investigator,
    /// Confirms or rejects candidates.
    Reviewer,
    /// Data protection officer: rights requests, audit, retention, reports.
    Dpo,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [Role::Admin, Role::Curator, Role::Investigator, Role::Reviewer, Role::Dpo];
    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Curator => "curator",
            Role::Investigator => "investigator",
            Role::Reviewer => "reviewer",
            Role::Dpo => "dpo",
        }
    }
    /// Parses a short name.
    pub fn parse(s: &str) -> Result<Role> {
        let t = s.trim().to_ascii_lowercase();
        Self::ALL.iter().copied().find(|r| r.name() == t).ok_or_else(|| Error::Invalid {
            field: "role",
            value: s.to_string(),
            expected: "admin, curator, investigator, reviewer or dpo".into(),
        })
    }
}

/// Something a user may want to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Create users, grant roles and collections, issue keys.
    ManageUsers,
    /// Create and update collections.
    ManageCollections,
    /// Ingest into collections.
    Ingest,
    /// Search collections (only those granted).
    Search,
    /// Confirm or reject candidates.
    Review,
    /// Handle rights requests (access, erasure, objection).
    Rights,
    /// Read, export and verify the audit log.
    Audit,
    /// Run retention.
    Retention,
    /// Records of processing and other reports.
    Reports,
}

impl Action {
    /// Stable name (also the audit name of the action).
    pub fn name(self) -> &'static str {
        match self {
            Action::ManageUsers => "manage_users",
            Action::ManageCollections => "manage_collections",
            Action::Ingest => "ingest",
            Action::Search => "search",
            Action::Review => "review",
            Action::Rights => "handle_rights_requests",
            Action::Audit => "audit",
            Action::Retention => "run_retention",
            Action::Reports => "reports",
        }
    }
}

/// Whether `role` permits `action`: the whole permission table.
pub fn permits(role: Role, action: Action) -> bool {
    match (role, action) {
        (Role::Admin, Action::ManageUsers) => true,
        (Role::Curator, Action::ManageCollections | Action::Ingest) => true,
        (Role::Investigator, Action::Search) => true,
        (Role::Reviewer, Action::Review) => true,
        (Role::Dpo, Action::Rights | Action::Audit | Action::Retention | Action::Reports) => true,
        (
            Role::Admin | Role::Curator | Role::Investigator | Role::Reviewer | Role::Dpo,
            Action::ManageUsers
            | Action::ManageCollections
            | Action::Ingest
            | Action::Search
            | Action::Review
            | Action::Rights
            | Action::Audit
            | Action::Retention
            | Action::Reports,
        ) => false,
    }
}

/// A user as the policy sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// User name.
    pub name: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// Collection ids granted for search.
    pub collections: Vec<u32>,
}

/// Proof that `user` may perform the action `A`. Only [`authorize`] makes one; functions
/// that touch biometric data take it as an argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized<A> {
    user: String,
    action: Action,
    _marker: PhantomData<A>,
}

impl<A> Authorized<A> {
    /// Who is authorised.
    pub fn user(&self) -> &str {
        &self.user
    }
    /// For what.
    pub fn action(&self) -> Action {
        self.action
    }
}

/// Marker types naming actions in [`Authorized`].
pub mod actions {
    /// Searching collections.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Search;
    /// Ingesting.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Ingest;
    /// Handling rights requests.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Rights;
    /// Any other action.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Other;
}

/// Checks that `who` holds a role permitting `action`.
pub fn authorize<A>(who: &Principal, action: Action) -> Result<Authorized<A>> {
    if who.roles.iter().any(|&r| permits(r, action)) {
        Ok(Authorized { user: who.name.clone(), action, _marker: PhantomData })
    } else {
        Err(Error::Forbidden {
            user: who.name.clone(),
            roles: who.roles.iter().map(|r| r.name()).collect::<Vec<_>>().join(", "),
            action: action.name().replace('_', " "),
        })
    }
}

/// Checks that an investigator may search every one of `collections` (by id).
pub fn authorize_search(who: &Principal, collections: &[(u32, String)]) -> Result<Authorized<actions::Search>> {
    let proof = authorize::<actions::Search>(who, Action::Search)?;
    if let Some((_, name)) = collections.iter().find(|(id, _)| !who.collections.contains(id)) {
        return Err(Error::Forbidden {
            user: who.name.clone(),
            roles: who.roles.iter().map(|r| r.name()).collect::<Vec<_>>().join(", "),
            action: format!("search collection {name:?} (not granted)"),
        });
    }
    Ok(proof)
}

/// Whether a candidate is confirmed (AI Act art. 14(5)): at least two *different* reviewers
/// confirmed it and none rejected it. One reviewer confirming twice is still one.
pub fn confirmed(confirmations: &[String], rejections: &[String]) -> bool {
    let mut who: Vec<&String> = confirmations.iter().collect();
    who.sort();
    who.dedup();
    who.len() >= 2 && rejections.is_empty()
}

#[cfg(test)]
mod tests;
