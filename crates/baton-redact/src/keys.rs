//! Which attribute keys are secret, and which carry a message body.
//!
//! A key is read as dot-separated *segments*, each made of *words*. Words are separated by
//! `_`, `-`, any other ASCII character that is neither a letter nor a digit, and the case
//! changes of camelCase (`accessToken` is `access` + `Token`, `APIKey` is `API` + `Key`).
//! A deny entry is split into words the same way. The entry matches a key when its words
//! appear, in order and next to each other, inside one segment of the key, compared
//! without regard to ASCII case.

/// The keys denied by default. Each is a word or a run of words, matched as described in
/// the module documentation.
pub(crate) const DEFAULT_DENIED: [&str; 13] = [
    "authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "password",
    "secret",
    "token",
    // Beyond the HTTP header names: spellings secrets commonly go by in attribute keys.
    "api-key",
    "apikey",
    "passwd",
    "credential",
    "credentials",
    "private-key",
];

/// Keys that look secret under the word rule but hold no secret, exempt by default.
///
/// `gen_ai.token.type` (OpenTelemetry GenAI conventions) says whether a count is of input or
/// output tokens.
pub(crate) const DEFAULT_EXEMPT: [&str; 1] = ["gen_ai.token.type"];

/// The prefix under which message body attributes live.
const MESSAGING_PREFIX: &str = "messaging.";

/// One entry of the deny list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DenyEntry {
    /// A word or run of words (lower case), matched inside one segment of a key.
    Words(Box<[Box<str>]>),
    /// A whole key (the entry contained a dot), matched exactly, ignoring ASCII case.
    Key(Box<str>),
}

impl DenyEntry {
    /// Reads a user's entry; `None` when it holds no word at all (`""`, `"--"`).
    pub(crate) fn parse(entry: &str) -> Option<Self> {
        if entry.contains('.') {
            let trimmed = entry.trim();
            return (!trimmed.is_empty()).then(|| Self::Key(trimmed.into()));
        }
        let words: Box<[Box<str>]> = Words::new(entry)
            .map(|word| word.to_ascii_lowercase().into_boxed_str())
            .collect();
        (!words.is_empty()).then_some(Self::Words(words))
    }

    /// Whether this entry matches `key`.
    fn matches(&self, key: &str) -> bool {
        match self {
            Self::Key(whole) => whole.eq_ignore_ascii_case(key),
            Self::Words(words) => key.split('.').any(|segment| {
                let mut at = Words::new(segment);
                loop {
                    if starts_with_words(at.clone(), words) {
                        return true;
                    }
                    if at.next().is_none() {
                        return false;
                    }
                }
            }),
        }
    }
}

/// The deny list, matched against a key in one pass over the key's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DenyList {
    entries: Vec<DenyEntry>,
    /// For each ASCII letter and digit (lower case), a bit for each length (0 to 63) of the
    /// first word of an entry that starts with it: a key word that finds no bit here cannot
    /// start a match, which rules out almost every word of an ordinary key at once.
    first_words: [u64; 36],
    /// Whether some entry's first word is non-ASCII-led or 64 bytes or longer (then the
    /// filter above is skipped).
    unfiltered: bool,
    /// Whether some entry is a whole key.
    whole_keys: bool,
}

impl Default for DenyList {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            first_words: [0; 36],
            unfiltered: false,
            whole_keys: false,
        }
    }
}

/// The filter slot of a word's first byte, for ASCII letters and digits.
fn slot(byte: u8) -> Option<usize> {
    match byte {
        b'a'..=b'z' => Some(usize::from(byte - b'a')),
        b'A'..=b'Z' => Some(usize::from(byte - b'A')),
        b'0'..=b'9' => Some(26 + usize::from(byte - b'0')),
        _ => None,
    }
}

impl DenyList {
    pub(crate) fn entries(&self) -> &[DenyEntry] {
        &self.entries
    }

    pub(crate) fn add(&mut self, entry: DenyEntry) {
        if !self.entries.contains(&entry) {
            self.entries.push(entry);
            self.rebuild();
        }
    }

