//! Adding the trace header to a JSON document (an EventBridge detail, a Step Functions
//! execution input, a Kinesis record) without touching anything else in it, and taking it out
//! again.

use std::fmt;

/// Why a JSON document was left as it was.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsonFieldSkip {
    /// The document is not valid JSON.
    InvalidJson,
    /// The document is valid JSON but not an object.
    NotAnObject,
    /// The object has the field already (the caller's own value is kept).
    AlreadySet,
    /// With the field the document would be longer than allowed.
    TooLarge {
        /// The length it would have had, in bytes.
        len: usize,
        /// The limit, in bytes.
        max: usize,
    },
}

impl fmt::Display for JsonFieldSkip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonFieldSkip::InvalidJson => f.write_str("the document is not valid JSON"),
            JsonFieldSkip::NotAnObject => f.write_str("the document is not a JSON object"),
            JsonFieldSkip::AlreadySet => f.write_str("the object has the field already"),
            JsonFieldSkip::TooLarge { len, max } => {
                write!(
                    f,
                    "with the field it would be {len} bytes, over the limit of {max}"
                )
            }
        }
    }
}

/// `document` with `"field": value` added as the first member of its top-level object; every
/// other byte stays as the caller wrote it (spacing, number formats, member order). `extra`
/// is the size of whatever else counts against `max` besides the document.
///
/// ```
/// use baton::json::{add_string_field, JsonFieldSkip};
///
/// assert_eq!(
///     add_string_field(r#"{ "order" : 1.50 }"#, "traceHeader", "Root=…", 0, 1024).unwrap(),
///     r#"{"traceHeader":"Root=…", "order" : 1.50 }"#
/// );
/// assert_eq!(add_string_field("[1]", "traceHeader", "Root=…", 0, 1024), Err(JsonFieldSkip::NotAnObject));
/// ```
pub fn add_string_field(
    document: &str,
    field: &str,
    value: &str,
    extra: usize,
    max: usize,
) -> Result<String, JsonFieldSkip> {
    let object = probe_object(document, field)?;
    if object.field.is_some() {
        return Err(JsonFieldSkip::AlreadySet);
    }
    insert_string_field(document, object.empty, field, value, extra, max)
}

/// What [`probe_object`] found in a JSON object.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectProbe {
    /// The object has no members.
    pub empty: bool,
    /// The looked-for member, if present: `Some(text)` when its value is a string, `None` for
    /// any other value. (With the member given twice, the last one, as `serde_json` keeps.)
    pub field: Option<Option<String>>,
}

