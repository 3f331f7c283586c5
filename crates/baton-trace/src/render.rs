//! Text views of a trace: the waterfall and the service map.

use std::fmt::Write as _;

use crate::map::{call_label, resource_in, service_map};
use crate::trace::{Node, NodeKind, Trace};

/// The narrowest waterfall drawn; a smaller width is raised to this.
pub const MIN_WIDTH: usize = 48;

/// The widest waterfall drawn; a larger width is lowered to this.
pub const MAX_WIDTH: usize = 4096;

/// The width of the duration column (`12345.6 ms`).
const DURATION_COLUMN: usize = 10;

/// How a waterfall is drawn.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaterfallOptions {
    /// The line width in characters (flags after the duration may run past it), kept
    /// between [`MIN_WIDTH`] and [`MAX_WIDTH`].
    pub width: usize,
    /// ANSI colours (for a terminal).
    pub colors: bool,
    /// Only ASCII characters: `|-`, `` `- `` tree lines and `#` bars, and names with other
    /// characters replaced by `?`.
    pub ascii: bool,
}

impl WaterfallOptions {
    /// Plain UTF-8 text, no colours, `width` characters wide.
    pub fn new(width: usize) -> Self {
        WaterfallOptions {
            width,
            colors: false,
            ascii: false,
        }
    }

    /// With or without ANSI colours.
    #[must_use]
    pub fn with_colors(mut self, colors: bool) -> Self {
        self.colors = colors;
        self
    }

    /// ASCII only, or UTF-8.
    #[must_use]
    pub fn with_ascii(mut self, ascii: bool) -> Self {
        self.ascii = ascii;
        self
    }
}

/// The characters a waterfall is drawn with.
struct Glyphs {
    branch: &'static str,
    last: &'static str,
    pipe: &'static str,
    blank: &'static str,
    bar: char,
    running: char,
    cut: char,
}

const UTF8: Glyphs = Glyphs {
    branch: "├─ ",
    last: "└─ ",
    pipe: "│  ",
    blank: "   ",
    bar: '█',
    running: '░',
    cut: '…',
};

const ASCII: Glyphs = Glyphs {
    branch: "|- ",
    last: "`- ",
    pipe: "|  ",
    blank: "   ",
    bar: '#',
    running: '.',
    cut: '~',
};

/// The waterfall of `trace` as plain UTF-8 text without colours, `width` characters wide:
/// a summary line, a time ruler, then one line per node, indented as a tree, with a bar on
/// the trace's time axis, the duration, and the error marks.
///
/// ```text
/// trace 1-5f84c7a1-1f0a3c1e9d2b7c6a5e4f3a2b  5 nodes, 2 services, 250.0 ms, FAULT
///   started 2020-10-12 21:16:17.000 UTC
///                             |0                              250.0 ms|
/// [checkout]                  |███████████████████████████████████████|   250.0 ms
/// ├─ price order              |██                                     |     6.0 ms
/// └─ SQS SendMessage (orders) | █████                                 |    25.0 ms
///    └─ [fulfilment]          |               █████████████████       |   100.0 ms  FAULT
///       └─ save order         |                  ████                 |    20.0 ms  FAULT: DbError: disk full
/// ```
///
/// Segments (services) are shown as `[name]`; calls as the subsegment's name, the AWS
/// operation and the resource; `(orphan)` marks a node whose parent has not arrived, and
/// `running` one still in progress (its bar drawn light to the end of the axis).
pub fn render_waterfall(trace: &Trace, width: usize) -> String {
    render_waterfall_with(trace, &WaterfallOptions::new(width))
}

