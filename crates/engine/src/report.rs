//! The evaluation report as a self-contained HTML page: tables, and a DET curve and score
//! histograms drawn with plotters as inline SVG (no external resource, opens offline).

use plotters::prelude::*;

use crate::eval::{EvalReport, Verification};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn pct(v: f64) -> String {
    format!("{:.3}%", v * 100.0)
}

/// The DET curve (FNMR against FMR, both log scale) as SVG.
pub fn det_svg(v: &Verification) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 440)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let floor = 1e-7f64;
        let mut chart = ChartBuilder::on(&root)
            .caption("DET curve", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d((floor / 2.0..1.0f64).log_scale(), (5e-5f64..1.0f64).log_scale())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("false match rate (FMR)")
            .y_desc("false non-match rate (FNMR)")
            .x_label_formatter(&|x| format!("{x:.0e}"))
            .y_label_formatter(&|y| format!("{y:.0e}"))
            .draw()
            .map_err(|e| e.to_string())?;
        let points: Vec<(f64, f64)> = v
            .det
            .iter()
            .filter(|p| p.fmr > 0.0 && p.fnmr > 0.0)
            .map(|p| (p.fmr.max(floor), p.fnmr.max(1e-4)))
            .collect();
        chart
            .draw_series(LineSeries::new(points, BLUE.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label("this run")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
        chart.configure_series_labels().border_style(BLACK).draw().map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Genuine and impostor score distributions (share per bin, log scale) as SVG.
pub fn histogram_svg(v: &Verification) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Score distributions", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..1.0f64, (1e-7f64..1.0f64).log_scale())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("cosine similarity")
            .y_desc("share of comparisons")
            .y_label_formatter(&|y| format!("{y:.0e}"))
            .draw()
            .map_err(|e| e.to_string())?;
        for (hist, colour, label) in
            [(&v.impostor_histogram, RED, "impostor"), (&v.genuine_histogram, GREEN, "genuine")]
        {
            let Some(h) = hist else { continue };
            if h.total() == 0 {
                continue;
            }
            // Coarser bins for drawing: groups of 10.
            let width = (h.hi() - h.lo()) as f64 / h.counts().len() as f64 * 10.0;
            let pts: Vec<(f64, f64)> = h
                .counts()
                .chunks(10)
                .enumerate()
                .filter_map(|(i, c)| {
                    let share = c.iter().sum::<u64>() as f64 / h.total() as f64;
                    (share > 0.0).then_some((h.lo() as f64 + (i as f64 + 0.5) * width, share))
                })
                .collect();
            chart
                .draw_series(LineSeries::new(pts, colour.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
        }
        chart.configure_series_labels().border_style(BLACK).draw().map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// The whole report page.
pub fn html(report: &EvalReport) -> Result<String, String> {
    let v = &report.verification;
    let mut rows = String::new();
    for f in &v.fnmr_at_fmr {
        rows.push_str(&format!(
            "<tr><td>{:.0e}</td><td>{:.4}</td><td>{}</td><td>[{}, {}]</td><td>{}</td><td>{}</td></tr>",
            f.target_fmr,
            f.threshold,
            pct(f.fnmr.value),
            pct(f.fnmr.ci95.0),
            pct(f.fnmr.ci95.1),
            f.fnmr.trials,
            f.impostor_comparisons
        ));
    }
    let eer = v.eer.as_ref().map(|e| format!("{} at threshold {:.4}", pct(e.eer), e.threshold)).unwrap_or("n/a".into());
    let pairs = match &report.pairs {
        Some(p) => {
            let kfold = p
                .kfold
                .as_ref()
                .map(|k| {
                    format!("{} ± {} ({}-fold, threshold chosen on the other folds)", pct(k.mean), pct(k.std), p.folds)
                })
                .unwrap_or("n/a".into());
            let at = p.accuracy_at_threshold.as_ref().map(|r| pct(r.value)).unwrap_or("n/a".into());
            format!(
                "<h2>Pairs file</h2><table><tr><th>pairs</th><td>{}</td></tr><tr><th>accuracy</th><td id=\"pairs-accuracy\">{kfold}</td></tr><tr><th>accuracy at the pack threshold {:.2}</th><td>{at}</td></tr><tr><th>pairs with a failure to acquire (scored as rejections)</th><td>{}</td></tr></table>",
                p.pairs, v.threshold, p.pairs_with_fta
            )
        }
        None => String::new(),
    };
    let id = &report.identification;
    let mut id_rows = String::new();
    for p in &id.fnir_at_fpir {
        id_rows.push_str(&format!(
            "<tr><td>{:.0e}</td><td>{:.4}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            p.fpir.max(0.0),
            p.threshold,
            pct(p.fnir),
            p.mated_count,
            p.nonmated_count
        ));
    }
    let mut groups = String::new();
    for g in &report.groups {
        groups.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&g.group),
            g.photos,
            g.verification.eer.as_ref().map(|e| pct(e.eer)).unwrap_or("n/a".into()),
            g.verification.fnmr_at_threshold.as_ref().map(|r| pct(r.value)).unwrap_or("n/a".into()),
            g.identification.rank1.map(pct).unwrap_or("n/a".into()),
        ));
    }
    let groups = if groups.is_empty() {
        String::new()
    } else {
        format!(
            "<h2>Per group</h2><table><tr><th>group</th><th>photos</th><th>EER</th><th>FNMR at threshold</th><th>rank-1</th></tr>{groups}</table>"
        )
    };
    Ok(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Gabarit evaluation</title>
<style>body{{font-family:sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}figure{{margin:1em 0}}</style></head><body>
<h1>Gabarit evaluation</h1>
<p>Dataset <code>{dataset}</code>: {photos} photos of {identities} people. Pack <b>{pack}</b>, detector input {det}, flip-averaged templates: {flip}, face choice: {choice:?}.
Failures to acquire: {fta} ({fta_n} of {photos} photos), excluded from the comparison figures below and counted as rejections in the pairs file.</p>
<h2>Verification</h2>
<p>{gen} genuine and {imp} impostor comparisons{sampled}. EER: {eer}. At the pack threshold {thr:.2}: FMR {fmr}, FNMR {fnmr}.</p>
<table><tr><th>target FMR</th><th>threshold</th><th>FNMR</th><th>95% CI</th><th>genuine</th><th>impostor</th></tr>{rows}</table>
<figure id="det-curve">{det_svg}</figure>
<figure id="score-histograms">{hist_svg}</figure>
{pairs}
<h2>Identification (open set)</h2>
<p>Gallery N = {n} ({distractors} distractors); {mated} mated and {nonmated} non-mated searches. Rank-1: {r1}; rank-5: {r5}.
FNIR counts a mated search as missed unless its mate is at rank 1 with a score at or above the threshold. FPIR grows with N: at the same threshold a larger gallery yields more false candidates.</p>
<table><tr><th>FPIR</th><th>threshold</th><th>FNIR</th><th>mated</th><th>non-mated</th></tr>{id_rows}</table>
{groups}
<p><small>Scores are cosine similarities. Results of a face search are candidates for human review, never verdicts.</small></p>
</body></html>"#,
        dataset = esc(&report.dataset),
        photos = report.photos,
        identities = report.identities,
        pack = esc(&report.pack),
        det = esc(&report.detector_input),
        flip = report.flip_average,
        choice = report.face_choice,
        fta = pct(report.fta.value),
        fta_n = report.fta_photos.len(),
        gen = v.genuine_comparisons,
        imp = v.impostor_comparisons,
        sampled = if v.impostors_sampled { " (impostors: a seeded sample)" } else { " (all pairs)" },
        thr = v.threshold,
        fmr = v.fmr_at_threshold.as_ref().map(|r| pct(r.value)).unwrap_or("n/a".into()),
        fnmr = v.fnmr_at_threshold.as_ref().map(|r| pct(r.value)).unwrap_or("n/a".into()),
        det_svg = det_svg(v)?,
        hist_svg = histogram_svg(v)?,
        n = id.gallery_size,
        distractors = id.distractors,
        mated = id.mated_searches,
        nonmated = id.nonmated_searches,
        r1 = id.rank1.map(pct).unwrap_or("n/a".into()),
        r5 = id.rank5.map(pct).unwrap_or("n/a".into()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::verification_figures;

    #[test]
    fn det_curve_svg_has_a_drawn_line_and_labels() {
        let genuine: Vec<f32> = (0..200).map(|i| 0.3 + 0.003 * i as f32).collect();
        let impostor: Vec<f32> = (0..5000).map(|i| -0.2 + 0.0001 * i as f32).collect();
        let v = verification_figures(&genuine, &impostor, false, 0.3);
        let svg = det_svg(&v).expect("svg");
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("<polyline"), "the curve is drawn");
        assert!(svg.contains("false match rate (FMR)"));
        let hist = histogram_svg(&v).expect("svg");
        assert!(hist.matches("<polyline").count() >= 2, "genuine and impostor lines");
    }
}
