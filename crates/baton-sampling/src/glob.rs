//! X-Ray's wildcard patterns, compiled once so that matching neither allocates nor backtracks more
//! than it has to.

use std::fmt;

/// A sampling-rule pattern as X-Ray writes them: `*` stands for any run of characters (also none),
/// `?` for exactly one character; everything else stands for itself.
///
/// Matching ignores ASCII case (`post` matches `POST`), as the X-Ray SDKs and the OpenTelemetry
/// X-Ray samplers do; other characters must be equal. An empty pattern matches only empty text.
///
/// ```
/// use baton_sampling::Glob;
///
/// let orders = Glob::new("/api/v1/orders*");
/// assert!(orders.matches("/api/v1/orders/42"));
/// assert!(!orders.matches("/api/v2/orders"));
/// assert!(Glob::new("GE?").matches("get"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    source: Box<str>,
    kind: Kind,
}

/// The shape of a pattern, so that the common ones skip the general matcher.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    /// `*` (or `**`…): everything.
    Any,
    /// No wildcard at all.
    Exact(Literal),
    /// `abc*`.
    Prefix(Literal),
    /// `*abc`.
    Suffix(Literal),
    /// Anything else; the bytes are the pattern with ASCII letters in lower case.
    General(Box<[u8]>),
}

impl Glob {
    /// Compiles `pattern`.
    pub fn new(pattern: &str) -> Self {
        let lower = pattern.to_ascii_lowercase().into_bytes();
        let stars = lower.iter().filter(|&&b| b == b'*').count();
        let has_question = lower.contains(&b'?');
        let kind = if !lower.is_empty() && stars == lower.len() {
            Kind::Any
        } else if stars == 0 && !has_question {
            Kind::Exact(Literal::new(&lower))
        } else if stars == 1 && !has_question && lower.last() == Some(&b'*') {
            Kind::Prefix(Literal::new(&lower[..lower.len() - 1]))
        } else if stars == 1 && !has_question && lower.first() == Some(&b'*') {
            Kind::Suffix(Literal::new(&lower[1..]))
        } else {
            Kind::General(lower.into_boxed_slice())
        };
        Glob {
            source: pattern.into(),
            kind,
        }
    }

    /// The pattern as it was written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Does this pattern match every text (`*`)?
    pub fn is_any(&self) -> bool {
        matches!(self.kind, Kind::Any)
    }

    /// Does `text` match this pattern?
    #[inline(always)]
    pub fn matches(&self, text: &str) -> bool {
        let text = text.as_bytes();
        match &self.kind {
            Kind::Any => true,
            Kind::Exact(p) => text.len() == p.len() && p.eq_folded(text),
            Kind::Prefix(p) => text.len() >= p.len() && p.eq_folded(&text[..p.len()]),
            Kind::Suffix(p) => text.len() >= p.len() && p.eq_folded(&text[text.len() - p.len()..]),
            Kind::General(p) => wildcard(p, text),
        }
    }
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Glob").field(&self.source).finish()
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// A pattern without wildcards, kept so that comparing it with text ignores ASCII case eight
/// bytes at a time: `fold` has `0x20` where the (lower-case) pattern has a letter, and
/// `text | fold == bytes` then accepts exactly that letter in either case.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Literal {
    bytes: Box<[u8]>,
    fold: Box<[u8]>,
}

impl Literal {
    fn new(lower: &[u8]) -> Self {
        Literal {
            bytes: lower.into(),
            fold: lower
                .iter()
                .map(|b| if b.is_ascii_lowercase() { 0x20 } else { 0 })
                .collect(),
        }
    }

    fn len(&self) -> usize {
        self.bytes.len()
    }

    /// `text` (exactly as long as the literal) equals it, ignoring ASCII case.
    #[inline]
    fn eq_folded(&self, text: &[u8]) -> bool {
        let word = |b: &[u8]| u64::from_ne_bytes(b.try_into().unwrap_or([0; 8]));
        let (mut t, mut p, mut f) = (
            text.chunks_exact(8),
            self.bytes.chunks_exact(8),
            self.fold.chunks_exact(8),
        );
        for ((t, p), f) in (&mut t).zip(&mut p).zip(&mut f) {
            if word(t) | word(f) != word(p) {
                return false;
            }
        }
        t.remainder()
            .iter()
            .zip(p.remainder())
            .zip(f.remainder())
            .all(|((t, p), f)| t | f == *p)
    }
}

/// Length in bytes of the UTF-8 character that starts at `text[at]`.
fn char_len(text: &[u8], at: usize) -> usize {
    let len = match text[at] {
        b if b < 0x80 => 1,
        b if b >= 0xf0 => 4,
        b if b >= 0xe0 => 3,
        _ => 2,
    };
    len.min(text.len() - at)
}