/// [`render_waterfall`] with colours or ASCII as `options` say.
pub fn render_waterfall_with(trace: &Trace, options: &WaterfallOptions) -> String {
    let glyphs = if options.ascii { &ASCII } else { &UTF8 };
    let paint = Paint(options.colors);
    let width = options.width.clamp(MIN_WIDTH, MAX_WIDTH);
    let nodes = trace.nodes();
    let mut out = String::new();

    // Summary.
    let services = trace.services().len();
    let _ = write!(
        out,
        "trace {}  {} {}, {} {}, {}",
        clean(trace.id(), options.ascii),
        nodes.len(),
        plural(nodes.len(), "node", "nodes"),
        services,
        plural(services, "service", "services"),
        format_ms(trace.duration_ms()),
    );
    let marks = flag_words(
        nodes.iter().any(|n| n.error),
        nodes.iter().any(|n| n.fault),
        nodes.iter().any(|n| n.throttle),
    );
    if !marks.is_empty() {
        let _ = write!(out, ", {}", paint.alert(&marks.join(" ")));
    }
    let orphans = trace.orphans().count();
    if orphans > 0 {
        let _ = write!(
            out,
            ", {orphans} {} (parent not received)",
            plural(orphans, "orphan", "orphans")
        );
    }
    out.push('\n');
    if nodes.is_empty() {
        return out;
    }
    let _ = writeln!(out, "  started {}", format_utc(trace.start()));

    // Columns: label, " |", bar, "| ", duration.
    let labels: Vec<(String, String)> = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            (
                tree_prefix(trace, i, glyphs),
                clean(&label(trace, node), options.ascii),
            )
        })
        .collect();
    let longest = labels
        .iter()
        .map(|(prefix, text)| prefix.chars().count() + text.chars().count())
        .max()
        .unwrap_or(0);
    let label_width = longest.clamp(12, width * 2 / 5);
    let bar_width = width - label_width - 4 - DURATION_COLUMN;

    // The ruler: 0 on the left, the total on the right.
    let total = format_ms(trace.duration_ms());
    let gap = bar_width.saturating_sub(1 + total.chars().count());
    let _ = writeln!(out, "{:label_width$} |0{:gap$}{total}|", "", "");

    let origin = trace.start();
    let span = trace.end() - origin;
    for (node, (prefix, text)) in nodes.iter().zip(&labels) {
        // A tree too deep for the label column loses its deepest indentation, not its
        // alignment.
        let prefix = fit(prefix, label_width, glyphs.cut);
        let room = label_width - prefix.chars().count();
        let text = fit(text, room, glyphs.cut);
        let pad = room - text.chars().count();
        let (from, to) = cells(node, origin, span, bar_width);
        let fill = if node.in_progress {
            glyphs.running
        } else {
            glyphs.bar
        };
        let bar: String = std::iter::repeat_n(fill, to - from).collect();
        let duration = match node.duration_ms() {
            Some(ms) if !node.in_progress => format_ms(ms),
            _ => "running".to_owned(),
        };
        let _ = write!(
            out,
            "{}{}{:pad$} |{:from$}{}{:rest$}| {duration:>DURATION_COLUMN$}",
            paint.dim(&prefix),
            paint.name(&text, node),
            "",
            "",
            paint.bar(&bar, node),
            "",
            rest = bar_width - to,
        );
        let flags = flag_words(node.error, node.fault, node.throttle);
        if !flags.is_empty() {
            let mut note = flags.join(" ");
            if let Some(first) = node.exceptions.first() {
                note.push_str(": ");
                note.push_str(&fit(&clean(first, options.ascii), 60, glyphs.cut));
            }
            let _ = write!(out, "  {}", paint.alert(&note));
        }
        out.push('\n');
    }
    out
}

/// The service map of `trace` as text, one edge a line
/// (`checkout --SQS SendMessage--> orders --> fulfilment`); see [`service_map`] for how
/// edges are found. A trace without calls between services gives one line saying so.
pub fn render_service_map(trace: &Trace) -> String {
    let edges = service_map(trace);
    if edges.is_empty() {
        return "(no calls between services)\n".to_owned();
    }
    let mut out = String::new();
    for edge in edges {
        let _ = writeln!(out, "{}", clean(&edge.to_string(), false));
    }
    out
}