/// Checks that `document` is a JSON object — accepting and refusing exactly what
/// `serde_json::from_str::<serde_json::Value>` does — and looks for the top-level member
/// `field`, in one pass that builds no value tree. Only the member's string value, if found,
/// is copied; a member name with an escape is decoded to compare it, and a number with an
/// exponent (or over 300 digits) is read by serde_json to learn whether it fits an `f64`.
///
/// ```
/// use baton::json::{probe_object, JsonFieldSkip};
///
/// let probe = probe_object(r#"{"order":1,"traceHeader":"Root=…"}"#, "traceHeader").unwrap();
/// assert_eq!(probe.field, Some(Some("Root=…".to_string())));
/// assert!(!probe.empty);
/// assert_eq!(probe_object("[1]", "traceHeader"), Err(JsonFieldSkip::NotAnObject));
/// assert_eq!(probe_object("{", "traceHeader"), Err(JsonFieldSkip::InvalidJson));
/// ```
pub fn probe_object(document: &str, field: &str) -> Result<ObjectProbe, JsonFieldSkip> {
    let b = document.as_bytes();
    let mut i = skip_whitespace(b, 0);
    let is_object = b.get(i) == Some(&b'{');
    let mut probe = ObjectProbe {
        empty: true,
        field: None,
    };
    // The open containers, innermost last: bit `d` is set when the one at depth `d + 1` is an
    // object. serde_json refuses a 128th level of nesting, so 127 bits are enough.
    let mut objects: u128 = 0;
    let mut depth: u32 = 0;
    // Whether the value about to be read is the top-level object's member `field`.
    let mut wanted = false;
    let invalid = JsonFieldSkip::InvalidJson;
    'value: loop {
        // A value starts at `i`.
        i = skip_whitespace(b, i);
        let start = i;
        match *b.get(i).ok_or(JsonFieldSkip::InvalidJson)? {
            open @ (b'{' | b'[') => {
                if wanted {
                    probe.field = Some(None);
                    wanted = false;
                }
                depth += 1;
                if depth >= 128 {
                    return Err(invalid);
                }
                let object = open == b'{';
                if object {
                    objects |= 1 << (depth - 1);
                } else {
                    objects &= !(1 << (depth - 1));
                }
                i = skip_whitespace(b, i + 1);
                let close = if object { b'}' } else { b']' };
                if b.get(i) == Some(&close) {
                    i += 1;
                    depth -= 1;
                } else {
                    if object {
                        (i, wanted) = member_name(document, i, depth, field, &mut probe)?;
                    }
                    continue 'value;
                }
            }
            b'"' => {
                let (end, escaped) = scan_string(b, i).ok_or(JsonFieldSkip::InvalidJson)?;
                i = end;
                if wanted {
                    probe.field = Some(Some(string_text(&document[start..end], escaped)?));
                    wanted = false;
                }
            }
            b't' | b'f' | b'n' => {
                let literal: &[u8] = match b[i] {
                    b't' => b"true",
                    b'f' => b"false",
                    _ => b"null",
                };
                if !b[i..].starts_with(literal) {
                    return Err(invalid);
                }
                i += literal.len();
                if wanted {
                    probe.field = Some(None);
                    wanted = false;
                }
            }
            b'-' | b'0'..=b'9' => {
                i = scan_number(document, i).ok_or(JsonFieldSkip::InvalidJson)?;
                if wanted {
                    probe.field = Some(None);
                    wanted = false;
                }
            }
            _ => return Err(invalid),
        }
        // A value ended at `i`: what follows it closes containers, or starts the next one.
        loop {
            i = skip_whitespace(b, i);
            if depth == 0 {
                if i != b.len() {
                    return Err(invalid);
                }
                return if is_object {
                    Ok(probe)
                } else {
                    Err(JsonFieldSkip::NotAnObject)
                };
            }
            let object = objects & (1 << (depth - 1)) != 0;
            match (b.get(i), object) {
                (Some(b','), _) => {
                    if object {
                        (i, wanted) = member_name(
                            document,
                            skip_whitespace(b, i + 1),
                            depth,
                            field,
                            &mut probe,
                        )?;
                    } else {
                        i += 1;
                    }
                    continue 'value;
                }
                (Some(b'}'), true) | (Some(b']'), false) => {
                    i += 1;
                    depth -= 1;
                }
                _ => return Err(invalid),
            }
        }
    }
}

/// Reads a member name and its `:` at `i` (an object at `depth`); returns where its value
/// starts and whether it is the top-level member `field`.
fn member_name(
    document: &str,
    i: usize,
    depth: u32,
    field: &str,
    probe: &mut ObjectProbe,
) -> Result<(usize, bool), JsonFieldSkip> {
    let b = document.as_bytes();
    if b.get(i) != Some(&b'"') {
        return Err(JsonFieldSkip::InvalidJson);
    }
    let (end, escaped) = scan_string(b, i).ok_or(JsonFieldSkip::InvalidJson)?;
    let colon = skip_whitespace(b, end);
    if b.get(colon) != Some(&b':') {
        return Err(JsonFieldSkip::InvalidJson);
    }
    let wanted = depth == 1 && {
        probe.empty = false;
        let literal = &document[i..end];
        if escaped {
            string_text(literal, true)? == field
        } else {
            &literal[1..literal.len() - 1] == field
        }
    };
    Ok((colon + 1, wanted))
}

