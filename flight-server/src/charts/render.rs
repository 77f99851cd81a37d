//! Hourly time series drawn as SVG by plotters: a time axis labelled with
//! UTC dates, a value axis with its unit, one line per series (broken where
//! hours are missing, each hour a dot, so a lone hour still shows), and a
//! legend under the plot naming every series in its colour.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const HOUR_MS: i64 = 3_600_000;
const PLOT_HEIGHT: u32 = 280;
const LEGEND_ROW: u32 = 18;
const FONT: &str = "sans-serif";

/// One named line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub name: String,
    /// (hour start, Unix ms; value), in time order.
    pub points: Vec<(i64, f64)>,
}

/// How the value axis reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scale {
    /// 0 to 100.
    Score,
    /// A share, 0 to 1, labelled in percent.
    Share,
    /// From 0 to the largest value.
    Amount,
    /// A correlation, -1 to +1.
    Correlation,
}

/// What is drawn around the series.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame<'a> {
    pub title: &'a str,
    /// The value axis' description, with its unit.
    pub unit: &'a str,
    pub scale: Scale,
    /// The hours shown: [from, to).
    pub from_ms: i64,
    pub to_ms: i64,
    /// Width in pixels.
    pub width: u32,
}

type Failed = Box<dyn std::error::Error + Send + Sync>;

/// The chart as an SVG document.
pub(crate) fn svg(frame: &Frame, series: &[Series]) -> Result<String, Failed> {
    let width = frame.width;
    let legend = legend_layout(series, width);
    let legend_height = legend.last().map_or(0, |(_, _, row)| (row + 1) * LEGEND_ROW + 8);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (width, PLOT_HEIGHT + legend_height)).into_drawing_area();
        root.fill(&WHITE).map_err(boxed)?;
        let (plot, below) = root.split_vertically(PLOT_HEIGHT);
        draw_plot(&plot, frame, series)?;
        for (i, (x, name, row)) in legend.iter().enumerate() {
            let colour = colour(i);
            let y = (row * LEGEND_ROW + LEGEND_ROW / 2 + 4) as i32;
            let x = *x as i32;
            below
                .draw(&PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(3)))
                .map_err(boxed)?;
            let style = TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
            below
                .draw(&Text::new(name.clone(), (x + 24, y), style))
                .map_err(boxed)?;
        }
        root.present().map_err(boxed)?;
    }
    Ok(out)
}

fn boxed<E: std::error::Error + Send + Sync + 'static>(e: E) -> Failed {
    Box::new(e)
}

/// The colour of series `i`.
fn colour(i: usize) -> RGBColor {
    // Distinct on white and for most colour-blind readers (Okabe–Ito, then
    // the library's palette).
    const FIRST: [RGBColor; 7] = [
        RGBColor(0, 114, 178),
        RGBColor(213, 94, 0),
        RGBColor(0, 158, 115),
        RGBColor(204, 121, 167),
        RGBColor(230, 159, 0),
        RGBColor(86, 180, 233),
        RGBColor(80, 80, 80),
    ];
    FIRST.get(i).copied().unwrap_or_else(|| {
        let (r, g, b) = Palette99::pick(i).rgb();
        RGBColor(r, g, b)
    })
}

/// Where each legend entry goes: (x, name, row), flowing left to right.
fn legend_layout(series: &[Series], width: u32) -> Vec<(u32, String, u32)> {
    let (mut x, mut row) = (56u32, 0u32);
    let mut out = Vec::with_capacity(series.len());
    for s in series {
        let name: String = s.name.chars().take(60).collect();
        // The library's own estimate of the text's width.
        let text = (FONT, 12)
            .into_font()
            .box_size(&name)
            .map(|(w, _)| w)
            .unwrap_or(7 * name.len() as u32);
        let entry = 24 + text + 20;
        if x + entry > width.saturating_sub(8) && x > 56 {
            (x, row) = (56, row + 1);
        }
        out.push((x, name, row));
        x += entry;
    }
    out
}

