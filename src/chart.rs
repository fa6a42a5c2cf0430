//! Charts drawn with plotters into PNG bytes at print resolution.
//!
//! The font is compiled into the binary (DejaVu Sans, `assets/fonts/`): no system font lookup
//! at run time, and the API function (which has no TeX bundle) draws the same charts.

use std::sync::Once;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Pixel width of every chart: about 200 dpi across a landscape A4 text block.
pub const WIDTH: u32 = 2000;
/// Scale from the layout units below (designed at 1000 px wide) to pixels.
const S: f64 = WIDTH as f64 / 1000.0;

pub const IC_COLOUR: RGBColor = RGBColor(0xFF, 0x6E, 0x3A);
pub const RENDER_COLOUR: RGBColor = RGBColor(0x84, 0x00, 0xCD);
/// Series colours for generic charts (Okabe–Ito, distinguishable with colour-blindness).
const PALETTE: [RGBColor; 7] = [
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0x00, 0x00, 0x00),
];

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The request asks for no chart: the caller's mistake, not a failure to draw.
    #[error("this request has no chart to draw (no section has `charts`)")]
    NoChart,
    #[error("drawing the chart failed: {0}")]
    Draw(String),
    #[error("encoding the chart as PNG failed: {0}")]
    Encode(#[from] png::EncodingError),
}

fn draw_err<E: std::fmt::Debug>(e: E) -> ChartError {
    ChartError::Draw(format!("{e:?}"))
}

/// DejaVu Sans, compiled in: the charts' font, and the reference for which characters the
/// PDF's main font covers ([`crate::latex`] sends the others to fallback fonts).
pub static DEJAVU_SANS: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

fn font_setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let font: &'static [u8] = DEJAVU_SANS;
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // The font is compiled in and known good; a failure here is a build defect.
            assert!(plotters::style::register_font("sans-serif", style, font).is_ok(), "DejaVu Sans parses");
        }
    });
}

fn px(x: f64) -> i32 {
    (x * S).round() as i32
}

fn font(size: f64) -> TextStyle<'static> {
    ("sans-serif", size * S).into_font().color(&BLACK)
}

/// Encodes an RGB buffer as an indexed-colour PNG.
///
/// A chart is a few flat colours plus anti-aliased edges, so a 256-colour palette loses
/// nothing visible, and a third of the bytes matters: xdvipdfmx decodes and re-compresses
/// every PNG it embeds, and for RGB charts that was the largest single cost of a render.
fn encode(buf: &[u8], w: u32, h: u32) -> Result<Vec<u8>, ChartError> {
    let (palette, indices) = quantize(buf);
    let mut out = Vec::with_capacity(indices.len() / 20);
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_palette(palette);
        enc.set_compression(png::Compression::Fast);
        // 200 dpi, so viewers and TeX know the intended size.
        enc.set_pixel_dims(Some(png::PixelDimensions { xppu: 7874, yppu: 7874, unit: png::Unit::Meter }));
        let mut w = enc.write_header()?;
        w.write_image_data(&indices)?;
    }
    Ok(out)
}

/// The 256 most frequent colours form the palette; every other colour (rare edge pixels)
/// takes the nearest palette entry.
fn quantize(buf: &[u8]) -> (Vec<u8>, Vec<u8>) {
    use std::collections::HashMap;
    // Charts are long runs of one colour: count runs, not pixels, and hash once per run.
    let mut counts: HashMap<[u8; 3], u32> = HashMap::new();
    let mut px = buf.chunks_exact(3).map(|p| [p[0], p[1], p[2]]);
    if let Some(mut run) = px.next() {
        let mut n = 1;
        for c in px {
            if c == run {
                n += 1;
            } else {
                *counts.entry(run).or_default() += n;
                (run, n) = (c, 1);
            }
        }
        *counts.entry(run).or_default() += n;
    }
    let mut by_freq: Vec<([u8; 3], u32)> = counts.into_iter().collect();
    // Ties broken by colour so the palette, and the PNG bytes, are deterministic.
    by_freq.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let palette: Vec<[u8; 3]> = by_freq.iter().take(256).map(|(c, _)| *c).collect();
    let mut index: HashMap<[u8; 3], u8> = palette.iter().enumerate().map(|(i, c)| (*c, i as u8)).collect();
    let nearest = |c: [u8; 3]| -> u8 {
        let d = |p: &[u8; 3]| (0..3).map(|k| (i32::from(p[k]) - i32::from(c[k])).pow(2)).sum::<i32>();
        palette.iter().enumerate().min_by_key(|(_, p)| d(p)).map(|(i, _)| i as u8).unwrap_or(0)
    };
    let mut last = ([0u8; 3], None::<u8>);
    let indices = buf
        .chunks_exact(3)
        .map(|p| {
            let c = [p[0], p[1], p[2]];
            match last {
                (lc, Some(i)) if lc == c => i,
                _ => {
                    let i = *index.entry(c).or_insert_with(|| nearest(c));
                    last = (c, Some(i));
                    i
                }
            }
        })
        .collect();
    (palette.concat(), indices)
}

