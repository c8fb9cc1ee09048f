//! The bounds of free text. Every name and free-text field a user sends is checked here
//! before anything is stored or logged: a user name of 1.5 MB must not become 1.5 MB of
//! permanent audit log.

use crate::{Error, Result};

/// User names: letters, digits and `. _ - @`.
pub const USER_NAME: usize = 64;
/// Collection names.
pub const COLLECTION_NAME: usize = 200;
/// A collection's description.
pub const DESCRIPTION: usize = 2_000;
/// Each governance text (controller, contact, purpose, DPIA reference).
pub const GOVERNANCE_TEXT: usize = 1_000;
/// Jurisdictions per collection.
pub const JURISDICTIONS: usize = 50;
/// A search's case reference.
pub const CASE_REF: usize = 200;
/// A search's purpose.
pub const PURPOSE: usize = 1_000;
/// A rights request's requester reference and verification.
pub const REQUEST_TEXT: usize = 500;
/// Passwords (Argon2 hashes any length; longer is an attack on the server's time).
pub const PASSWORD: usize = 1_024;
/// A file name or path shown in an error or a log line.
pub const SHOWN: usize = 80;

/// Checks that `value` has at most `max` characters and no control character (line breaks
/// allowed where `multiline`); returns it trimmed.
pub fn bounded<'a>(field: &'static str, value: &'a str, max: usize, multiline: bool) -> Result<&'a str> {
    let value = value.trim();
    let len = value.chars().count();
    if len > max {
        return Err(Error::Bounds { field, problem: format!("{len} characters, more than the {max} allowed") });
    }
    if let Some(c) = value.chars().find(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\t'))) {
        return Err(Error::Bounds { field, problem: format!("holds the control character {:?}", c as u32) });
    }
    Ok(value)
}

/// Like [`bounded`], and not empty.
pub fn required<'a>(field: &'static str, value: &'a str, max: usize) -> Result<&'a str> {
    let value = bounded(field, value, max, false)?;
    if value.is_empty() {
        return Err(Error::Bounds { field, problem: "is empty".into() });
    }
    Ok(value)
}

/// A user name: 1 to [`USER_NAME`] letters, digits and `. _ - @`.
pub fn user_name(value: &str) -> Result<&str> {
    let name = required("user name", value, USER_NAME)?;
    if !name.chars().all(|c| c.is_alphanumeric() || "._-@".contains(c)) {
        return Err(Error::Invalid {
            field: "user name",
            value: shown(name),
            expected: "letters, digits and . _ - @".into(),
        });
    }
    Ok(name)
}

/// A value as an error message may quote it: at most [`SHOWN`] characters, the rest elided.
pub fn shown(value: &str) -> String {
    if value.chars().count() <= SHOWN {
        value.to_string()
    } else {
        let head: String = value.chars().take(SHOWN).collect();
        format!("{head}… ({} characters)", value.chars().count())
    }
}
