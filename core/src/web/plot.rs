//! Small SVG plots for the admin pages: one series of values per minute drawn as bars,
//! with the largest value and the time span written on it. Plain SVG text: no script,
//! no external reference, every label escaped.

use std::fmt::Write;

/// Width and height of a plot, in SVG user units.
const WIDTH: f64 = 360.0;
const HEIGHT: f64 = 120.0;
/// Room for the labels.
const TOP: f64 = 18.0;
const BOTTOM: f64 = 16.0;

/// Escapes text for SVG (XML) content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What a plot's values are, for its caption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlotKind {
    /// Events counted per minute: the caption gives the busiest minute and the total.
    PerMinute,
    /// A level seen each minute (a queue's size): the caption gives the highest and the
    /// last.
    Level,
}

/// An SVG bar plot of `values` (oldest first, one per minute) titled `title`; `colour`
/// is a CSS colour name or `#rrggbb`.
pub fn bar_plot(title: &str, values: &[u64], colour: &str, kind: PlotKind) -> String {
    let colour = if colour
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '#')
    {
        colour
    } else {
        "black"
    };
    let max = values.iter().copied().max().unwrap_or(0);
    let total: u64 = values.iter().sum();
    let n = values.len().max(1) as f64;
    let slot = WIDTH / n;
    let usable = HEIGHT - TOP - BOTTOM;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" aria-label=\"{}\">",
        escape(title)
    );
    let _ = write!(
        svg,
        "<title>{}</title><rect width=\"100%\" height=\"100%\" fill=\"#fafbfc\"/>",
        escape(title)
    );
    let base = HEIGHT - BOTTOM;
    let _ = write!(
        svg,
        "<line x1=\"0\" y1=\"{base}\" x2=\"{WIDTH}\" y2=\"{base}\" stroke=\"#d9dee3\"/>"
    );
    for (i, &v) in values.iter().enumerate() {
        if v == 0 || max == 0 {
            continue;
        }
        let h = (v as f64 / max as f64 * usable).max(1.0);
        let x = i as f64 * slot;
        let _ = write!(
            svg,
            "<rect class=\"bar\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{colour}\"><title>{v}</title></rect>",
            base - h,
            (slot - 1.0).max(1.0),
        );
    }
    let caption = match kind {
        PlotKind::PerMinute => format!("max {max}/min, total {total}"),
        PlotKind::Level => format!("max {max}, now {}", values.last().copied().unwrap_or(0)),
    };
    let _ = write!(
        svg,
        "<text x=\"4\" y=\"13\" font-size=\"11\" font-family=\"sans-serif\" fill=\"#1d232a\">{} \
         ({caption})</text>",
        escape(title)
    );
    let _ = write!(
        svg,
        "<text x=\"4\" y=\"{}\" font-size=\"10\" font-family=\"sans-serif\" fill=\"#5c6670\">-{} min</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"10\" font-family=\"sans-serif\" fill=\"#5c6670\" text-anchor=\"end\">now</text>",
        HEIGHT - 3.0,
        values.len(),
        WIDTH - 4.0,
        HEIGHT - 3.0,
    );
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_labels_are_escaped() {
        let svg = bar_plot("Received <&>", &[0, 5, 10], "#1f5fa8", PlotKind::PerMinute);
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert!(svg.contains("Received &lt;&amp;&gt; (max 10/min, total 15)"));
        assert_eq!(svg.matches("class=\"bar\"").count(), 2);
        // The largest bar fills the usable height.
        let usable = HEIGHT - TOP - BOTTOM;
        assert!(svg.contains(&format!("height=\"{usable:.1}\"")));
        assert!(!svg.contains("<script"));
        let empty = bar_plot("Bounced", &[0; 60], "red\" onload=\"x", PlotKind::PerMinute);
        assert_eq!(empty.matches("class=\"bar\"").count(), 0);
        assert!(!empty.contains("onload"));
        let level = bar_plot("Queue", &[4, 9, 2], "grey", PlotKind::Level);
        assert!(level.contains("Queue (max 9, now 2)"));
    }
}