/// The text of the string literal `literal` (quotes included, already checked).
fn string_text(literal: &str, escaped: bool) -> Result<String, JsonFieldSkip> {
    if escaped {
        serde_json::from_str(literal).map_err(|_| JsonFieldSkip::InvalidJson)
    } else {
        Ok(literal[1..literal.len() - 1].to_owned())
    }
}

/// Checks the string literal that starts (with its `"`) at `i` as serde_json reads a `&str`:
/// no control characters, known escapes only, `\u` surrogates in pairs. Returns the index just
/// past it and whether it holds an escape.
fn scan_string(b: &[u8], mut i: usize) -> Option<(usize, bool)> {
    i += 1;
    let mut escaped = false;
    loop {
        match *b.get(i)? {
            b'"' => return Some((i + 1, escaped)),
            b'\\' => {
                escaped = true;
                i = scan_escape(b, i)?;
            }
            0x00..=0x1f => return None,
            _ => i += 1,
        }
    }
}

/// Checks the escape whose `\` is at `i`; returns the index just past it.
fn scan_escape(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i + 1)? {
        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(i + 2),
        b'u' => {
            let unit = hex4(b, i + 2)?;
            match unit {
                // A trailing surrogate on its own.
                0xDC00..=0xDFFF => None,
                // A leading surrogate must be followed by an escaped trailing one.
                0xD800..=0xDBFF => {
                    if b.get(i + 6) != Some(&b'\\') || b.get(i + 7) != Some(&b'u') {
                        return None;
                    }
                    matches!(hex4(b, i + 8)?, 0xDC00..=0xDFFF).then_some(i + 12)
                }
                _ => Some(i + 6),
            }
        }
        _ => None,
    }
}

/// The four hex digits at `i`.
fn hex4(b: &[u8], i: usize) -> Option<u16> {
    let digits = b.get(i..i + 4)?;
    let mut unit = 0u16;
    for &d in digits {
        unit = unit * 16 + (d as char).to_digit(16)? as u16;
    }
    Some(unit)
}

/// Checks the number that starts at `start` as a JSON number serde_json can hold (a finite
/// `f64` at most); returns the index just past it.
fn scan_number(document: &str, start: usize) -> Option<usize> {
    let b = document.as_bytes();
    let digits = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let mut i = start + usize::from(b[start] == b'-');
    let int_start = i;
    match b.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => i = digits(i),
        _ => return None,
    }
    let int_digits = i - int_start;
    if b.get(i) == Some(&b'.') {
        let end = digits(i + 1);
        if end == i + 1 {
            return None;
        }
        i = end;
    }
    let mut exponent = false;
    if matches!(b.get(i), Some(b'e' | b'E')) {
        exponent = true;
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let end = digits(i);
        if end == i {
            return None;
        }
        i = end;
    }
    // Only an exponent or more than 300 digits can leave `f64`'s range: serde_json, which
    // refuses such a number, decides those.
    if exponent || int_digits > 300 {
        serde_json::from_str::<serde_json::Value>(&document[start..i]).ok()?;
    }
    Some(i)
}