/// One panel of the DiAGRAM chart: a model's scenarios and their two scores.
#[derive(Debug, Clone)]
pub struct ScorePanel {
    pub title: String,
    /// (scenario, intellectual control, renderability)
    pub rows: Vec<(String, f64, f64)>,
}

const LABEL_W: f64 = 260.0;
const ROW_H: f64 = 70.0;
const PANEL_TITLE_H: f64 = 50.0;
const AXIS_H: f64 = 50.0;
const LEGEND_H: f64 = 60.0;

/// DiAGRAM's chart: horizontal grouped bars, x = score 0–100, y = scenario, one colour per
/// score, value labels on the bars, legend at the bottom, one panel per model.
pub fn score_panels(panels: &[ScorePanel]) -> Result<Vec<u8>, ChartError> {
    font_setup();
    let panel_h = |p: &ScorePanel| PANEL_TITLE_H + ROW_H * p.rows.len().max(1) as f64 + AXIS_H;
    let total: f64 = panels.iter().map(panel_h).sum::<f64>() + LEGEND_H;
    let (w, h) = (WIDTH, px(total) as u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut top = 0.0;
        for p in panels {
            let ph = panel_h(p);
            let area = root.clone().shrink((0, px(top)), (w, px(ph) as u32));
            draw_score_panel(&area, p)?;
            top += ph;
        }
        // Legend: two swatches centred at the bottom.
        let y = px(top + LEGEND_H / 2.0);
        let mut x = px(330.0);
        for (name, colour) in [("Intellectual control", IC_COLOUR), ("Renderability", RENDER_COLOUR)] {
            root.draw(&Rectangle::new([(x, y - px(10.0)), (x + px(20.0), y + px(10.0))], colour.filled())).map_err(draw_err)?;
            root.draw(&Text::new(name, (x + px(28.0), y), font(18.0).pos(Pos::new(HPos::Left, VPos::Center)))).map_err(draw_err)?;
            x += px(230.0);
        }
        root.present().map_err(draw_err)?;
    }
    encode(&buf, w, h)
}

