//! Who may do what, and how far: roles, actions, the permission table, and the proofs that
//! only [`authorize`] makes.
//!
//! The table ([`reach`]) is one exhaustive `match` over role × action: a new role or action
//! cannot compile without a decision. Each permission reaches either every collection or only
//! the collections granted to the user ([`Reach`]); the proof [`Authorized`] carries that
//! reach as a [`Scope`], and the storage reads records through it, so a use case holding a
//! proof cannot reach a record outside the collections it covers. The proof's action is its
//! type ([`Act`]): a function asking for `&Authorized<actions::Review>` cannot be given the
//! proof of another action.

use std::collections::BTreeSet;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A role. Users may hold several.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Users, roles, grants and keys.
    Admin,
    /// Collections and ingestion.
    Curator,
    /// Searches within the collections granted to them.
    Investigator,
    /// Confirms or rejects candidates of the collections granted to them.
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
            value: crate::limits::shown(s),
            expected: "admin, curator, investigator, reviewer or dpo".into(),
        })
    }
}

/// Something a user may want to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Create and disable users, change roles and grants, issue and revoke keys.
    ManageUsers,
    /// See which collections exist, their counts and governance fields.
    ListCollections,
    /// Create collections and edit their governance.
    ManageCollections,
    /// Ingest into collections.
    Ingest,
    /// See what a collection holds: image records, faces, photos and crops.
    ViewRecords,
    /// Search collections.
    Search,
    /// Confirm or reject candidates.
    Review,
    /// Handle rights requests (access, erasure, objection).
    Rights,
    /// Read, export, verify and anchor the audit log.
    Audit,
    /// Run retention.
    Retention,
    /// Records of processing and other reports.
    Reports,
    /// Group a collection's faces by person (where its governance allows it), see the groups,
    /// name and correct them.
    People,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 12] = [
        Action::ManageUsers,
        Action::ListCollections,
        Action::ManageCollections,
        Action::Ingest,
        Action::ViewRecords,
        Action::Search,
        Action::Review,
        Action::Rights,
        Action::Audit,
        Action::Retention,
        Action::Reports,
        Action::People,
    ];

    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            Action::ManageUsers => "manage_users",
            Action::ListCollections => "list_collections",
            Action::ManageCollections => "manage_collections",
            Action::Ingest => "ingest",
            Action::ViewRecords => "view_records",
            Action::Search => "search",
            Action::Review => "review",
            Action::Rights => "handle_rights_requests",
            Action::Audit => "audit",
            Action::Retention => "run_retention",
            Action::Reports => "reports",
            Action::People => "people",
        }
    }
}

/// How far a role's permission for an action reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Every collection.
    Everything,
    /// Only the collections granted to the user.
    Granted,
}

/// The whole permission table: how far `role` may do `action`, or `None`.
pub fn reach(role: Role, action: Action) -> Option<Reach> {
    use Action as A;
    use Reach::{Everything, Granted};
    match (role, action) {
        (Role::Admin, A::ManageUsers | A::ListCollections) => Some(Everything),
        (Role::Curator, A::ManageCollections | A::Ingest | A::ListCollections | A::ViewRecords | A::People) => {
            Some(Everything)
        }
        (Role::Investigator, A::Search | A::ListCollections | A::ViewRecords | A::People) => Some(Granted),
        (Role::Reviewer, A::Review | A::ListCollections | A::ViewRecords) => Some(Granted),
        (
            Role::Dpo,
            A::Rights | A::Audit | A::Retention | A::Reports | A::ListCollections | A::ViewRecords | A::People,
        ) => Some(Everything),
        (
            Role::Admin,
            A::ManageCollections
            | A::Ingest
            | A::ViewRecords
            | A::Search
            | A::Review
            | A::Rights
            | A::Audit
            | A::Retention
            | A::Reports
            | A::People,
        )
        | (Role::Curator, A::ManageUsers | A::Search | A::Review | A::Rights | A::Audit | A::Retention | A::Reports)
        | (
            Role::Investigator | Role::Reviewer,
            A::ManageUsers | A::ManageCollections | A::Ingest | A::Rights | A::Audit | A::Retention | A::Reports,
        )
        | (Role::Investigator, A::Review)
        | (Role::Reviewer, A::Search | A::People)
        | (Role::Dpo, A::ManageUsers | A::ManageCollections | A::Ingest | A::Search | A::Review) => None,
    }
}

/// Whether `role` permits `action` at all.
pub fn permits(role: Role, action: Action) -> bool {
    reach(role, action).is_some()
}

/// A user as the policy sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// User name.
    pub name: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// Ids of the collections granted to them.
    pub collections: Vec<u32>,
}

impl Principal {
    fn roles_text(&self) -> String {
        self.roles.iter().map(|r| r.name()).collect::<Vec<_>>().join(", ")
    }

