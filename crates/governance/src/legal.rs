//! What makes processing lawful, as values: the legal basis (GDPR art. 6(1)), the condition
//! for biometric data (art. 9(2)), the purpose, jurisdictions, retention and DPIA that every
//! collection records before anything is ingested into it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::limits::{self, shown};
use crate::{Error, Result};

/// GDPR art. 6(1): the lawful basis of the processing.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
        .ok_or_else(|| Error::Invalid { field, value: shown(s), expected: expected.to_string() })
}

/// The kind of purpose a collection serves.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
            value: shown(s),
            expected: "archive, investigation, event_photos, fraud_prevention or research".into(),
        })
    }

    /// Whether a collection of this purpose may group its faces by person. Grouping profiles
    /// everyone in the collection, not only the people someone searches for: archives (naming
    /// the people of a fonds), investigations, fraud prevention (one person behind several
    /// identities) and research may, under their DPIA; event photos may not: participants
    /// agreed to find their own photos with a selfie, not to have everyone at the event
    /// grouped.
    pub fn allows_grouping(self) -> bool {
        !matches!(self, PurposeCategory::EventPhotos)
    }
}

/// How long a collection's data is kept.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Retention {
    /// This many days after ingestion.
    Days(u32),
    /// Until this date (inclusive).
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    Until(jiff::civil::Date),
}

impl std::fmt::Display for Retention {
    /// As a person reads it: "365 days after ingestion", "until 2030-12-31".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Retention::Days(1) => f.write_str("1 day after ingestion"),
            Retention::Days(d) => write!(f, "{d} days after ingestion"),
            Retention::Until(date) => write!(f, "until {date}"),
        }
    }
}

impl Retention {
    /// Whether data ingested at `ingested` has expired at `now`.
    pub fn expired(&self, ingested: jiff::Timestamp, now: jiff::Timestamp) -> bool {
        match self {
            Retention::Days(d) => now.as_second() - ingested.as_second() >= i64::from(*d) * 86_400,
            Retention::Until(date) => jiff::tz::TimeZone::UTC.to_datetime(now).date() > *date,
        }
    }

    /// Checks that the period is one a controller could mean: 1 day to 100 years, or a date
    /// between the years 2000 and 2200.
    pub fn validate(self) -> Result<Retention> {
        match self {
            Retention::Days(d) if (1..=36_500).contains(&d) => Ok(self),
            Retention::Until(date) if (2000..=2200).contains(&date.year()) => Ok(self),
            Retention::Days(d) => Err(Error::Invalid {
                field: "retention-days",
                value: d.to_string(),
                expected: "1 to 36500 days".into(),
            }),
            Retention::Until(date) => Err(Error::Invalid {
                field: "retention-until",
                value: date.to_string(),
                expected: "a date between the years 2000 and 2200".into(),
            }),
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
            value: shown(s),
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
    /// Whether its faces are grouped by person (see [`GovernanceDraft::grouping`]).
    pub grouping: bool,
}

/// Governance fields as entered, possibly incomplete.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Whether its faces are grouped by person (off by default). Allowed only with a purpose
    /// category that allows it ([`PurposeCategory::allows_grouping`]) and a DPIA reference
    /// (which must cover the grouping); turning it off erases every group, label and
    /// correction of the collection.
    pub grouping: bool,
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

    /// The draft with its texts trimmed and jurisdictions normalised, or the error naming the
    /// first field that is too long, holds a control character or is not valid. Missing
    /// fields are not an error here (see [`GovernanceDraft::missing`]).
    pub fn validate(&self) -> Result<GovernanceDraft> {
        let text = |field: &'static str, v: &Option<String>| -> Result<Option<String>> {
            v.as_deref()
                .map(|s| limits::bounded(field, s, limits::GOVERNANCE_TEXT, true).map(str::to_string))
                .transpose()
        };
        if self.jurisdictions.len() > limits::JURISDICTIONS {
            return Err(Error::Bounds {
                field: "jurisdiction",
                problem: format!("{} given, at most {}", self.jurisdictions.len(), limits::JURISDICTIONS),
            });
        }
        let mut jurisdictions = self.jurisdictions.iter().map(|j| parse_jurisdiction(j)).collect::<Result<Vec<_>>>()?;
        jurisdictions.dedup();
        Ok(GovernanceDraft {
            controller: text("controller", &self.controller)?,
            controller_contact: text("controller-contact", &self.controller_contact)?,
            purpose: text("purpose", &self.purpose)?,
            purpose_category: self.purpose_category,
            legal_basis: self.legal_basis,
            condition: self.condition,
            jurisdictions,
            retention: self.retention.map(Retention::validate).transpose()?,
            dpia: text("dpia", &self.dpia)?,
            grouping: self.grouping,
        })
        .and_then(GovernanceDraft::grouping_allowed)
    }