fn draw_plot(area: &DrawingArea<SVGBackend, Shift>, frame: &Frame, series: &[Series]) -> Result<(), Failed> {
    let (low, high) = match frame.scale {
        Scale::Score => (0.0, 100.0),
        Scale::Share => (0.0, 1.0),
        Scale::Correlation => (-1.0, 1.0),
        Scale::Amount => {
            let top = series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.1))
                .filter(|v| v.is_finite())
                .fold(0.0_f64, f64::max);
            (0.0, if top > 0.0 { top * 1.08 } else { 1.0 })
        }
    };
    let (from, to) = (frame.from_ms, frame.to_ms.max(frame.from_ms + HOUR_MS));
    let ticks = TimeTicks::fitting(from, to, frame.width);
    let mut chart = ChartBuilder::on(area)
        .caption(frame.title, (FONT, 15).into_font())
        .margin(8)
        .margin_right(16)
        .x_label_area_size(38)
        .y_label_area_size(56)
        .build_cartesian_2d(
            (from..to)
                .with_key_points(ticks.points(from, to, ticks.step))
                .with_light_points(ticks.points(from, to, ticks.light)),
            low..high,
        )
        .map_err(boxed)?;
    let days = ticks.step >= 24 * HOUR_MS;
    let time = |t: &i64| {
        chrono::DateTime::from_timestamp_millis(*t).map_or_else(String::new, |d| {
            if days {
                d.format("%b %d").to_string()
            } else {
                d.format("%b %d %H:00").to_string()
            }
        })
    };
    let value = |v: &f64| match frame.scale {
        Scale::Share => format!("{:.0}%", v * 100.0),
        Scale::Correlation => format!("{v:+.1}"),
        _ if high >= 1e6 => format!("{v:.1e}"),
        _ if high >= 10.0 => format!("{v:.0}"),
        _ if high >= 0.1 => format!("{v:.2}"),
        _ => format!("{v:.1e}"),
    };
    chart
        .configure_mesh()
        .y_labels(6)
        .x_label_formatter(&time)
        .y_label_formatter(&value)
        .x_desc("hour (UTC)")
        .y_desc(frame.unit)
        .label_style((FONT, 11).into_font())
        .axis_desc_style((FONT, 12).into_font())
        .light_line_style(RGBColor(240, 242, 246))
        .bold_line_style(RGBColor(222, 226, 232))
        .draw()
        .map_err(boxed)?;
    if series.iter().all(|s| s.points.is_empty()) {
        let grey = RGBColor(91, 100, 117);
        let style = TextStyle::from((FONT, 14).into_font())
            .color(&grey)
            .pos(Pos::new(HPos::Center, VPos::Center));
        let (w, h) = area.dim_in_pixel();
        area.draw(&Text::new(
            "no data in these hours",
            (w as i32 / 2, h as i32 / 2),
            style,
        ))
        .map_err(boxed)?;
        return Ok(());
    }
    for (i, s) in series.iter().enumerate() {
        let colour = colour(i);
        let points: Vec<(i64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|(t, v)| v.is_finite() && *t >= from && *t < to)
            .map(|(t, v)| (t, v.clamp(low, high)))
            .collect();
        for run in runs(&points) {
            chart
                .draw_series(LineSeries::new(run.iter().copied(), colour.stroke_width(2)))
                .map_err(boxed)?;
        }
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 2, colour.filled())))
            .map_err(boxed)?;
    }
    Ok(())
}

/// Where the time axis is labelled (`step`) and lined (`light`): whole
/// hours or days, as many labels as the width holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TimeTicks {
    step: i64,
    light: i64,
}

impl TimeTicks {
    fn fitting(from: i64, to: i64, width: u32) -> Self {
        const HOURS: [i64; 10] = [1, 2, 3, 6, 12, 24, 48, 72, 168, 336];
        let most = i64::from((width / 130).clamp(2, 10));
        let span = (to - from).max(HOUR_MS);
        let at = HOURS
            .iter()
            .position(|h| span / (h * HOUR_MS) <= most)
            .unwrap_or(HOURS.len() - 1);
        let step = HOURS[at] * HOUR_MS;
        let light = if at == 0 { step } else { HOURS[at - 1] * HOUR_MS };
        TimeTicks { step, light }
    }

    /// The multiples of `step` (UTC) in [from, to), at most a few hundred.
    fn points(&self, from: i64, to: i64, step: i64) -> Vec<i64> {
        let first = from.div_euclid(step) * step;
        (0..400)
            .map(|k| first + k * step)
            .filter(|t| *t >= from)
            .take_while(|t| *t < to)
            .collect()
    }
}

