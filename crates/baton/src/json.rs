//! Adding the trace header to a JSON document (an EventBridge detail, a Step Functions
//! execution input) without touching anything else in it.

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
    let parsed: serde_json::Value =
        serde_json::from_str(document).map_err(|_| JsonFieldSkip::InvalidJson)?;
    let object = parsed.as_object().ok_or(JsonFieldSkip::NotAnObject)?;
    if object.contains_key(field) {
        return Err(JsonFieldSkip::AlreadySet);
    }
    insert_string_field(document, object.is_empty(), field, value, extra, max)
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
    let member = format!(
        "{}:{}{}",
        serde_json::Value::from(field),
        serde_json::Value::from(value),
        if empty { "" } else { "," }
    );
    let len = document.len() + member.len();
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
    let mut out = String::with_capacity(len);
    out.push_str(head);
    out.push_str(&member);
    out.push_str(tail);
    Ok(out)
}
