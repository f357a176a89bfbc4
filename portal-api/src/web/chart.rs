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

fn draw<'a>(
    svg: &'a mut String,
    labels: &[String],
    values: &[f64],
) -> Result<(), Box<dyn std::error::Error + 'a>> {
    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let count = values.len().max(1);
    let highest = values.iter().copied().fold(0.0_f64, f64::max);
    let top = if highest > 0.0 { highest * 1.1 } else { 1.0 };
    let mut chart = ChartBuilder::on(&root)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        // A segmented range holds its end too: `0..n - 1` is n segments (at least two).
        .build_cartesian_2d((0..count.saturating_sub(1).max(1)).into_segmented(), 0.0..top)?;
    let step = count.div_ceil(MAX_LABELS).max(1);
    let label_of = |segment: &SegmentValue<usize>| match segment {
        SegmentValue::CenterOf(index) if index % step == 0 => labels.get(*index).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(count)
        .x_label_formatter(&label_of)
        .y_labels(6)
        .draw()?;
    chart.draw_series(values.iter().enumerate().map(|(index, value)| {
        let mut bar = Rectangle::new(
            [(SegmentValue::Exact(index), 0.0), (SegmentValue::Exact(index + 1), *value)],
            RGBColor(59, 91, 170).filled(),
        );
        bar.set_margin(0, 0, 3, 3);
        bar
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
        assert!(svg.contains("2026-11-02"), "{svg}");
        assert!(svg.matches("fill=\"#3B5BAA\"").count() >= 3, "{svg}");
    }

    #[test]
    fn bars_share_the_width_of_the_plot() {
        let svg = bars(&["acme/echo".to_owned()], &[3.0]).expect("drawn");
        let bar = svg.lines().find(|line| line.contains("fill=\"#3B5BAA\"")).expect("a bar");
        let width: f64 = bar
            .split("width=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("width")
            .parse()
            .expect("number");
        assert!(width > 250.0, "{bar}");
        let svg = bars(&["a".to_owned(), "b".to_owned()], &[3.0, 1.0]).expect("drawn");
        let widths: Vec<f64> = svg
            .lines()
            .filter(|line| line.contains("fill=\"#3B5BAA\""))
            .filter_map(|line| line.split("width=\"").nth(1)?.split('"').next()?.parse().ok())
            .collect();
        assert!(widths.len() == 2 && widths.iter().all(|width| *width > 250.0), "{widths:?}");
    }

    #[test]
    fn an_empty_or_all_zero_series_still_draws() {
        assert!(bars(&[], &[]).is_some());
        assert!(bars(&["a".to_owned()], &[0.0]).is_some());
    }
}