/// The stretches of consecutive hours: a missing hour breaks the line.
fn runs(points: &[(i64, f64)]) -> Vec<&[(i64, f64)]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=points.len() {
        if i == points.len() || points[i].0 - points[i - 1].0 > HOUR_MS {
            if i - start > 1 {
                out.push(&points[start..i]);
            }
            start = i;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text of every `<text>` element.
    fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim().to_owned()))
            .collect()
    }

    /// The series' lines (axes and ticks are 1 px wide, legend swatches 3).
    fn lines(svg: &str) -> usize {
        svg.matches("stroke-width=\"2\" points").count()
    }

    fn frame(scale: Scale) -> Frame<'static> {
        Frame {
            title: "SLA score",
            unit: "score (0-100)",
            scale,
            from_ms: 0,
            to_ms: 24 * HOUR_MS,
            width: 720,
        }
    }

    #[test]
    fn a_chart_has_axes_with_labels_and_a_legend_entry_per_series() {
        let series = vec![
            Series {
                name: "live-video-to-video · sdxl".into(),
                points: vec![(0, 80.0), (HOUR_MS, 90.0), (5 * HOUR_MS, 70.0)],
            },
            Series {
                name: "live-video-to-video · faceid".into(),
                points: vec![(2 * HOUR_MS, 60.0)],
            },
        ];
        let svg = svg(&frame(Scale::Score), &series).unwrap();
        let texts = texts(&svg);
        for text in [
            "SLA score",
            "hour (UTC)",
            "score (0-100)",
            "Jan 01 00:00",
            "100",
            "0",
            "live-video-to-video · sdxl",
            "live-video-to-video · faceid",
        ] {
            assert!(texts.iter().any(|t| t == text), "{text} missing from {texts:?}");
        }
        // One line for the two consecutive hours; the lone hours are dots;
        // a legend swatch per series.
        assert_eq!(lines(&svg), 1, "{svg}");
        assert_eq!(svg.matches("stroke-width=\"3\"").count(), 2, "{svg}");
        assert_eq!(svg.matches("<circle").count(), 4, "{svg}");
    }

    #[test]
    fn missing_hours_break_the_line_and_shares_read_in_percent() {
        let points = vec![(0, 0.5), (HOUR_MS, 0.6), (3 * HOUR_MS, 0.7), (4 * HOUR_MS, 2.0)];
        assert_eq!(runs(&points).len(), 2);
        let svg = svg(
            &frame(Scale::Share),
            &[Series {
                name: "all".into(),
                points,
            }],
        )
        .unwrap();
        let texts = texts(&svg);
        assert!(
            texts.iter().any(|t| t == "100%") && texts.iter().any(|t| t == "0%"),
            "{texts:?}"
        );
        assert_eq!(lines(&svg), 2, "{svg}");
    }

    #[test]
    fn no_rows_say_so_instead_of_an_empty_frame() {
        let svg = svg(&frame(Scale::Amount), &[]).unwrap();
        assert!(texts(&svg).iter().any(|t| t == "no data in these hours"), "{svg}");
    }

    #[test]
    fn names_from_the_lake_are_text_never_markup() {
        let series = [Series {
            name: "<script>alert(1)</script> & \"x\"".into(),
            points: vec![(0, 1.0)],
        }];
        let svg = svg(&frame(Scale::Amount), &series).unwrap();
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(
            svg.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;"),
            "{svg}"
        );
    }

    #[test]
    fn the_time_axis_reads_in_whole_hours_or_days() {
        let day = 24 * HOUR_MS;
        let ticks = TimeTicks::fitting(0, day, 720);
        assert_eq!(ticks.step, 6 * HOUR_MS);
        assert_eq!(
            ticks.points(0, day, ticks.step),
            vec![0, 6 * HOUR_MS, 12 * HOUR_MS, 18 * HOUR_MS]
        );
        assert_eq!(TimeTicks::fitting(0, 7 * day, 720).step, 2 * day);
        assert_eq!(TimeTicks::fitting(0, 30 * day, 1400).step, 3 * day);
        assert_eq!(TimeTicks::fitting(0, 30 * day, 280).step, 14 * day);
        // Ticks start at the first whole step inside the range.
        assert_eq!(ticks.points(HOUR_MS, day, ticks.step)[0], 6 * HOUR_MS);
    }

    #[test]
    fn long_legends_wrap_within_the_width() {
        let series: Vec<Series> = (0..12)
            .map(|i| Series {
                name: format!("pipeline-{i} · some-rather-long-model-name-{i}"),
                points: vec![(0, i as f64)],
            })
            .collect();
        let layout = legend_layout(&series, 400);
        assert!(layout.iter().all(|(x, _, _)| *x < 400));
        assert!(layout.last().unwrap().2 >= 6, "{layout:?}");
    }
}
