//! Adding the trace header to a JSON document (an EventBridge detail, a Step Functions
//! execution input, a Kinesis record) without touching anything else in it, and taking it out
//! again.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

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
/// `field`, in one pass that builds no value tree (only the member's string value, if found,
/// is copied).
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
    let mut deserializer = serde_json::Deserializer::from_str(document);
    let probe = Probe { field }
        .deserialize(&mut deserializer)
        .and_then(|probe| deserializer.end().map(|()| probe))
        .map_err(|_| JsonFieldSkip::InvalidJson)?;
    probe.ok_or(JsonFieldSkip::NotAnObject)
}

/// Any JSON value, read as fully as `serde_json::Value` reads it (numbers are converted, so
/// one out of range fails the same way) and then forgotten.
struct Skip;

impl<'de> serde::Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SkipVisitor)
    }
}

/// Visits any value and keeps nothing of it.
struct SkipVisitor;

macro_rules! accept_scalars {
    ($value:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<Skip>()?.is_some() {}
            Ok($value)
        }
    };
}

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    accept_scalars!(Skip);

    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_key::<Skip>()?.is_some() {
            map.next_value::<Skip>()?;
        }
        Ok(Skip)
    }
}

/// The top-level value: `Some` with what was found if it is an object, `None` otherwise.
struct Probe<'f> {
    field: &'f str,
}

impl<'de> DeserializeSeed<'de> for Probe<'_> {
    type Value = Option<ObjectProbe>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Probe<'_> {
    type Value = Option<ObjectProbe>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    accept_scalars!(None);

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut probe = ObjectProbe {
            empty: true,
            field: None,
        };
        while let Some(wanted) = map.next_key_seed(KeyIs(self.field))? {
            probe.empty = false;
            if wanted {
                probe.field = Some(map.next_value_seed(StringValue)?);
            } else {
                map.next_value::<Skip>()?;
            }
        }
        Ok(Some(probe))
    }
}

/// A member name, compared with the wanted one without copying it.
struct KeyIs<'f>(&'f str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

/// A member value: its text if it is a string, `None` for anything else (read in full).
struct StringValue;

impl<'de> DeserializeSeed<'de> for StringValue {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StringValue {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    accept_scalars!(None);

    fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Some(text.to_owned()))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        SkipVisitor.visit_map(map).map(|_| None)
    }
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
    // `"field":"value"` (`,` unless the object is empty), escaped as JSON, with no
    // intermediate values.
    let mut member = Vec::with_capacity(field.len() + value.len() + 6);
    push_json_string(&mut member, field);
    member.push(b':');
    push_json_string(&mut member, value);
    if !empty {
        member.push(b',');
    }
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
    out.push_str(std::str::from_utf8(&member).map_err(|_| JsonFieldSkip::InvalidJson)?);
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

/// `text` as a JSON string literal, appended to `out`.
fn push_json_string(out: &mut Vec<u8>, text: &str) {
    // Writing into a `Vec` cannot fail, and a `str` always serializes.
    let _ = serde_json::to_writer(out, text);
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
    ];

    #[test]
    fn probe_agrees_with_a_full_parse_on_known_cases() {
        for case in CASES {
            assert_eq!(probe_object(case, "t"), by_value(case, "t"), "{case:?}");
        }
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