/// Glob matching with one remembered star: on a mismatch, the last `*` swallows one more
/// character and matching resumes after it. Worst case is pattern length times text length;
/// no recursion, no allocation.
#[inline(never)]
fn wildcard(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // (pattern position after the last star, text position that star has swallowed up to)
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if let Some(&c) = pattern.get(p) {
            if c == b'*' {
                p += 1;
                star = Some((p, t));
                continue;
            }
            if c == b'?' {
                p += 1;
                t += char_len(text, t);
                continue;
            }
            if c == text[t].to_ascii_lowercase() {
                p += 1;
                t += 1;
                continue;
            }
        }
        match star {
            Some((after_star, swallowed)) => {
                let next = swallowed + char_len(text, swallowed);
                star = Some((after_star, next));
                p = after_star;
                t = next;
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    const CASES: &[(&str, &str, bool)] = &[
        // empty pattern and empty text
        ("", "", true),
        ("", "a", false),
        ("*", "", true),
        ("**", "", true),
        ("?", "", false),
        ("a", "", false),
        // exact, ignoring ASCII case
        ("POST", "POST", true),
        ("POST", "post", true),
        ("post", "PoSt", true),
        ("POST", "POSTS", false),
        ("POST", "POS", false),
        // only letters fold: `@`/`` ` ``, `[`/`{`, `^`/`~` differ only in the 0x20 bit
        ("@", "`", false),
        ("`", "@", false),
        ("a[b", "A{B", false),
        ("^", "~", false),
        ("x@y*", "X`Y", false),
        ("*@y", "x`y", false),
        // literals longer than one 8-byte word, differing in case or in the last byte
        ("/api/v1/orders/items", "/API/V1/ORDERS/ITEMS", true),
        ("/api/v1/orders/items", "/api/v1/orders/itemz", false),
        ("/api/v1/orders/items*", "/Api/V1/Orders/Items/42", true),
        ("/api/v1/orders/items*", "/api/v1/orderz/items/42", false),
        ("*/orders/items/details", "/v1/ORDERS/items/DETAILS", true),
        // single star anywhere
        ("*", "anything at all", true),
        ("/api/*", "/api/", true),
        ("/api/*", "/api/v1/orders", true),
        ("/api/*", "/api", false),
        ("*.json", "a/b/c.json", true),
        ("*.json", "a/b/c.jsonx", false),
        ("*.JSON", "file.json", true),
        ("a*c", "ac", true),
        ("a*c", "abbbc", true),
        ("a*c", "abbbcd", false),
        // several stars, leading and trailing
        ("*a*", "xxaxx", true),
        ("*a*", "xxbxx", false),
        ("**a**", "a", true),
        ("*a*b*c*", "zzazzbzzczz", true),
        ("*a*b*c*", "zzczzbzzazz", false),
        ("a*b*a", "abba", true),
        ("a*b*a", "abab", false),
        // question marks
        ("?", "a", true),
        ("?", "ab", false),
        ("GE?", "GET", true),
        ("???", "GET", true),
        ("????", "GET", false),
        ("?*", "x", true),
        ("*?", "", false),
        ("/api/?/orders", "/api/1/orders", true),
        ("/api/?/orders", "/api/12/orders", false),
        // `?` takes one character, not one byte
        ("?", "é", true),
        ("a?c", "aéc", true),
        ("??", "é", false),
        ("*é", "café", true),
        // backtracking the star
        ("*aab", "aaaab", true),
        ("a*aab", "aaab", true),
        ("*abc", "ababc", true),
        ("*ab?d", "abxabcd", true),
    ];

    #[test]
    fn glob_table() {
        for &(pattern, text, expected) in CASES {
            assert_eq!(
                Glob::new(pattern).matches(text),
                expected,
                "pattern {pattern:?} against {text:?}"
            );
        }
    }

    #[test]
    fn glob_long_inputs_stay_correct() {
        let long = "a".repeat(10_000);
        assert!(Glob::new("*").matches(&long));
        assert!(Glob::new("a*").matches(&long));
        assert!(Glob::new("*a").matches(&long));
        assert!(Glob::new("*a*a*a*a*").matches(&long));
        assert!(!Glob::new("*b").matches(&long));
        assert!(!Glob::new("*a*a*a*a*b").matches(&long));
        let path = format!("/api/v1/orders/{long}/items");
        assert!(Glob::new("/api/v1/orders*").matches(&path));
        assert!(Glob::new("/api/*/items").matches(&path));
        assert!(!Glob::new("/api/*/item").matches(&path));
    }

    #[test]
    fn glob_kinds_are_chosen() {
        assert!(Glob::new("*").is_any());
        assert!(Glob::new("***").is_any());
        assert!(!Glob::new("").is_any());
        assert_eq!(Glob::new("/a*").kind, Kind::Prefix(Literal::new(b"/a")));
        assert_eq!(Glob::new("*.A").kind, Kind::Suffix(Literal::new(b".a")));
        assert_eq!(Glob::new("a*b").kind, Kind::General(b"a*b"[..].into()));
        assert_eq!(Glob::new("GET").as_str(), "GET");
    }
}