fn draw_score_panel<DB: DrawingBackend>(area: &DrawingArea<DB, plotters::coord::Shift>, p: &ScorePanel) -> Result<(), ChartError>
where
    DB::ErrorType: 'static,
{
    let n = p.rows.len().max(1) as f64;
    // backend_coord() answers in whole-image pixels; text is drawn on the panel's area.
    let (ox, oy) = area.get_base_pixel();
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, ("sans-serif", 24.0 * S).into_font().style(FontStyle::Bold))
        .margin_right(px(40.0))
        .margin_top(px(5.0))
        .x_label_area_size(px(AXIS_H - 10.0))
        .y_label_area_size(px(LABEL_W))
        .build_cartesian_2d(0.0..100.0f64, 0.0..n)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .x_labels(11)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_label_style(font(16.0))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.12))
        .draw()
        .map_err(draw_err)?;
    for (i, (scenario, ic, r)) in p.rows.iter().enumerate() {
        // Row i from the top: plotters' y grows upwards.
        let y0 = n - 1.0 - i as f64;
        for (value, colour, lo, hi) in [(*ic, IC_COLOUR, 0.52, 0.90), (*r, RENDER_COLOUR, 0.10, 0.48)] {
            chart.draw_series(std::iter::once(Rectangle::new([(0.0, y0 + lo), (value, y0 + hi)], colour.filled()))).map_err(draw_err)?;
            let (bx, by) = chart.backend_coord(&(value, y0 + (lo + hi) / 2.0));
            let (bx, by) = (bx - ox, by - oy);
            let label = format!("{value:.0}");
            // Inside the bar in white when there is room, else just after it.
            let (pos, dx, colour) = if value > 12.0 { (HPos::Right, -px(6.0), WHITE) } else { (HPos::Left, px(6.0), BLACK) };
            area.draw(&Text::new(label, (bx + dx, by), font(16.0).color(&colour).pos(Pos::new(pos, VPos::Center)))).map_err(draw_err)?;
        }
        let (lx, ly) = chart.backend_coord(&(0.0, y0 + 0.5));
        let (lx, ly) = (lx - ox, ly - oy);
        area.draw(&Text::new(truncate(scenario, 30), (lx - px(10.0), ly), font(17.0).pos(Pos::new(HPos::Right, VPos::Center)))).map_err(draw_err)?;
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

/// A generic chart for the `summary` template.
#[derive(Debug, Clone)]
pub struct SeriesChart {
    pub title: String,
    pub kind: ChartKind,
    pub categories: Vec<String>,
    /// (series name, one value per category)
    pub series: Vec<(String, Vec<f64>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChartKind {
    Bar,
    Line,
}

pub fn series_chart(c: &SeriesChart) -> Result<Vec<u8>, ChartError> {
    font_setup();
    let (w, h) = (WIDTH, px(500.0) as u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let values = c.series.iter().flat_map(|(_, v)| v.iter().copied());
        let (mut lo, mut hi) = values.fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if (hi - lo).abs() < f64::EPSILON {
            hi = lo + 1.0;
        }
        let pad = (hi - lo) * 0.08;
        if lo < 0.0 {
            lo -= pad;
        }
        hi += pad;
        let n = c.categories.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(&c.title, ("sans-serif", 24.0 * S).into_font().style(FontStyle::Bold))
            .margin(px(15.0))
            .x_label_area_size(px(40.0))
            .y_label_area_size(px(80.0))
            .build_cartesian_2d(0.0..n as f64, lo..hi)
            .map_err(draw_err)?;
        let cats = c.categories.clone();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_labels(8)
            .y_label_style(font(15.0))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.12))
            .draw()
            .map_err(draw_err)?;
        for (i, cat) in cats.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(i as f64 + 0.5, lo));
            root.draw(&Text::new(truncate(cat, 18), (x, y + px(8.0)), font(15.0).pos(Pos::new(HPos::Center, VPos::Top)))).map_err(draw_err)?;
        }
        let k = c.series.len().max(1) as f64;
        for (si, (name, vals)) in c.series.iter().enumerate() {
            let colour = PALETTE[si % PALETTE.len()];
            match c.kind {
                ChartKind::Bar => {
                    let bw = 0.8 / k;
                    chart
                        .draw_series(vals.iter().enumerate().map(|(i, v)| {
                            let x0 = i as f64 + 0.1 + bw * si as f64;
                            Rectangle::new([(x0, 0.0f64.max(lo)), (x0 + bw * 0.92, *v)], colour.filled())
                        }))
                        .map_err(draw_err)?
                        .label(name.as_str())
                        .legend(move |(x, y)| Rectangle::new([(x, y - px(8.0)), (x + px(16.0), y + px(8.0))], colour.filled()));
                }
                ChartKind::Line => {
                    let style = ShapeStyle::from(&colour).stroke_width((3.0 * S) as u32);
                    chart
                        .draw_series(LineSeries::new(vals.iter().enumerate().map(|(i, v)| (i as f64 + 0.5, *v)), style))
                        .map_err(draw_err)?
                        .label(name.as_str())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + px(20.0), y)], style));
                    chart
                        .draw_series(vals.iter().enumerate().map(|(i, v)| Circle::new((i as f64 + 0.5, *v), px(5.0), colour.filled())))
                        .map_err(draw_err)?;
                }
            }
        }
        if !c.series.is_empty() {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .label_font(font(16.0))
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(draw_err)?;
        }
        root.present().map_err(draw_err)?;
    }
    encode(&buf, w, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let dec = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut r = dec.read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size()];
        let info = r.next_frame(&mut buf).unwrap();
        (info.width, info.height, buf)
    }

    fn has_colour(png_bytes: &[u8], c: RGBColor) -> bool {
        let r = png::Decoder::new(std::io::Cursor::new(png_bytes)).read_info().unwrap();
        let palette = r.info().palette.as_ref().expect("indexed PNG").to_vec();
        palette.chunks_exact(3).any(|p| p == [c.0, c.1, c.2])
    }

    #[test]
    fn score_chart_has_both_colours_and_one_panel_per_model() {
        let one = ScorePanel { title: "A".into(), rows: vec![("Base Model".into(), 60.0, 40.0)] };
        let png1 = score_panels(std::slice::from_ref(&one)).unwrap();
        let png2 = score_panels(&[one.clone(), one]).unwrap();
        let (w, h1, buf) = decode(&png1);
        assert_eq!(buf.len(), (w * h1) as usize, "one palette index per pixel");
        let (_, h2, _) = decode(&png2);
        assert_eq!(w, WIDTH);
        assert!(h2 > h1, "two panels are taller than one");
        assert!(has_colour(&png1, IC_COLOUR) && has_colour(&png1, RENDER_COLOUR));
    }

    #[test]
    fn series_charts_draw() {
        for kind in [ChartKind::Bar, ChartKind::Line] {
            let c = SeriesChart { title: "t".into(), kind, categories: vec!["a".into(), "b".into()], series: vec![("s".into(), vec![1.0, -2.0])] };
            let png = series_chart(&c).unwrap();
            decode(&png);
            assert!(has_colour(&png, PALETTE[0]));
        }
    }
}