/// What a node's line says: `[service]` for a segment, the call and its resource for a
/// subsegment, and `(orphan)` where the parent is missing.
pub(crate) fn label(trace: &Trace, node: &Node) -> String {
    let mut label = match node.kind {
        NodeKind::Segment => format!("[{}]", node.name),
        _ => {
            let mut text = call_label(node);
            if node.namespace.is_some()
                && let Some(resource) = resource_in(trace, node)
            {
                let _ = write!(text, " ({resource})");
            }
            text
        }
    };
    if label.is_empty() {
        label.push_str("(unnamed)");
    }
    if node.orphan {
        label.push_str(" (orphan)");
    }
    label
}

/// The deepest a tree prefix goes: the innermost levels of a deeper node are drawn, after a
/// mark for the outer ones left out. (A chain thousands deep, which anyone able to send datagrams to the
/// collector can make, would otherwise cost the square of its depth in time and memory on
/// every print, for a prefix no terminal shows.)
const MAX_PREFIX_LEVELS: usize = 64;

/// The tree lines in front of node `i`'s label.
fn tree_prefix(trace: &Trace, i: usize, glyphs: &Glyphs) -> String {
    let nodes = trace.nodes();
    // Whether each ancestor (from the top) is the last of its siblings.
    let mut lasts: Vec<bool> = Vec::new();
    let mut at = i;
    while let Some(p) = nodes[at].parent
        && lasts.len() < MAX_PREFIX_LEVELS
    {
        lasts.push(nodes[p].children.last() == Some(&at));
        at = p;
    }
    let mut prefix = String::new();
    // Levels left out are shown as such.
    if nodes[at].parent.is_some() {
        prefix.push(glyphs.cut);
    }
    for (depth, &last) in lasts.iter().rev().enumerate() {
        let own = depth + 1 == lasts.len();
        prefix.push_str(match (own, last) {
            (true, true) => glyphs.last,
            (true, false) => glyphs.branch,
            (false, true) => glyphs.blank,
            (false, false) => glyphs.pipe,
        });
    }
    prefix
}

/// The bar's first cell and the cell after its last, on a `width`-cell axis.
fn cells(node: &Node, origin: f64, span: f64, width: usize) -> (usize, usize) {
    if span <= 0.0 || !span.is_finite() {
        return (0, width);
    }
    let scale = width as f64 / span;
    let end = if node.in_progress {
        origin + span
    } else {
        node.end.unwrap_or(node.start)
    };
    let from = (((node.start - origin) * scale).floor().max(0.0) as usize).min(width - 1);
    let to = (((end - origin) * scale).ceil().max(0.0) as usize).clamp(from + 1, width);
    (from, to)
}

fn flag_words(error: bool, fault: bool, throttle: bool) -> Vec<&'static str> {
    let mut words = Vec::new();
    if fault {
        words.push("FAULT");
    }
    if error {
        words.push("ERROR");
    }
    if throttle {
        words.push("THROTTLE");
    }
    words
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// `12.3 ms`.
pub(crate) fn format_ms(ms: f64) -> String {
    format!("{ms:.1} ms")
}

/// Control characters (terminal escapes included) become `?`, as does anything beyond
/// ASCII when `ascii` is asked for.
pub(crate) fn clean(text: &str, ascii: bool) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || (ascii && !c.is_ascii()) {
                '?'
            } else {
                c
            }
        })
        .collect()
}

/// `text` cut to `room` characters, the last one replaced by `cut` when shortened.
fn fit(text: &str, room: usize, cut: char) -> String {
    if text.chars().count() <= room {
        return text.to_owned();
    }
    if room == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(room - 1).collect();
    out.push(cut);
    out
}

