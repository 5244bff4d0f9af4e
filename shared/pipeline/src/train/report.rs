//! The learning-curve picture.

use reco_serving::registry::EpochPoint;

/// The learning-curve picture: loss and P@10 (holdout sample) per epoch, as SVG.
/// Drawing the report failed (the plotting library's message).
#[derive(Debug, thiserror::Error)]
#[error("drawing the learning curve: {0}")]
pub struct ReportError(pub String);

pub fn report_svg(curve: &[EpochPoint], title: &str) -> Result<String, ReportError> {
    use plotters::prelude::*;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| ReportError(e.to_string()))?;
        let (left, right) = root.split_horizontally(450);
        let n = curve.len().max(1) as f64;
        type Points = Vec<(f64, f64)>;
        let panels: [(_, &str, Points); 2] = [
            (
                &left,
                "training loss",
                curve.iter().map(|p| (p.epoch as f64, p.loss)).collect(),
            ),
            (
                &right,
                "P@10 (holdout sample)",
                curve
                    .iter()
                    .map(|p| (p.epoch as f64, p.precision_at_10))
                    .collect(),
            ),
        ];
        for (area, name, points) in panels {
            let max = points.iter().map(|p| p.1).fold(0.0f64, f64::max).max(1e-6) * 1.1;
            let mut chart = ChartBuilder::on(area)
                .caption(format!("{title}: {name}"), ("sans-serif", 16))
                .margin(12)
                .x_label_area_size(30)
                .y_label_area_size(50)
                .build_cartesian_2d(0.0..n + 1.0, 0.0..max)
                .map_err(|e| ReportError(e.to_string()))?;
            chart
                .configure_mesh()
                .x_desc("epoch")
                .draw()
                .map_err(|e| ReportError(e.to_string()))?;
            chart
                .draw_series(LineSeries::new(points, &BLUE))
                .map_err(|e| ReportError(e.to_string()))?;
        }
        root.present().map_err(|e| ReportError(e.to_string()))?;
    }
    Ok(svg)
}