    pub(crate) fn remove(&mut self, entry: &DenyEntry) {
        self.entries.retain(|e| e != entry);
        self.rebuild();
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.rebuild();
    }

    fn rebuild(&mut self) {
        self.first_words = [0; 36];
        self.unfiltered = false;
        self.whole_keys = false;
        for entry in &self.entries {
            let DenyEntry::Words(words) = entry else {
                self.whole_keys = true;
                continue;
            };
            let first = words[0].as_bytes();
            match slot(first[0]) {
                Some(slot) if first.len() < 64 => self.first_words[slot] |= 1 << first.len(),
                _ => self.unfiltered = true,
            }
        }
    }

    /// Whether any entry matches `key`.
    ///
    /// Most keys match nothing, so one quick pass over the key's words comes first: unless
    /// some word has the first letter and length of an entry's first word, no entry of
    /// words can match and the answer is known without comparing a single word. Only keys
    /// that pass are compared entry by entry.
    pub(crate) fn matches(&self, key: &str) -> bool {
        if self.whole_keys
            && self.entries.iter().any(
                |entry| matches!(entry, DenyEntry::Key(whole) if whole.eq_ignore_ascii_case(key)),
            )
        {
            return true;
        }
        self.may_match_words(key)
            && self
                .entries
                .iter()
                .any(|entry| matches!(entry, DenyEntry::Words(_)) && entry.matches(key))
    }

    /// Whether `word` is the first word of some entry.
    fn starts_an_entry(&self, word: &[u8]) -> bool {
        self.entries.iter().any(|entry| match entry {
            DenyEntry::Words(words) => words[0].as_bytes().eq_ignore_ascii_case(word),
            DenyEntry::Key(_) => false,
        })
    }

    /// Whether some word of `key` is the first word of an entry of words.
    fn may_match_words(&self, key: &str) -> bool {
        if self.unfiltered {
            return !self.entries.is_empty();
        }
        let bytes = key.as_bytes();
        let mut at = 0;
        while at < bytes.len() {
            if CLASS[usize::from(bytes[at])] & WORD == 0 {
                at += 1;
                continue;
            }
            let start = at;
            at += 1;
            while at < bytes.len() {
                let class = CLASS[usize::from(bytes[at])];
                if class & WORD == 0 || (class & UPPER != 0 && camel_boundary(bytes, at)) {
                    break;
                }
                at += 1;
            }
            let len = at - start;
            let passes = len < 64
                && slot(bytes[start]).is_some_and(|slot| self.first_words[slot] & (1 << len) != 0);
            // The filter's few false alarms (`server` against `secret`) end here.
            if passes && self.starts_an_entry(&bytes[start..at]) {
                return true;
            }
        }
        false
    }
}

/// Whether the words yielded by `from` begin with `words`.
fn starts_with_words(mut from: Words<'_>, words: &[Box<str>]) -> bool {
    words.iter().all(|want| {
        from.next()
            .is_some_and(|got| got.len() == want.len() && got.eq_ignore_ascii_case(want))
    })
}

/// Whether `key` names an attribute that carries a message body: it starts with
/// `messaging.` and its last segment is `body` or `payload` (ASCII case ignored).
pub(crate) fn is_body_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    let ends_with = |suffix: &[u8]| {
        bytes.len() >= suffix.len()
            && bytes[bytes.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    };
    // The suffix may share its dot with the prefix (`messaging.body`), never more.
    bytes.len() > MESSAGING_PREFIX.len()
        && bytes[..MESSAGING_PREFIX.len()].eq_ignore_ascii_case(MESSAGING_PREFIX.as_bytes())
        && (ends_with(b".body") || ends_with(b".payload"))
}

/// The words of one segment (or of a deny entry), without allocating.
#[derive(Clone, Debug)]
pub(crate) struct Words<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Words<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self { text, at: 0 }
    }
}

/// [`CLASS`] bit: the byte belongs to a word.
const WORD: u8 = 1;
/// [`CLASS`] bit: an ASCII capital, where a camelCase boundary may fall.
const UPPER: u8 = 2;