    /// The draft, or the error saying why its purpose does not allow grouping its faces.
    fn grouping_allowed(self) -> Result<GovernanceDraft> {
        if !self.grouping {
            return Ok(self);
        }
        let refused = |expected: &str| {
            Err(Error::Invalid { field: "grouping", value: "on".into(), expected: expected.to_string() })
        };
        match self.purpose_category {
            None => refused("off until the purpose category is recorded"),
            Some(c) if !c.allows_grouping() => refused(&format!(
                "off: a collection of purpose category {} may not group faces by person (its people agreed to find their own photos, not to be grouped)",
                c.name()
            )),
            Some(_) if self.dpia.as_deref().is_none_or(|d| d.trim().is_empty()) => {
                refused("off until the DPIA reference (covering the grouping) is recorded")
            }
            Some(_) => Ok(self),
        }
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
                    grouping: self.grouping,
                })
            }
            _ => Err(Error::Incomplete { collection: collection.to_string(), missing: self.missing() }),
        }
    }
}

/// A data protection supervisory authority: where a person may lodge a complaint (GDPR art.
/// 77, named to them by art. 15(1)(f)).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SupervisoryAuthority {
    /// The country (ISO 3166-1 alpha-2).
    pub country: &'static str,
    /// Its name, as it names itself, with its usual abbreviation.
    pub name: &'static str,
    /// Its website, where complaints are lodged.
    pub website: &'static str,
}

/// The supervisory authorities of the EU and EEA members, the United Kingdom and
/// Switzerland, by country code. For a federal country the national authority is named
/// (in Germany the Länder authorities supervise most private controllers; the federal
/// commissioner forwards a complaint to the one competent).
const AUTHORITIES: &[SupervisoryAuthority] = &[
    SupervisoryAuthority {
        country: "AT",
        name: "Österreichische Datenschutzbehörde (DSB)",
        website: "https://www.dsb.gv.at",
    },
    SupervisoryAuthority {
        country: "BE",
        name: "Autorité de protection des données / Gegevensbeschermingsautoriteit (APD-GBA)",
        website: "https://www.dataprotectionauthority.be",
    },
    SupervisoryAuthority {
        country: "BG",
        name: "Комисия за защита на личните данни (Commission for Personal Data Protection, CPDP)",
        website: "https://www.cpdp.bg",
    },
    SupervisoryAuthority {
        country: "CH",
        name: "Eidgenössischer Datenschutz- und Öffentlichkeitsbeauftragter / Préposé fédéral à la protection des données et à la transparence (EDÖB / PFPDT / FDPIC)",
        website: "https://www.edoeb.admin.ch",
    },
    SupervisoryAuthority {
        country: "CY",
        name: "Office of the Commissioner for Personal Data Protection",
        website: "https://www.dataprotection.gov.cy",
    },
    SupervisoryAuthority {
        country: "CZ",
        name: "Úřad pro ochranu osobních údajů (ÚOOÚ)",
        website: "https://uoou.gov.cz",
    },
    SupervisoryAuthority {
        country: "DE",
        name: "Der Bundesbeauftragte für den Datenschutz und die Informationsfreiheit (BfDI)",
        website: "https://www.bfdi.bund.de",
    },
    SupervisoryAuthority { country: "DK", name: "Datatilsynet", website: "https://www.datatilsynet.dk" },
    SupervisoryAuthority { country: "EE", name: "Andmekaitse Inspektsioon (AKI)", website: "https://www.aki.ee" },
    SupervisoryAuthority {
        country: "ES",
        name: "Agencia Española de Protección de Datos (AEPD)",
        website: "https://www.aepd.es",
    },
    SupervisoryAuthority {
        country: "FI",
        name: "Tietosuojavaltuutetun toimisto (Office of the Data Protection Ombudsman)",
        website: "https://tietosuoja.fi",
    },
    SupervisoryAuthority {
        country: "FR",
        name: "Commission nationale de l'informatique et des libertés (CNIL)",
        website: "https://www.cnil.fr",
    },
    SupervisoryAuthority {
        country: "GB",
        name: "Information Commissioner's Office (ICO)",
        website: "https://ico.org.uk",
    },
    SupervisoryAuthority {
        country: "GR",
        name: "Αρχή Προστασίας Δεδομένων Προσωπικού Χαρακτήρα (Hellenic Data Protection Authority, HDPA)",
        website: "https://www.dpa.gr",
    },
    SupervisoryAuthority {
        country: "HR",
        name: "Agencija za zaštitu osobnih podataka (AZOP)",
        website: "https://azop.hr",
    },
    SupervisoryAuthority {
        country: "HU",
        name: "Nemzeti Adatvédelmi és Információszabadság Hatóság (NAIH)",
        website: "https://naih.hu",
    },
    SupervisoryAuthority {
        country: "IE",
        name: "Data Protection Commission (DPC)",
        website: "https://www.dataprotection.ie",
    },
    SupervisoryAuthority { country: "IS", name: "Persónuvernd", website: "https://www.personuvernd.is" },
    SupervisoryAuthority {
        country: "IT",
        name: "Garante per la protezione dei dati personali",
        website: "https://www.garanteprivacy.it",
    },
    SupervisoryAuthority {
        country: "LI",
        name: "Datenschutzstelle (DSS)",
        website: "https://www.datenschutzstelle.li",
    },
    SupervisoryAuthority {
        country: "LT",
        name: "Valstybinė duomenų apsaugos inspekcija (VDAI)",
        website: "https://vdai.lrv.lt",
    },
    SupervisoryAuthority {
        country: "LU",
        name: "Commission nationale pour la protection des données (CNPD)",
        website: "https://cnpd.public.lu",
    },
    SupervisoryAuthority { country: "LV", name: "Datu valsts inspekcija (DVI)", website: "https://www.dvi.gov.lv" },
    SupervisoryAuthority {
        country: "MT",
        name: "Information and Data Protection Commissioner (IDPC)",
        website: "https://idpc.org.mt",
    },
    SupervisoryAuthority {
        country: "NL",
        name: "Autoriteit Persoonsgegevens (AP)",
        website: "https://www.autoriteitpersoonsgegevens.nl",
    },
    SupervisoryAuthority { country: "NO", name: "Datatilsynet", website: "https://www.datatilsynet.no" },
    SupervisoryAuthority {
        country: "PL",
        name: "Urząd Ochrony Danych Osobowych (UODO)",
        website: "https://uodo.gov.pl",
    },
    SupervisoryAuthority {
        country: "PT",
        name: "Comissão Nacional de Proteção de Dados (CNPD)",
        website: "https://www.cnpd.pt",
    },
    SupervisoryAuthority {
        country: "RO",
        name: "Autoritatea Națională de Supraveghere a Prelucrării Datelor cu Caracter Personal (ANSPDCP)",
        website: "https://www.dataprotection.ro",
    },
    SupervisoryAuthority { country: "SE", name: "Integritetsskyddsmyndigheten (IMY)", website: "https://www.imy.se" },
    SupervisoryAuthority { country: "SI", name: "Informacijski pooblaščenec (IP)", website: "https://www.ip-rs.si" },
    SupervisoryAuthority {
        country: "SK",
        name: "Úrad na ochranu osobných údajov Slovenskej republiky",
        website: "https://dataprotection.gov.sk",
    },
];

