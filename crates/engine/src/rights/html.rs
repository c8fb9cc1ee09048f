//! The access report as a self-contained HTML page, in words a person reads (the JSON report
//! holds the same facts).

use gabarit_governance::{Condition, LegalBasis, PurposeCategory};

use super::RightsReport;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A lawful basis as a person reads it.
fn basis_words(b: LegalBasis) -> String {
    let words = match b {
        LegalBasis::Consent => "your consent",
        LegalBasis::Contract => "the performance of a contract",
        LegalBasis::LegalObligation => "a legal obligation of the controller",
        LegalBasis::VitalInterests => "the protection of vital interests",
        LegalBasis::PublicTask => "a task carried out in the public interest or in the exercise of official authority",
        LegalBasis::LegitimateInterests => "the legitimate interests pursued by the controller",
    };
    format!("{words} (GDPR art. 6(1)({}))", b.letter())
}

/// A condition for biometric data as a person reads it.
fn condition_words(c: Condition) -> String {
    let words = match c {
        Condition::ExplicitConsent => "your explicit consent",
        Condition::Employment => "obligations and rights in employment and social security law",
        Condition::VitalInterests => "the vital interests of a person unable to give consent",
        Condition::NotForProfit => {
            "the legitimate activities of a foundation, association or other not-for-profit body"
        }
        Condition::ManifestlyPublic => "data you manifestly made public",
        Condition::LegalClaims => "the establishment, exercise or defence of legal claims",
        Condition::SubstantialPublicInterest => "reasons of substantial public interest, on the basis of law",
        Condition::HealthCare => "preventive or occupational medicine, health or social care",
        Condition::PublicHealth => "reasons of public interest in the area of public health",
        Condition::Archiving => {
            "archiving purposes in the public interest, scientific or historical research, or statistics"
        }
    };
    format!("{words} (GDPR art. 9(2)({}))", c.letter())
}

/// A kind of purpose as a person reads it.
fn purpose_category_words(p: PurposeCategory) -> &'static str {
    match p {
        PurposeCategory::Archive => "photo and video archives",
        PurposeCategory::Investigation => "investigations on lawfully obtained media",
        PurposeCategory::EventPhotos => "event photos found by participants, with their consent",
        PurposeCategory::FraudPrevention => "identity-fraud detection",
        PurposeCategory::Research => "research and statistics",
    }
}

/// What a role lets a recipient do with a collection, as a person reads it.
fn role_words(r: gabarit_governance::Role) -> &'static str {
    use gabarit_governance::Role;
    match r {
        Role::Investigator => "investigator: searches the collection",
        Role::Reviewer => "reviewer: confirms or rejects the faces a search finds",
        Role::Curator => "curator: manages the collection and what is ingested into it",
        Role::Dpo => "data protection officer: handles rights requests",
        Role::Admin => "administrator",
    }
}