/// The insertion half of [`add_string_field`], for a caller that has parsed `document` already
/// and knows it is a JSON object (`empty` if it has no members) without `field`.
pub fn insert_string_field(
    document: &str,
    empty: bool,
    field: &str,
    value: &str,
    extra: usize,
    max: usize,
) -> Result<String, JsonFieldSkip> {
    // `"field":"value"` (`,` unless the object is empty), escaped as JSON.
    let (field, value) = (JsonString::new(field), JsonString::new(value));
    let len = document.len() + field.len() + 1 + value.len() + usize::from(!empty);
    if len + extra > max {
        return Err(JsonFieldSkip::TooLarge {
            len: len + extra,
            max,
        });
    }
    // A valid JSON object starts with `{` after optional JSON whitespace (ASCII only).
    let brace = document.len() - document.trim_start_matches([' ', '\t', '\n', '\r']).len();
    let (Some(head), Some(tail)) = (document.get(..=brace), document.get(brace + 1..)) else {
        return Err(JsonFieldSkip::InvalidJson);
    };
    // Written straight into the result, which is allocated once.
    let mut out = String::with_capacity(len);
    out.push_str(head);
    field.push_to(&mut out);
    out.push(':');
    value.push_to(&mut out);
    if !empty {
        out.push(',');
    }
    out.push_str(tail);
    Ok(out)
}

/// `document` without its top-level member `field`, when that member holds a string: the
/// inverse of [`add_string_field`], so a document Baton added the field to comes back byte for
/// byte as it was before. A member written by someone else goes with the comma that joined it
/// to its neighbours; every other byte stays. `None` when `document` is not a JSON object or
/// has no such member (a member of that name that is not a string is left alone).
///
/// ```
/// use baton::json::{add_string_field, remove_string_field};
///
/// let order = r#"{ "order" : 1.50 }"#;
/// let traced = add_string_field(order, "traceHeader", "Root=…", 0, 1024).unwrap();
/// assert_eq!(remove_string_field(&traced, "traceHeader").as_deref(), Some(order));
/// assert_eq!(
///     remove_string_field(r#"{"a":1,"traceHeader":"x"}"#, "traceHeader").as_deref(),
///     Some(r#"{"a":1}"#)
/// );
/// assert_eq!(remove_string_field(r#"{"traceHeader":1}"#, "traceHeader"), None);
/// ```
pub fn remove_string_field(document: &str, field: &str) -> Option<String> {
    // Checked as a whole first: the scan below may then take the document for valid JSON
    // (and stays valid JSON with a member and its comma taken out).
    probe_object(document, field).ok()?.field.flatten()?;
    // Every string member of that name goes (a reader takes the last of duplicates; the
    // data handed on must carry none).
    let mut out = remove_first_string_member(document, field)?;
    while let Some(next) = remove_first_string_member(&out, field) {
        out = next;
    }
    Some(out)
}

/// `document` (a valid JSON object) without its first top-level string member `field`.
fn remove_first_string_member(document: &str, field: &str) -> Option<String> {
    let b = document.as_bytes();
    // After the top-level `{`.
    let mut i = skip_whitespace(b, 0) + 1;
    let mut comma_before = None;
    loop {
        i = skip_whitespace(b, i);
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let key_start = i;
        let key_end = skip_string(b, key_start)?;
        let value_start = skip_whitespace(b, skip_whitespace(b, key_end) + 1);
        let value_end = skip_value(b, value_start)?;
        i = skip_whitespace(b, value_end);
        let next = *b.get(i)?;
        if b.get(value_start) == Some(&b'"') && key_is(document.get(key_start..key_end)?, field) {
            let (from, to) = match (next, comma_before) {
                // Its comma goes with it; what followed the comma stays.
                (b',', _) => (key_start, i + 1),
                (_, Some(comma)) => (comma, value_end),
                (_, None) => (key_start, value_end),
            };
            let mut out = String::with_capacity(document.len() - (to - from));
            out.push_str(document.get(..from)?);
            out.push_str(document.get(to..)?);
            return Some(out);
        }
        if next != b',' {
            return None;
        }
        comma_before = Some(i);
        i += 1;
    }
}