/// Epoch seconds as `2026-11-25 19:56:07.123 UTC`.
pub(crate) fn format_utc(epoch_seconds: f64) -> String {
    if !epoch_seconds.is_finite() || epoch_seconds.abs() > 1e12 {
        return format!("{epoch_seconds} s");
    }
    let millis_total = (epoch_seconds * 1000.0).round() as i64;
    let (secs, millis) = (millis_total.div_euclid(1000), millis_total.rem_euclid(1000));
    let (days, second_of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (the proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{millis:03} UTC",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// ANSI colours, or nothing.
#[derive(Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn wrap(self, code: &str, text: &str) -> String {
        if self.0 && !text.is_empty() {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn dim(self, text: &str) -> String {
        self.wrap("2", text)
    }

    fn alert(self, text: &str) -> String {
        self.wrap("1;31", text)
    }

    fn name(self, text: &str, node: &Node) -> String {
        match node.kind {
            NodeKind::Segment => self.wrap("1", text),
            _ => text.to_owned(),
        }
    }

    fn bar(self, text: &str, node: &Node) -> String {
        let code = if node.fault || node.error {
            "31"
        } else if node.throttle {
            "35"
        } else if node.kind == NodeKind::Segment {
            "36"
        } else {
            "34"
        };
        self.wrap(code, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    const DATES: &[(f64, &str)] = &[
        (0.0,              "1970-01-01 00:00:00.000 UTC"),
        (1_602_537_377.25, "2020-10-12 21:16:17.250 UTC"),
        (951_782_400.0,    "2000-02-29 00:00:00.000 UTC"),
        (1_795_564_800.0,  "2026-11-25 00:00:00.000 UTC"),
        (-1.0,             "1969-12-31 23:59:59.000 UTC"),
    ];

    #[test]
    fn utc_dates() {
        for (epoch, expected) in DATES {
            assert_eq!(format_utc(*epoch), *expected);
        }
        assert_eq!(format_utc(f64::NAN), "NaN s");
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(clean("a\x1b[31mb\n", false), "a?[31mb?");
        assert_eq!(clean("café", true), "caf?");
        assert_eq!(clean("café", false), "café");
    }

    #[test]
    fn a_very_deep_chain_draws_only_its_innermost_levels() {
        // A segment and a chain of 300 subsegments, each the parent of the next.
        let trace_id = "1-5f84c7a1-1f0a3c1e9d2b7c6a5e4f3a2b";
        let mut assembler = crate::Assembler::new();
        let now = std::time::Instant::now();
        let mut send = |document: String| {
            let datagram = format!("{}\n{document}", crate::DAEMON_HEADER);
            assembler.ingest(datagram.as_bytes(), now).unwrap();
        };
        send(format!(
            r#"{{"name":"root","id":"{:016x}","trace_id":"{trace_id}","start_time":1.0,"end_time":2.0}}"#,
            1
        ));
        for n in 2..=301u64 {
            send(format!(
                r#"{{"type":"subsegment","name":"s","id":"{n:016x}","parent_id":"{:016x}","trace_id":"{trace_id}","start_time":1.0,"end_time":2.0}}"#,
                n - 1
            ));
        }
        let trace = assembler.traces().remove(0);
        assert_eq!(trace.len(), 301);
        let deepest = (0..trace.len())
            .max_by_key(|&i| tree_prefix(&trace, i, &ASCII).len())
            .unwrap();
        let prefix = tree_prefix(&trace, deepest, &ASCII);
        assert_eq!(prefix.len(), 1 + MAX_PREFIX_LEVELS * ASCII.last.len());
        assert!(prefix.starts_with(ASCII.cut) && prefix.ends_with(ASCII.last));
        // A node exactly as deep as the limit has no mark.
        let at_limit = (0..trace.len())
            .find(|&i| tree_prefix(&trace, i, &ASCII).len() == MAX_PREFIX_LEVELS * 3)
            .unwrap();
        assert!(!tree_prefix(&trace, at_limit, &ASCII).starts_with(ASCII.cut));
        // The whole view still draws, every line within the width asked.
        let text = render_waterfall(&trace, 120);
        assert_eq!(text.lines().count(), 3 + 301);
    }

    #[test]
    fn fitting_labels() {
        assert_eq!(fit("abcdef", 4, '~'), "abc~");
        assert_eq!(fit("abc", 4, '~'), "abc");
        assert_eq!(fit("abc", 0, '~'), "");
    }
}