/// The class of each byte, looked up once per byte in the hot loop.
static CLASS: [u8; 256] = {
    let mut class = [0u8; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        if in_word(b) {
            class[byte] |= WORD;
        }
        if b.is_ascii_uppercase() {
            class[byte] |= UPPER;
        }
        byte += 1;
    }
    class
};

/// Letters, digits and every non-ASCII byte belong to words; other ASCII bytes separate them.
const fn in_word(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || !byte.is_ascii()
}

/// Whether a camelCase word boundary falls just before `bytes[i]` (`i > 0`).
fn camel_boundary(bytes: &[u8], i: usize) -> bool {
    let here = bytes[i];
    if !here.is_ascii_uppercase() {
        return false;
    }
    let before = bytes[i - 1];
    if before.is_ascii_lowercase() || before.is_ascii_digit() {
        return true;
    }
    // The last capital of an acronym that starts a new word: `APIKey` splits before `K`.
    before.is_ascii_uppercase() && bytes.get(i + 1).is_some_and(u8::is_ascii_lowercase)
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let bytes = self.text.as_bytes();
        let mut start = self.at;
        while start < bytes.len() && !in_word(bytes[start]) {
            start += 1;
        }
        if start >= bytes.len() {
            self.at = bytes.len();
            return None;
        }
        let mut end = start + 1;
        while end < bytes.len() && in_word(bytes[end]) && !camel_boundary(bytes, end) {
            end += 1;
        }
        self.at = end;
        // Both ends sit next to an ASCII byte or at the text's ends: always char boundaries.
        self.text.get(start..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<&str> {
        Words::new(text).collect()
    }

    #[test]
    fn splits_words() {
        assert_eq!(
            words("aws.secret_access_key"),
            ["aws", "secret", "access", "key"]
        );
        assert_eq!(words("xApiKey"), ["x", "Api", "Key"]);
        assert_eq!(words("APIKey"), ["API", "Key"]);
        assert_eq!(words("AUTHORIZATION"), ["AUTHORIZATION"]);
        assert_eq!(words("s3Token"), ["s3", "Token"]);
        assert_eq!(words("--"), Vec::<&str>::new());
        assert_eq!(words("é-Token"), ["é", "Token"]);
    }

    #[test]
    fn long_keys() {
        let mut list = DenyList::default();
        list.add(DenyEntry::parse("x-api-key").unwrap());
        let long = format!("{}.x_api_key", "a.".repeat(40));
        assert!(list.matches(&long));
        assert!(!list.matches(&"a.".repeat(40)));
        let split = format!("{}x_api.key", "a_".repeat(40));
        assert!(!list.matches(&split));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

        /// The filtered matcher agrees with matching each entry alone.
        #[test]
        fn one_pass_agrees_with_each_entry(
            key in "([a-zA-Z0-9é]{0,6}[._ -]?){0,12}",
            entries in proptest::collection::vec("[a-zA-Z0-9é]{1,5}([_-][a-zA-Z]{1,4})?(\\.[a-z]{1,3})?", 0..6),
        ) {
            let mut list = DenyList::default();
            for entry in &entries {
                if let Some(entry) = DenyEntry::parse(entry) {
                    list.add(entry);
                }
            }
            let expected = list.entries().iter().any(|entry| entry.matches(&key));
            proptest::prop_assert_eq!(list.matches(&key), expected, "{:?} {:?}", key, entries);
        }
    }

    #[test]
    fn body_keys() {
        assert!(is_body_key("messaging.message.body"));
        assert!(is_body_key("Messaging.Message.Payload"));
        assert!(is_body_key("messaging.sqs.body"));
        assert!(!is_body_key("messaging.message.body.size"));
        assert!(!is_body_key("messaging."));
        assert!(is_body_key("messaging.body"));
        assert!(is_body_key("messaging.payload"));
        assert!(!is_body_key("messaging.xbody"));
        assert!(!is_body_key("messaging_body"));
        assert!(!is_body_key("messaging.message.body_size"));
        assert!(!is_body_key("http.request.body"));
    }
}