fn skip_whitespace(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The index just past the string literal that starts at `i`.
fn skip_string(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    loop {
        match *b.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// The index just past the (valid) JSON value that starts at `i`.
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => skip_string(b, i),
        b'{' | b'[' => {
            let (mut depth, mut i) = (0usize, i);
            loop {
                match *b.get(i)? {
                    b'"' => {
                        i = skip_string(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            let mut i = i;
            while !matches!(
                b.get(i),
                None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            ) {
                i += 1;
            }
            Some(i)
        }
    }
}

/// Whether the member name `literal` (quotes and escapes as written) is `field`.
fn key_is(literal: &str, field: &str) -> bool {
    if literal.contains('\\') {
        serde_json::from_str::<String>(literal).is_ok_and(|key| key == field)
    } else {
        literal.get(1..literal.len().saturating_sub(1)) == Some(field)
    }
}

/// A string as a JSON string literal: as it is between quotes when nothing in it needs
/// escaping (a trace header, a field name), else as serde_json escapes it.
enum JsonString<'a> {
    Plain(&'a str),
    Escaped(String),
}

impl<'a> JsonString<'a> {
    fn new(text: &'a str) -> Self {
        if needs_escape(text.as_bytes()) {
            // A `str` always serializes.
            JsonString::Escaped(serde_json::to_string(text).unwrap_or_default())
        } else {
            JsonString::Plain(text)
        }
    }

    /// Its length as JSON, quotes included.
    fn len(&self) -> usize {
        match self {
            JsonString::Plain(text) => text.len() + 2,
            JsonString::Escaped(json) => json.len(),
        }
    }

    fn push_to(&self, out: &mut String) {
        match self {
            JsonString::Plain(text) => {
                out.push('"');
                out.push_str(text);
                out.push('"');
            }
            JsonString::Escaped(json) => out.push_str(json),
        }
    }
}

/// Whether `text` has a byte JSON escapes in a string: a control character, `"` or `\`.
/// Eight bytes at a time (a byte-by-byte test cost more than serde_json's escaping itself).
fn needs_escape(text: &[u8]) -> bool {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    // Whether any byte of `v` is below `n` (exact for n <= 128: bytes from 0x80 never match).
    let below = |v: u64, n: u8| v.wrapping_sub(ONES * u64::from(n)) & !v & HIGH != 0;
    let equal = |v: u64, c: u8| below(v ^ (ONES * u64::from(c)), 1);
    let mut chunks = text.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        if below(v, 0x20) || equal(v, b'"') || equal(v, b'\\') {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the probe must agree with: a full `serde_json::Value` parse.
    fn by_value(document: &str, field: &str) -> Result<ObjectProbe, JsonFieldSkip> {
        let value: serde_json::Value =
            serde_json::from_str(document).map_err(|_| JsonFieldSkip::InvalidJson)?;
        let object = value.as_object().ok_or(JsonFieldSkip::NotAnObject)?;
        Ok(ObjectProbe {
            empty: object.is_empty(),
            field: object.get(field).map(|v| v.as_str().map(str::to_owned)),
        })
    }

    #[rustfmt::skip]
    const CASES: &[&str] = &[
        "", " ", "{}", " { } ", "[]", "1", "\"x\"", "null", "true", "{", "}", "{}x", "{} ",
        r#"{"a":1}"#, r#"{"t":"v"}"#, r#"{"t":1}"#, r#"{"t":null}"#, r#"{"t":"a","t":"b"}"#,
        r#"{"t":"a","t":2}"#, r#"{"a":{"t":"x"}}"#, r#"{"a":[1,{"t":2}],"t":"\u00e9\n"}"#,
        r#"{"a":1e400}"#, r#"{"a":-1e400}"#, r#"{"a":18446744073709551616}"#, r#"{"a":01}"#,
        r#"{"a":1,}"#, r#"{"a" 1}"#, r#"{"\u0074":"esc"}"#, r#"{"t":"\ud800"}"#, r#"{"a":tru}"#,
        "{\"a\":\"\u{1}\"}", r#"{"a":[1,2,]}"#, r#"{1:2}"#, r#"{"a":"b"} {"c":1}"#,
        // Strings: escapes, surrogates, control characters, non-ASCII.
        r#"{"t":"\ud83d\ude00"}"#, r#"{"t":"\ud83d"}"#, r#"{"t":"\ude00"}"#, r#"{"t":"\udfff"}"#, r#"{"t":"\udbff\udfff"}"#,
        r#"{"t":"\ud83d\u0041"}"#, r#"{"t":"\ud83d\n"}"#, r#"{"t":"\u00"}"#, r#"{"t":"\uzzzz"}"#,
        r#"{"t":"\x"}"#, r#"{"t":"\/\b\f\r\t\"\\"}"#, "{\"t\":\"\t\"}", "{\"t\":\"\u{7f}é€\"}",
        r#"{"t":"a"#, r#"{"t":"\"#, r#"{"\u0074":1,"t":"x"}"#, r#"{"t\u0000":"x"}"#,
        // Numbers.
        r#"{"a":-0}"#, r#"{"a":-}"#, r#"{"a":1.}"#, r#"{"a":.5}"#, r#"{"a":1.5e}"#, r#"{"a":1e+}"#,
        r#"{"a":1E5}"#, r#"{"a":1e-400}"#, r#"{"a":0e99999999999999999999}"#, r#"{"a":1e99999999999999999999}"#,
        r#"{"a":-01}"#, r#"{"a":+1}"#, r#"{"a":1.5.5}"#, r#"{"a":1x}"#, r#"{"a":1.7976931348623157e308}"#,
        r#"{"a":1.7976931348623159e308}"#, r#"{"a":-1.8e308}"#,
        // Structure.
        r#"{"a":nul}"#, r#"{"a":nulll}"#, r#"{"a":true,"t":false}"#, r#"{"t":[]}"#, r#"{"t":{}}"#,
        r#"{ "t" : "v" , "a" : [ ] }"#, "\t{\n}\r", r#"{"a":1"#, r#"{"a":[}"#, r#"{"a":{]}"#,
        r#"{"a":1}}"#, r#"{,"a":1}"#, r#"{"a":1,,"b":2}"#, r#"{"a"}"#, r#"{"a":}"#, r#"[{"t":"x"}]"#,
        r#""#, "\u{feff}{}",
    ];

    #[test]
    fn probe_agrees_with_a_full_parse_on_known_cases() {
        for case in CASES {
            assert_eq!(probe_object(case, "t"), by_value(case, "t"), "{case:?}");
        }
    }

    #[test]
    fn escaping_is_needed_exactly_where_serde_json_escapes() {
        let plain = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        assert!(!needs_escape(plain.as_bytes()));
        for at in 0..plain.len() {
            for special in ['"', '\\', '\u{0}', '\n', '\u{1f}'] {
                let mut text = plain.to_owned();
                text.insert(at, special);
                assert!(needs_escape(text.as_bytes()), "{text:?}");
                assert_ne!(serde_json::to_string(&text).unwrap(), format!("\"{text}\""));
            }
            for harmless in [' ', '\u{7f}', 'é', '€', '/'] {
                let mut text = plain.to_owned();
                text.insert(at, harmless);
                assert!(!needs_escape(text.as_bytes()), "{text:?}");
                assert_eq!(serde_json::to_string(&text).unwrap(), format!("\"{text}\""));
            }
        }
    }

    #[test]
    fn huge_numbers_agree_with_a_full_parse() {
        for digits in [299, 300, 301, 308, 309, 400] {
            let case = format!(r#"{{"a":{}}}"#, "9".repeat(digits));
            assert_eq!(
                probe_object(&case, "t"),
                by_value(&case, "t"),
                "{digits} digits"
            );
            let case = format!(r#"{{"a":-{}.5}}"#, "9".repeat(digits));
            assert_eq!(
                probe_object(&case, "t"),
                by_value(&case, "t"),
                "{digits} digits"
            );
        }
    }

    #[test]
    fn nesting_is_limited_where_a_full_parse_limits_it() {
        for levels in [125, 126, 127, 128, 129] {
            for (open, close) in [("[", "]"), (r#"{"a":"#, "}")] {
                // `levels` containers in all, the top-level object included.
                let case = format!(
                    "{{\"t\":{}1{}}}",
                    open.repeat(levels - 1),
                    close.repeat(levels - 1)
                );
                assert_eq!(
                    probe_object(&case, "t"),
                    by_value(&case, "t"),
                    "{levels} {open}"
                );
            }
        }
        assert!(
            probe_object(
                &format!("{{\"t\":{}1{}}}", "[".repeat(126), "]".repeat(126)),
                "t"
            )
            .is_ok()
        );
        assert!(
            probe_object(
                &format!("{{\"t\":{}1{}}}", "[".repeat(127), "]".repeat(127)),
                "t"
            )
            .is_err()
        );
    }

    #[test]
    fn deep_nesting_fails_like_a_full_parse() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(probe_object(&deep, "t"), by_value(&deep, "t"));
        assert_eq!(probe_object(&deep, "t"), Err(JsonFieldSkip::InvalidJson));
    }

    /// What removing must give: nothing where a reader finds no string field; otherwise a
    /// JSON object where a reader finds none, with every other member as before.
    fn check_removal(document: &str) -> Result<(), proptest::test_runner::TestCaseError> {
        let read = probe_object(document, "t")
            .ok()
            .and_then(|p| p.field.flatten());
        let out = remove_string_field(document, "t");
        prop_assert_eq!(out.is_some(), read.is_some(), "{}", document);
        if let Some(out) = out {
            prop_assert!(
                matches!(
                    probe_object(&out, "t"),
                    Ok(ObjectProbe {
                        field: None | Some(None),
                        ..
                    })
                ),
                "{} -> {}",
                document,
                out
            );
            let mut before: serde_json::Value = serde_json::from_str(document).unwrap();
            let mut after: serde_json::Value = serde_json::from_str(&out).unwrap();
            before.as_object_mut().unwrap().remove("t");
            after.as_object_mut().unwrap().remove("t");
            prop_assert_eq!(before, after);
        }
        Ok(())
    }

    #[test]
    fn removing_the_field_gives_back_the_document() {
        for (traced, field, plain) in [
            (r#"{"t":"v"}"#, "t", Some("{}")),
            (r#"{"t":"v" }"#, "t", Some("{ }")),
            (
                r#" {"t":"v", "a" : [1,{"t":"x"}] } "#,
                "t",
                Some(r#" { "a" : [1,{"t":"x"}] } "#),
            ),
            (r#"{"a":"}","t":"v"}"#, "t", Some(r#"{"a":"}"}"#)),
            (
                r#"{"a":1 , "t" : "v\"" , "b":2}"#,
                "t",
                Some(r#"{"a":1 ,  "b":2}"#),
            ),
            (r#"{"\u0074":"v"}"#, "t", Some("{}")),
            (r#"{"t":1}"#, "t", None),
            (r#"{"a":{"t":"v"}}"#, "t", None),
            (r#"["t"]"#, "t", None),
            (r#"{"t":"v""#, "t", None),
            (r#"{"t":"A","a":1,"t":"B"}"#, "t", Some(r#"{"a":1}"#)),
            (r#"{"t":"A","t":"B"}"#, "t", Some("{}")),
            (r#"{"t":"A","t":2}"#, "t", None),
        ] {
            assert_eq!(
                remove_string_field(traced, field).as_deref(),
                plain,
                "{traced}"
            );
        }
    }

    proptest! {
        #[test]
        fn probe_agrees_with_a_full_parse(document in r#"[{}\[\]",:0-9a-t eE.+\-\\u]{0,40}"#) {
            prop_assert_eq!(probe_object(&document, "t"), by_value(&document, "t"));
        }

        #[test]
        fn probe_agrees_on_strings_and_numbers(
            members in proptest::collection::vec(
                (
                    prop_oneof![Just("t".to_string()), r#"[a-t\\u0-9]{0,3}"#],
                    prop_oneof![
                        r#""([a-z/"\\ ]|\\[bfnrtu/"\\x]|\\u[0-9a-fA-F]{0,4}|\\u[dD][89a-fA-F][0-9a-f]{2}){0,4}""#,
                        r#"-?[0-9]{0,3}(\.[0-9]{0,2})?([eE][+-]?[0-9]{0,4})?"#,
                    ],
                ),
                0..4,
            )
        ) {
            let body: Vec<String> = members.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            let document = format!("{{{}}}", body.join(","));
            prop_assert_eq!(probe_object(&document, "t"), by_value(&document, "t"), "{}", document);
        }

        #[test]
        fn inserted_strings_read_back_as_given(value in "\\PC{0,40}|[ -~]{0,40}") {
            let document = insert_string_field("{}", true, "t", &value, 0, usize::MAX).unwrap();
            let read: serde_json::Value = serde_json::from_str(&document).unwrap();
            prop_assert_eq!(read["t"].as_str(), Some(value.as_str()));
            prop_assert_eq!(document.contains('\\'), needs_escape(value.as_bytes()) && !value.is_empty());
        }

        #[test]
        fn removing_never_panics_and_leaves_json_without_the_field(
            document in r#"[{}\[\]",:0-9a-t eE.+\-\\u]{0,40}"#
        ) {
            check_removal(&document)?;
        }

        #[test]
        fn removing_from_objects_with_duplicates(
            members in proptest::collection::vec(
                (prop_oneof![Just("t".to_string()), "[a-c]"], prop_oneof![
                    Just("1".to_string()), Just("[1,{\"t\":\"}\"}]".to_string()),
                    "\"[a-z,{}\\]]{0,4}\"",
                ]),
                0..6,
            ),
            space in "[ \n]{0,2}",
        ) {
            let body: Vec<String> = members.iter().map(|(k, v)| format!("\"{k}\"{space}:{space}{v}")).collect();
            check_removal(&format!("{{{space}{}{space}}}", body.join(&format!("{space},{space}"))))?;
        }

        #[test]
        fn adding_then_removing_changes_nothing(
            members in proptest::collection::vec(
                ("[a-u]{1,2}", prop_oneof![
                    Just("1".to_string()), Just("null".to_string()), Just("[1,{\"t\":\"}\"}]".to_string()),
                    "\"[a-z\\\\n{}\\],]{0,4}\"", Just("{\"t\":\"x\"}".to_string()),
                ]),
                0..5,
            ),
            space in "[ \n]{0,2}",
            value in "[a-zA-Z0-9=;\"\\\\-]{0,12}",
        ) {
            let body: Vec<String> = members.iter().map(|(k, v)| format!("\"{k}\"{space}:{space}{v}")).collect();
            let document = format!("{space}{{{space}{}{space}}}", body.join(&format!("{space},")));
            if let Ok(traced) = add_string_field(&document, "t", &value, 0, usize::MAX) {
                prop_assert_eq!(remove_string_field(&traced, "t"), Some(document));
            }
        }

        #[test]
        fn probe_agrees_on_objects(
            members in proptest::collection::vec(
                ("[a-t]{1,2}", prop_oneof![
                    Just("1".to_string()), Just("null".to_string()), Just("[1,{}]".to_string()),
                    "\"[a-z\\\\n]{0,4}\"", Just("1e999".to_string()), Just("{\"t\":\"x\"}".to_string()),
                ]),
                0..5,
            )
        ) {
            let body: Vec<String> = members.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            let document = format!("{{{}}}", body.join(","));
            prop_assert_eq!(probe_object(&document, "t"), by_value(&document, "t"));
        }
    }
}