/// The report as a readable, self-contained HTML page holding what GDPR art. 15 gives the
/// person (in English; the web UI makes the same page in French or English, with the faces).
pub fn report_html(r: &RightsReport) -> String {
    let or_dash = |v: Option<&str>| esc(v.unwrap_or("-"));
    let mut rows = String::new();
    for m in &r.matches {
        let g = &m.governance;
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            m.face_id,
            // A face reached through its person (reviewed by the DPO) was not compared.
            if m.via_person { "same person".to_string() } else { format!("{:.3}", m.score) },
            esc(&m.collection),
            esc(&m.path),
            esc(&m.source),
            or_dash(m.captured_at.as_deref()),
            esc(&m.ingested_at),
            or_dash(g.controller.as_deref()),
            or_dash(g.purpose.as_deref()),
            g.legal_basis.map(|b| b.to_string()).unwrap_or("-".into())
                + " / "
                + &g.condition.map(|c| c.to_string()).unwrap_or("-".into()),
            g.retention.map(|r| r.to_string()).unwrap_or("-".into()),
        ));
    }
    let mut sections = String::new();
    for n in &r.collections {
        let list = |items: Vec<String>| {
            if items.is_empty() {
                "<p>none</p>".to_string()
            } else {
                format!("<ul>{}</ul>", items.iter().map(|i| format!("<li>{i}</li>")).collect::<String>())
            }
        };
        let categories = list(n.data_categories.iter().map(|c| esc(c.description)).collect());
        let recipients = list(
            n.recipients
                .iter()
                .map(|u| {
                    format!(
                        "{} ({})",
                        esc(&u.name),
                        u.roles.iter().map(|r| role_words(*r)).collect::<Vec<_>>().join("; ")
                    )
                })
                .collect(),
        );
        let contact = match (&n.controller, &n.controller_contact) {
            (Some(c), Some(cc)) => format!("{}, {}", esc(c), esc(cc)),
            (Some(c), None) => esc(c),
            (None, Some(cc)) => esc(cc),
            (None, None) => "not set".into(),
        };
        let authorities = list(
            n.jurisdictions
                .iter()
                .map(|j| match &j.authority {
                    Some(a) => format!(
                        "{}: {} — <a href=\"{}\">{}</a>",
                        esc(&j.code),
                        esc(a.name),
                        esc(a.website),
                        esc(a.website)
                    ),
                    None => format!("{}: ask the controller which supervisory authority to turn to", esc(&j.code)),
                })
                .collect(),
        );
        sections.push_str(&format!(
            r#"<section class="collection"><h2>Collection {name}: {faces} face(s)</h2><dl>
<dt>Controller</dt><dd>{contact}</dd>
<dt>Purposes</dt><dd>{purpose}{category}</dd>
<dt>Legal basis</dt><dd>{basis}</dd>
<dt>Condition for processing biometric data</dt><dd>{condition}</dd>
<dt>Categories of personal data</dt><dd>{categories}</dd>
<dt>Recipients: who may see these faces</dt><dd>{recipients}</dd>
<dt>Retention</dt><dd>{retention}</dd>
<dt>Source of the photos</dt><dd>Not collected from you: each photo's source is listed with its face above.</dd>
<dt>Right to lodge a complaint with a supervisory authority (GDPR art. 77)</dt><dd>{authorities}</dd>
</dl></section>
"#,
            name = esc(&n.collection),
            faces = n.faces,
            purpose = or_dash(n.purpose.as_deref()),
            category = n.purpose_category.map(|p| format!(" ({})", purpose_category_words(p))).unwrap_or_default(),
            basis = n.legal_basis.map(basis_words).unwrap_or("not set".into()),
            condition = n.condition.map(condition_words).unwrap_or("not set".into()),
            retention = esc(n.retention_text.as_deref().unwrap_or("not set")),
        ));
    }
    let rights: String = r
        .subject_rights
        .iter()
        .map(|s| format!("<li>the right {} (GDPR art. {})</li>", esc(s.description), s.article))
        .collect();
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Rights request {id}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 6px;text-align:left;font-size:90%}}dt{{font-weight:bold;margin-top:.6em}}</style></head><body>
<h1>Rights request {id} ({kind})</h1>
<p>Requester: {requester}. Identity verified by: {verification}. Received {received}, answer due by {deadline}.</p>
<p>The request photo (SHA-256 {sha}, not kept) was compared with every one of the {n} templates held, exhaustively, at {thr}. {count} face(s) match.</p>
<table id="matches"><tr><th>face</th><th>score</th><th>collection</th><th>image</th><th>source</th><th>captured</th><th>ingested</th><th>controller</th><th>purpose</th><th>legal basis / condition</th><th>retention</th></tr>{rows}</table>
{sections}<section id="rights"><h2>Your rights</h2><p>You have the right to a copy of these data (GDPR art. 15), and:</p><ul>{rights}</ul>
<p>To exercise them, write to the controller of the collection (contact above). You may also lodge a complaint with a supervisory authority (named above for each collection).</p></section>
<section id="automated"><h2>Automated matching</h2><p>{automated}</p></section>
<p><small>Generated {at} by Gabarit.</small></p></body></html>"#,
        id = r.request.id,
        kind = esc(&r.request.kind),
        requester = esc(&r.request.requester),
        verification = esc(&r.request.verification),
        received = esc(&r.request.received_on),
        deadline = esc(&r.request.deadline),
        sha = r.photo_sha256,
        n = r.templates_searched,
        thr = threshold_words(r),
        count = r.matches.len(),
        automated = esc(r.automated_matching),
        at = r.generated_at,
    )
}

/// The threshold(s) a report's matches were found at, in words.
fn threshold_words(r: &RightsReport) -> String {
    if r.packs.len() <= 1 {
        format!("threshold {:.2}", r.threshold)
    } else {
        let each: Vec<String> = r
            .packs
            .iter()
            .map(|p| format!("{} {:.2} over {} templates", esc(&p.pack), p.threshold, p.templates_searched))
            .collect();
        format!("each model's own threshold ({})", each.join("; "))
    }
}