    fn forbidden(&self, action: String) -> Error {
        Error::Forbidden { user: self.name.clone(), roles: self.roles_text(), action }
    }
}

/// The collections a proof reaches: every one, or a set of ids. Only this crate makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope(Option<BTreeSet<u32>>);

impl Scope {
    /// Whether records of collection `id` are within reach.
    pub fn covers(&self, id: u32) -> bool {
        self.0.as_ref().is_none_or(|ids| ids.contains(&id))
    }

    /// The collection ids within reach, or `None` for every collection.
    pub fn collections(&self) -> Option<&BTreeSet<u32>> {
        self.0.as_ref()
    }
}

/// The types naming actions in [`Authorized`]; each carries its [`Action`].
pub trait Act: sealed::Sealed + 'static {
    /// The action.
    const ACTION: Action;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! markers {
    ($($(#[$doc:meta])* $name:ident => $action:ident,)*) => {
        /// Marker types naming actions in [`Authorized`].
        pub mod actions {
            $(
                $(#[$doc])*
                #[derive(Debug, Clone, Copy, PartialEq, Eq)]
                pub struct $name;
                impl super::sealed::Sealed for $name {}
                impl super::Act for $name {
                    const ACTION: super::Action = super::Action::$action;
                }
            )*
        }
    };
}

markers! {
    /// Managing users, roles, grants and keys.
    ManageUsers => ManageUsers,
    /// Listing collections.
    ListCollections => ListCollections,
    /// Creating and editing collections.
    ManageCollections => ManageCollections,
    /// Ingesting.
    Ingest => Ingest,
    /// Viewing records.
    ViewRecords => ViewRecords,
    /// Searching.
    Search => Search,
    /// Reviewing candidates.
    Review => Review,
    /// Handling rights requests.
    Rights => Rights,
    /// Reading and verifying the audit log.
    Audit => Audit,
    /// Running retention.
    Retention => Retention,
    /// Reports.
    Reports => Reports,
    /// Grouping faces by person and correcting the groups.
    People => People,
}

/// Proof that `user` may perform the action `A` on the collections of its [`Scope`]. Only
/// [`authorize`], [`Authorized::narrow`] and [`authorize_system`] make one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized<A: Act> {
    user: String,
    scope: Scope,
    _marker: PhantomData<fn() -> A>,
}

impl<A: Act> Authorized<A> {
    /// Who is authorised.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// For what.
    pub fn action(&self) -> Action {
        A::ACTION
    }

    /// The collections within reach.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Whether records of collection `id` are within reach.
    pub fn covers(&self, id: u32) -> bool {
        self.scope.covers(id)
    }

    /// The same proof, reaching only `collections` (id and name), each of which it must
    /// already cover; the error names the first that it does not.
    pub fn narrow(&self, collections: &[(u32, &str)]) -> Result<Authorized<A>> {
        if let Some((_, name)) = collections.iter().find(|(id, _)| !self.covers(*id)) {
            return Err(Error::Forbidden {
                user: self.user.clone(),
                roles: String::new(),
                action: format!("{} in collection {name:?} (not granted)", A::ACTION.name().replace('_', " ")),
            });
        }
        let ids = collections.iter().map(|(id, _)| *id).collect();
        Ok(Authorized { user: self.user.clone(), scope: Scope(Some(ids)), _marker: PhantomData })
    }
}

/// Checks that `who` holds a role permitting `A`; the proof reaches every collection if one of
/// their roles does, else the collections granted to them.
pub fn authorize<A: Act>(who: &Principal) -> Result<Authorized<A>> {
    let reaches: Vec<Reach> = who.roles.iter().filter_map(|&r| reach(r, A::ACTION)).collect();
    if reaches.is_empty() {
        return Err(who.forbidden(A::ACTION.name().replace('_', " ")));
    }
    let scope = if reaches.contains(&Reach::Everything) {
        Scope(None)
    } else {
        Scope(Some(who.collections.iter().copied().collect()))
    };
    Ok(Authorized { user: who.name.clone(), scope, _marker: PhantomData })
}

/// The proof for work the system does on its own, under the name `actor` (the server's
/// scheduled retention, its audit checkpoints): no user asked for it, so no role is checked;
/// it reaches every collection. Front ends never need it: they act for authenticated users.
pub fn authorize_system<A: Act>(actor: &str) -> Authorized<A> {
    Authorized { user: actor.to_string(), scope: Scope(None), _marker: PhantomData }
}

/// Whether a candidate is confirmed (AI Act art. 14(5)): at least two *different* reviewers
/// confirmed it and none rejected it. One reviewer confirming twice is still one.
pub fn confirmed(confirmations: &[String], rejections: &[String]) -> bool {
    let mut who: Vec<&String> = confirmations.iter().collect();
    who.sort();
    who.dedup();
    who.len() >= 2 && rejections.is_empty()
}