/// The supervisory authority of a jurisdiction (ISO 3166-1 alpha-2, any case; `EL`, the EU's
/// code for Greece, is accepted too), or `None` for a country not in the table: the person
/// then asks the controller which authority to turn to.
pub fn supervisory_authority(jurisdiction: &str) -> Option<SupervisoryAuthority> {
    let code = jurisdiction.trim().to_ascii_uppercase();
    let code = if code == "EL" { "GR".to_string() } else { code };
    AUTHORITIES.iter().find(|a| a.country == code).copied()
}

#[cfg(test)]
mod authority_tests {
    use super::*;

    #[test]
    fn the_cnil_for_france_and_none_for_an_unknown_country() {
        let fr = supervisory_authority("fr").unwrap();
        assert!(fr.name.contains("CNIL") && fr.website == "https://www.cnil.fr");
        assert!(supervisory_authority("GB").unwrap().name.contains("ICO"));
        assert!(supervisory_authority("CH").unwrap().name.contains("FDPIC"));
        assert_eq!(supervisory_authority("EL"), supervisory_authority("GR"));
        assert_eq!(supervisory_authority("US"), None);
        assert_eq!(supervisory_authority("ZZ"), None);
    }

    #[test]
    fn every_eu_and_eea_member_has_one_https_authority() {
        let members = [
            "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU",
            "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
        ];
        for c in members {
            let a = supervisory_authority(c).unwrap_or_else(|| panic!("no authority for {c}"));
            assert!(a.website.starts_with("https://") && !a.name.is_empty(), "{a:?}");
        }
        let mut codes: Vec<&str> = AUTHORITIES.iter().map(|a| a.country).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), AUTHORITIES.len(), "one entry per country");
        assert_eq!(AUTHORITIES.len(), members.len() + 2, "the members, GB and CH");
    }
}
