//! Bar charts as inline SVG, drawn with `plotters`. Quantities are exact decimals
//! everywhere else; a chart converts them to floating point only to place the bars, and
//! the page shows the exact figures beside it.

use plotters::prelude::*;

const WIDTH: u32 = 760;
const HEIGHT: u32 = 260;
/// At most this many labels under the bars; the others are skipped to stay legible.
const MAX_LABELS: usize = 12;

/// One bar per value, labelled below. `None` when the chart could not be drawn.
pub fn bars(labels: &[String], values: &[f64]) -> Option<String> {
    let mut svg = String::new();
    draw(&mut svg, labels, values).ok()?;
    Some(svg)
}

fn draw<'a>(svg: &'a mut String, labels: &[String], values: &[f64]) -> Result<(), Box<dyn std::error::Error + 'a>> {
    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let count = values.len().max(1);
    let highest = values.iter().copied().fold(0.0_f64, f64::max);
    let top = if highest > 0.0 { highest * 1.1 } else { 1.0 };
    let mut chart = ChartBuilder::on(&root)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..count as f64, 0.0..top)?;
    let step = count.div_ceil(MAX_LABELS).max(1);
    let label_of = |x: &f64| {
        let index = x.floor() as usize;
        if index % step == 0 { labels.get(index).cloned().unwrap_or_default() } else { String::new() }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(count.min(MAX_LABELS * step))
        .x_label_formatter(&label_of)
        .y_labels(6)
        .draw()?;
    chart.draw_series(values.iter().enumerate().map(|(index, value)| {
        let left = index as f64 + 0.15;
        Rectangle::new([(left, 0.0), (left + 0.7, *value)], RGBColor(59, 91, 170).filled())
    }))?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_an_svg_with_one_bar_per_value_and_its_labels() {
        let labels: Vec<String> = ["2026-11-01", "2026-11-02", "2026-11-03"].map(str::to_owned).to_vec();
        let svg = bars(&labels, &[1.0, 4.0, 2.5]).expect("drawn");
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("2026-11-02"));
        assert!(svg.matches("fill=\"#3B5BAA\"").count() >= 3, "{svg}");
    }

    #[test]
    fn an_empty_or_all_zero_series_still_draws() {
        assert!(bars(&[], &[]).is_some());
        assert!(bars(&["a".to_owned()], &[0.0]).is_some());
    }
}
