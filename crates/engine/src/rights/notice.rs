//! What GDPR art. 15(1) tells a person about each collection holding faces of theirs: the
//! categories of data, the recipients (by the permission table), the supervisory authority of
//! each jurisdiction, the person's rights and how matching is automated and reviewed.

use gabarit_governance::legal::{SupervisoryAuthority, supervisory_authority};
use gabarit_governance::{Condition, LegalBasis, PurposeCategory, Retention};
use serde::Serialize;

use super::RightsMatch;
use crate::Result;
use crate::store::Store;

/// A category of personal data a collection holds on a person (GDPR art. 15(1)(b)).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DataCategory {
    /// Stable code.
    pub code: &'static str,
    /// In plain English.
    pub description: &'static str,
}

/// What every collection holds on a face (the record of processing lists the same).
pub const DATA_CATEGORIES: [DataCategory; 4] = [
    DataCategory { code: "photographs", description: "photographs of persons (image files, by reference)" },
    DataCategory { code: "face_templates", description: "biometric templates of faces (GDPR art. 9)" },
    DataCategory { code: "face_positions", description: "face positions and quality measures" },
    DataCategory { code: "exif", description: "EXIF capture time and camera" },
];

/// Someone who may see a collection's faces (GDPR art. 15(1)(c)): a user, with the roles by
/// which they may (an investigator or reviewer granted the collection, a curator, a DPO).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipient {
    /// User name.
    pub name: String,
    /// The roles that give them access to the collection.
    pub roles: Vec<gabarit_governance::Role>,
}

/// A jurisdiction of a collection and the authority a person may complain to there.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Jurisdiction {
    /// ISO 3166-1 alpha-2 code.
    pub code: String,
    /// Its supervisory authority; `None` when the country is not in Gabarit's table (the
    /// person then asks the controller which authority to turn to).
    pub authority: Option<SupervisoryAuthority>,
}

/// What GDPR art. 15(1) tells the person about one collection holding faces of theirs.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct CollectionNotice {
    /// Collection.
    pub collection: String,
    /// How many of the faces reported are in it.
    pub faces: usize,
    /// The controller (the person's contact for their rights).
    pub controller: Option<String>,
    /// The controller's contact.
    pub controller_contact: Option<String>,
    /// (a) The purpose, in the controller's words.
    pub purpose: Option<String>,
    /// (a) The kind of purpose.
    pub purpose_category: Option<PurposeCategory>,
    /// (a) The lawful basis (art. 6(1)).
    pub legal_basis: Option<LegalBasis>,
    /// (a) The condition lifting the ban on biometric data (art. 9(2)).
    pub condition: Option<Condition>,
    /// (b) The categories of personal data held.
    pub data_categories: Vec<DataCategory>,
    /// (c) Who may see the faces: the users and their roles.
    pub recipients: Vec<Recipient>,
    /// (d) How long the data are kept, as data.
    pub retention: Option<Retention>,
    /// (d) The same as a person reads it ("3650 days after ingestion").
    pub retention_text: Option<String>,
    /// (f) The jurisdictions and their supervisory authorities.
    pub jurisdictions: Vec<Jurisdiction>,
}

/// A right of the data subject over their data (GDPR art. 15(1)(e)).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SubjectRight {
    /// Stable code: rectification, erasure, restriction or objection.
    pub right: &'static str,
    /// Its article of the GDPR.
    pub article: &'static str,
    /// In plain English.
    pub description: &'static str,
}

/// The rights art. 15(1)(e) names.
pub const SUBJECT_RIGHTS: [SubjectRight; 4] = [
    SubjectRight {
        right: "rectification",
        article: "16",
        description: "to have inaccurate personal data about you rectified",
    },
    SubjectRight {
        right: "erasure",
        article: "17",
        description: "to have your personal data erased: your faces, their templates and the photos left without faces are deleted",
    },
    SubjectRight {
        right: "restriction",
        article: "18",
        description: "to obtain the restriction of the processing of your personal data",
    },
    SubjectRight {
        right: "objection",
        article: "21",
        description: "to object to the processing of your personal data: your faces are then hidden from search and refused at ingestion",
    },
];

/// Art. 15(1)(h): matching is automated, decisions are not.
pub const AUTOMATED_MATCHING: &str = "Faces are matched automatically: a model computes a template (a list of numbers) from each face, and a search compares the template of the face searched for with the templates held; a face scoring above a threshold becomes a candidate. No decision is taken on a match alone: every candidate a search finds is reviewed by people, who confirm or reject it (two reviewers must confirm it), before it is relied on.";

/// What art. 15(1) tells about each collection of `matches`, in their order.
pub(super) fn notices(store: &Store, matches: &[RightsMatch]) -> Result<Vec<CollectionNotice>> {
    let mut out: Vec<CollectionNotice> = Vec::new();
    if matches.is_empty() {
        return Ok(out);
    }
    let users = store.catalog.users()?;
    for m in matches {
        if let Some(n) = out.iter_mut().find(|n| n.collection == m.collection) {
            n.faces += 1;
            continue;
        }
        let g = &m.governance;
        out.push(CollectionNotice {
            collection: m.collection.clone(),
            faces: 1,
            controller: g.controller.clone(),
            controller_contact: g.controller_contact.clone(),
            purpose: g.purpose.clone(),
            purpose_category: g.purpose_category,
            legal_basis: g.legal_basis,
            condition: g.condition,
            data_categories: DATA_CATEGORIES.to_vec(),
            recipients: recipients(&users, &m.collection),
            retention: g.retention,
            retention_text: g.retention.map(|r| r.to_string()),
            jurisdictions: g
                .jurisdictions
                .iter()
                .map(|code| Jurisdiction { code: code.clone(), authority: supervisory_authority(code) })
                .collect(),
        });
    }
    Ok(out)
}

/// The users who may see the faces of `collection`, by the permission table: the roles that
/// search, review or view records there (every collection, or those granted to the user).
fn recipients(users: &[gabarit_catalog::UserRecord], collection: &str) -> Vec<Recipient> {
    use gabarit_governance::{Action, Reach, reach};
    users
        .iter()
        .filter_map(|u| {
            let granted = u.collections.iter().any(|c| c == collection);
            let roles: Vec<_> = u
                .roles
                .iter()
                .copied()
                .filter(|&r| {
                    [Action::Search, Action::Review, Action::ViewRecords].into_iter().any(|a| match reach(r, a) {
                        Some(Reach::Everything) => true,
                        Some(Reach::Granted) => granted,
                        None => false,
                    })
                })
                .collect();
            (!roles.is_empty()).then(|| Recipient { name: u.name.clone(), roles })
        })
        .collect()
}
