//! Filter expressions: the part of X-Ray's filter-expression language that a local view of
//! assembled traces can answer.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use super::summary::Summary;
use crate::trace::Trace;

/// The longest expression accepted, in characters.
pub const MAX_FILTER_CHARS: usize = 1000;
/// How deeply parentheses and `!` may nest.
const MAX_DEPTH: usize = 32;

/// Keywords of X-Ray's language that this view does not answer, refused by name.
const UNSUPPORTED: &[&str] = &[
    "user",
    "name",
    "id",
    "rootcause",
    "group",
    "partial",
    "http.useragent",
    "http.clientip",
    "fault.rootcause",
    "error.rootcause",
    "responsetime.rootcause",
];

/// What the expression may be made of, for error messages.
const KNOWN: &str = "service(\"name\"), edge(\"from\", \"to\"), annotation.KEY, ok, error, \
                     fault, throttle, duration, responsetime, http.status, http.url, http.method";

/// A filter expression that traces are matched against, in the form X-Ray's console takes:
/// `annotation.order_id = "42" AND !ok`.
///
/// The subset understood:
///
/// | expression | true for a trace … |
/// |---|---|
/// | `ok`, `error`, `fault`, `throttle` (or `= true` / `= false`, `!= …`) | with no node marked error, fault or throttle (`ok`), or with some node so marked |
/// | `duration`, `responsetime` with `=`, `!=`, `<`, `<=`, `>`, `>=` and a number of seconds | whose whole duration, or its first segment's, compares so |
/// | `http.status` with a number; `http.url`, `http.method` with a `"string"` | whose first segment's HTTP request or response compares so |
/// | `service("name")` | with a segment of that service |
/// | `edge("from", "to")` | whose service map has that edge (names of services or resources) |
/// | `annotation.KEY` (or `annotation[KEY]`) alone | with a node that has that annotation |
/// | `annotation.KEY` with an operator and a `"string"`, number, `true` or `false` | with a node whose annotation compares so |
///
/// Strings compare with `=`, `!=`, `CONTAINS`, `BEGINSWITH`, `ENDSWITH` (case-sensitive);
/// numbers with `=`, `!=`, `<`, `<=`, `>`, `>=`. An annotation that is a number compares
/// with a string as its text, and a string that reads as a number compares with a number.
/// Join with `AND` and `OR` (`AND` binds tighter), negate with `!` or `NOT`, group with
/// parentheses; keywords and operators are not case-sensitive. An empty expression matches
/// every trace.
///
/// Anything else is refused with a [`FilterError`] saying what was expected where, rather
/// than matching nothing: X-Ray keywords not listed here (`user`, `rootcause`, …) are
/// named as unsupported.
///
/// ```
/// use baton_trace::Filter;
///
/// let filter: Filter = r#"annotation.order_id = "42" AND (fault OR duration > 2.5)"#.parse()?;
/// assert!(!filter.is_empty());
///
/// let error = Filter::parse("annotation.order_id = ").unwrap_err();
/// assert_eq!(error.column(), 23);
/// assert_eq!(
///     error.to_string(),
///     "at character 23: expected a value after `=` (a \"string\", a number, true or false), found the end"
/// );
/// # Ok::<(), baton_trace::FilterError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    expr: Option<Expr>,
}

/// Why a filter expression was refused: a message and where in the expression.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("at character {column}: {message}")]
pub struct FilterError {
    message: String,
    column: usize,
}

impl FilterError {
    fn new(column: usize, message: impl Into<String>) -> Self {
        FilterError {
            message: message.into(),
            column,
        }
    }

    /// What is wrong, without the position.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where: the 1-based character of the expression at which the problem was found (one
    /// past its end for an expression that stops too early).
    pub fn column(&self) -> usize {
        self.column
    }
}

impl Filter {
    /// Parses `text`; see [`Filter`] for what it may say.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        let length = text.chars().count();
        if length > MAX_FILTER_CHARS {
            return Err(FilterError::new(
                MAX_FILTER_CHARS + 1,
                format!(
                    "the expression is {length} characters long; at most {MAX_FILTER_CHARS} are accepted"
                ),
            ));
        }
        let tokens = tokenize(text)?;
        if tokens.is_empty() {
            return Ok(Filter::default());
        }
        let mut parser = Parser {
            tokens,
            at: 0,
            end: length + 1,
            depth: 0,
        };
        let expr = parser.or()?;
        if let Some(token) = parser.peek() {
            return Err(FilterError::new(
                token.column,
                format!(
                    "expected AND, OR or the end, found {}",
                    token.kind.describe()
                ),
            ));
        }
        Ok(Filter { expr: Some(expr) })
    }

    /// Whether the filter matches every trace (an empty expression).
    pub fn is_empty(&self) -> bool {
        self.expr.is_none()
    }

    /// Whether `trace` matches.
    pub fn matches(&self, trace: &Trace) -> bool {
        self.matches_summary(&Summary::of(trace, 0))
    }

    pub(crate) fn matches_summary(&self, summary: &Summary) -> bool {
        self.expr.as_ref().is_none_or(|e| e.eval(summary))
    }
}

impl FromStr for Filter {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Filter::parse(text)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flag {
    Ok,
    Error,
    Fault,
    Throttle,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NumberKey {
    Duration,
    ResponseTime,
    HttpStatus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TextKey {
    HttpUrl,
    HttpMethod,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    BeginsWith,
    EndsWith,
}

impl Op {
    fn spelled(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "CONTAINS",
            Op::BeginsWith => "BEGINSWITH",
            Op::EndsWith => "ENDSWITH",
        }
    }

    fn is_text(self) -> bool {
        matches!(self, Op::Contains | Op::BeginsWith | Op::EndsWith)
    }

    fn is_order(self) -> bool {
        matches!(self, Op::Lt | Op::Le | Op::Gt | Op::Ge)
    }

    fn numbers(self, a: f64, b: f64) -> bool {
        match self {
            Op::Eq => a == b,
            Op::Ne => a != b,
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            _ => false,
        }
    }

    fn text(self, a: &str, b: &str) -> bool {
        match self {
            Op::Eq => a == b,
            Op::Ne => a != b,
            Op::Contains => a.contains(b),
            Op::BeginsWith => a.starts_with(b),
            Op::EndsWith => a.ends_with(b),
            _ => false,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Literal {
    Text(String),
    Number(f64),
    Bool(bool),
}

#[derive(Clone, Debug, PartialEq)]
enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Flag(Flag, bool),
    Number(NumberKey, Op, f64),
    Text(TextKey, Op, String),
    Service(String),
    Edge(String, String),
    Annotation(String, Option<(Op, Literal)>),
}

impl Expr {
    fn eval(&self, s: &Summary) -> bool {
        match self {
            Expr::And(a, b) => a.eval(s) && b.eval(s),
            Expr::Or(a, b) => a.eval(s) || b.eval(s),
            Expr::Not(a) => !a.eval(s),
            Expr::Flag(flag, wanted) => {
                let on = match flag {
                    Flag::Ok => !(s.error || s.fault || s.throttle),
                    Flag::Error => s.error,
                    Flag::Fault => s.fault,
                    Flag::Throttle => s.throttle,
                };
                on == *wanted
            }
            Expr::Number(key, op, x) => {
                let value = match key {
                    NumberKey::Duration => Some(s.duration_ms / 1000.0),
                    NumberKey::ResponseTime => s.response_ms.map(|ms| ms / 1000.0),
                    NumberKey::HttpStatus => s.http_status.map(f64::from),
                };
                value.is_some_and(|v| op.numbers(v, *x))
            }
            Expr::Text(key, op, text) => {
                let value = match key {
                    TextKey::HttpUrl => s.http_url.as_deref(),
                    TextKey::HttpMethod => s.http_method.as_deref(),
                };
                value.is_some_and(|v| op.text(v, text))
            }
            Expr::Service(name) => s.services.iter().any(|n| n == name),
            Expr::Edge(from, to) => s.graph.has_edge_named(from, to),
            Expr::Annotation(key, test) => {
                s.annotations
                    .iter()
                    .filter(|(k, _)| k == key)
                    .any(|(_, value)| match test {
                        None => true,
                        Some((op, literal)) => compare(value, *op, literal),
                    })
            }
        }
    }
}

/// An annotation's value against a literal.
fn compare(value: &Value, op: Op, literal: &Literal) -> bool {
    let text = match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match literal {
        Literal::Text(wanted) => text.is_some_and(|t| op.text(&t, wanted)),
        Literal::Number(wanted) => {
            let number = match value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            number.is_some_and(|n| op.numbers(n, *wanted))
        }
        Literal::Bool(wanted) => {
            let flag = match value {
                Value::Bool(b) => Some(*b),
                Value::String(s) => s.parse::<bool>().ok(),
                _ => None,
            };
            flag.is_some_and(|b| match op {
                Op::Eq => b == *wanted,
                Op::Ne => b != *wanted,
                _ => false,
            })
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum TokenKind {
    Word(String),
    Text(String),
    Number(f64),
    Op(Op),
    Bang,
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Comma,
    Brace,
}

impl TokenKind {
    fn describe(&self) -> String {
        match self {
            TokenKind::Word(w) => format!("`{w}`"),
            TokenKind::Text(t) => format!("the string {t:?}"),
            TokenKind::Number(n) => format!("the number {n}"),
            TokenKind::Op(op) => format!("`{}`", op.spelled()),
            TokenKind::Bang => "`!`".to_owned(),
            TokenKind::Open => "`(`".to_owned(),
            TokenKind::Close => "`)`".to_owned(),
            TokenKind::OpenBracket => "`[`".to_owned(),
            TokenKind::CloseBracket => "`]`".to_owned(),
            TokenKind::Comma => "`,`".to_owned(),
            TokenKind::Brace => "`{`".to_owned(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Token {
    kind: TokenKind,
    /// 1-based character position of its first character.
    column: usize,
}

fn tokenize(text: &str) -> Result<Vec<Token>, FilterError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        let mut push = |kind: TokenKind, len: usize, i: &mut usize| {
            tokens.push(Token { kind, column });
            *i += len;
        };
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => push(TokenKind::Open, 1, &mut i),
            ')' => push(TokenKind::Close, 1, &mut i),
            '[' => push(TokenKind::OpenBracket, 1, &mut i),
            ']' => push(TokenKind::CloseBracket, 1, &mut i),
            ',' => push(TokenKind::Comma, 1, &mut i),
            '{' | '}' => push(TokenKind::Brace, 1, &mut i),
            '=' => {
                // `==` is read as `=`.
                let len = if chars.get(i + 1) == Some(&'=') { 2 } else { 1 };
                push(TokenKind::Op(Op::Eq), len, &mut i);
            }
            '!' if chars.get(i + 1) == Some(&'=') => push(TokenKind::Op(Op::Ne), 2, &mut i),
            '!' => push(TokenKind::Bang, 1, &mut i),
            '<' if chars.get(i + 1) == Some(&'=') => push(TokenKind::Op(Op::Le), 2, &mut i),
            '<' => push(TokenKind::Op(Op::Lt), 1, &mut i),
            '>' if chars.get(i + 1) == Some(&'=') => push(TokenKind::Op(Op::Ge), 2, &mut i),
            '>' => push(TokenKind::Op(Op::Gt), 1, &mut i),
            '"' | '\'' => {
                let quote = c;
                let mut value = String::new();
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => {
                            return Err(FilterError::new(
                                column,
                                format!("this string has no closing {quote}"),
                            ));
                        }
                        Some('\\') => match chars.get(j + 1) {
                            Some(&next) => {
                                value.push(next);
                                j += 2;
                            }
                            None => {
                                return Err(FilterError::new(
                                    column,
                                    format!("this string has no closing {quote}"),
                                ));
                            }
                        },
                        Some(&q) if q == quote => break,
                        Some(&other) => {
                            value.push(other);
                            j += 1;
                        }
                    }
                }
                push(TokenKind::Text(value), j + 1 - i, &mut i);
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
                || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let mut j = i + 1;
                while chars
                    .get(j)
                    .is_some_and(|d| d.is_ascii_digit() || *d == '.')
                {
                    j += 1;
                }
                let spelled: String = chars[i..j].iter().collect();
                let number: f64 = spelled.parse().map_err(|_| {
                    FilterError::new(column, format!("`{spelled}` is not a number"))
                })?;
                push(TokenKind::Number(number), j - i, &mut i);
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut j = i + 1;
                while chars
                    .get(j)
                    .is_some_and(|d| d.is_ascii_alphanumeric() || *d == '_' || *d == '.')
                {
                    j += 1;
                }
                let word: String = chars[i..j].iter().collect();
                push(TokenKind::Word(word), j - i, &mut i);
            }
            other => {
                return Err(FilterError::new(
                    column,
                    format!("unexpected character {other:?}"),
                ));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    /// The column one past the end, for errors at the end.
    end: usize,
    depth: usize,
}

fn is_word(token: Option<&Token>, word: &str) -> bool {
    matches!(token, Some(Token { kind: TokenKind::Word(w), .. }) if w.eq_ignore_ascii_case(word))
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn column(&self) -> usize {
        self.peek().map_or(self.end, |t| t.column)
    }

    fn found(&self) -> String {
        self.peek()
            .map_or_else(|| "the end".to_owned(), |t| t.kind.describe())
    }

    fn fail<T>(&self, expected: &str) -> Result<T, FilterError> {
        Err(FilterError::new(
            self.column(),
            format!("expected {expected}, found {}", self.found()),
        ))
    }

    fn expect(&mut self, kind: TokenKind, expected: &str) -> Result<(), FilterError> {
        if self.peek().map(|t| &t.kind) == Some(&kind) {
            self.at += 1;
            Ok(())
        } else {
            self.fail(expected)
        }
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.and()?;
        while is_word(self.peek(), "or") {
            self.at += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.unary()?;
        while is_word(self.peek(), "and") {
            self.at += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FilterError::new(
                self.column(),
                format!("parentheses and `!` nest more than {MAX_DEPTH} deep"),
            ));
        }
        let expr = if matches!(self.peek().map(|t| &t.kind), Some(TokenKind::Bang))
            || is_word(self.peek(), "not")
        {
            self.at += 1;
            Expr::Not(Box::new(self.unary()?))
        } else if matches!(self.peek().map(|t| &t.kind), Some(TokenKind::Open)) {
            self.at += 1;
            let inner = self.or()?;
            self.expect(TokenKind::Close, "`)` to close the `(`")?;
            inner
        } else {
            self.predicate()?
        };
        self.depth -= 1;
        Ok(expr)
    }

    fn predicate(&mut self) -> Result<Expr, FilterError> {
        let column = self.column();
        let word = match self.peek().map(|t| &t.kind) {
            Some(TokenKind::Word(w)) => w.clone(),
            _ => return self.fail(&format!("a condition ({KNOWN})")),
        };
        self.at += 1;
        let lower = word.to_ascii_lowercase();
        match lower.as_str() {
            "ok" => self.flag(Flag::Ok),
            "error" => self.flag(Flag::Error),
            "fault" => self.flag(Flag::Fault),
            "throttle" => self.flag(Flag::Throttle),
            "duration" => self.number(NumberKey::Duration, "duration", "seconds"),
            "responsetime" => self.number(NumberKey::ResponseTime, "responsetime", "seconds"),
            "http.status" => self.number(NumberKey::HttpStatus, "http.status", "a status code"),
            "http.url" => self.text(TextKey::HttpUrl, "http.url"),
            "http.method" => self.text(TextKey::HttpMethod, "http.method"),
            "service" => {
                let name = self.call_arguments("service", 1)?.remove(0);
                self.no_braces()?;
                Ok(Expr::Service(name))
            }
            "edge" => {
                let mut names = self.call_arguments("edge", 2)?;
                let to = names.remove(1);
                Ok(Expr::Edge(names.remove(0), to))
            }
            "annotation" => {
                // `annotation[KEY]` or `annotation["KEY"]`.
                self.expect(
                    TokenKind::OpenBracket,
                    "`.KEY` or `[KEY]` after `annotation`",
                )?;
                let key = match self.next().map(|t| t.kind) {
                    Some(TokenKind::Word(k)) | Some(TokenKind::Text(k)) if !k.is_empty() => k,
                    _ => {
                        self.at -= 1;
                        return self.fail("an annotation key");
                    }
                };
                self.expect(TokenKind::CloseBracket, "`]`")?;
                self.annotation(key)
            }
            _ if lower.starts_with("annotation.") => {
                let key = &word["annotation.".len()..];
                if key.is_empty() {
                    return Err(FilterError::new(
                        column,
                        "expected an annotation key after `annotation.`",
                    ));
                }
                self.annotation(key.to_owned())
            }
            _ if UNSUPPORTED.contains(&lower.as_str()) => Err(FilterError::new(
                column,
                format!(
                    "`{word}` is an X-Ray keyword that this local view does not support; use {KNOWN}"
                ),
            )),
            "and" | "or" => Err(FilterError::new(
                column,
                format!("expected a condition before `{word}`"),
            )),
            _ => Err(FilterError::new(
                column,
                format!("`{word}` is not a keyword this view knows; use {KNOWN}"),
            )),
        }
    }

    /// An operator, if one follows.
    fn operator(&mut self) -> Option<(Op, usize)> {
        let column = self.column();
        let op = match self.peek().map(|t| &t.kind) {
            Some(TokenKind::Op(op)) => *op,
            Some(TokenKind::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "contains" => Op::Contains,
                "beginswith" => Op::BeginsWith,
                "endswith" => Op::EndsWith,
                _ => return None,
            },
            _ => return None,
        };
        self.at += 1;
        Some((op, column))
    }

    fn literal(&mut self, op: Op) -> Result<Literal, FilterError> {
        let literal = match self.peek().map(|t| &t.kind) {
            Some(TokenKind::Text(t)) => Literal::Text(t.clone()),
            Some(TokenKind::Number(n)) => Literal::Number(*n),
            Some(TokenKind::Word(w)) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some(TokenKind::Word(w)) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Some(TokenKind::Word(w)) => {
                return Err(FilterError::new(
                    self.column(),
                    format!(
                        "expected a value after `{}`, found the bare word `{w}`: put text in quotes (\"{w}\")",
                        op.spelled()
                    ),
                ));
            }
            _ => {
                return self.fail(&format!(
                    "a value after `{}` (a \"string\", a number, true or false)",
                    op.spelled()
                ));
            }
        };
        self.at += 1;
        Ok(literal)
    }

    fn flag(&mut self, flag: Flag) -> Result<Expr, FilterError> {
        let Some((op, column)) = self.operator() else {
            return Ok(Expr::Flag(flag, true));
        };
        if !matches!(op, Op::Eq | Op::Ne) {
            return Err(FilterError::new(
                column,
                format!(
                    "`{}` does not apply to true/false keywords; use = or !=",
                    op.spelled()
                ),
            ));
        }
        let value_column = self.column();
        match self.literal(op)? {
            Literal::Bool(b) => Ok(Expr::Flag(flag, if op == Op::Eq { b } else { !b })),
            _ => Err(FilterError::new(value_column, "expected true or false")),
        }
    }

    fn number(&mut self, key: NumberKey, name: &str, unit: &str) -> Result<Expr, FilterError> {
        let Some((op, column)) = self.operator() else {
            return self.fail(&format!("an operator after `{name}` (=, !=, <, <=, >, >=)"));
        };
        if op.is_text() {
            return Err(FilterError::new(
                column,
                format!("`{name}` is a number; {} applies to strings", op.spelled()),
            ));
        }
        let value_column = self.column();
        match self.literal(op)? {
            Literal::Number(n) => Ok(Expr::Number(key, op, n)),
            _ => Err(FilterError::new(
                value_column,
                format!("`{name}` compares with a number ({unit})"),
            )),
        }
    }

    fn text(&mut self, key: TextKey, name: &str) -> Result<Expr, FilterError> {
        let Some((op, column)) = self.operator() else {
            return self.fail(&format!(
                "an operator after `{name}` (=, !=, CONTAINS, BEGINSWITH, ENDSWITH)"
            ));
        };
        if op.is_order() {
            return Err(FilterError::new(
                column,
                format!("`{name}` is a string; {} applies to numbers", op.spelled()),
            ));
        }
        let value_column = self.column();
        match self.literal(op)? {
            Literal::Text(t) => Ok(Expr::Text(key, op, t)),
            _ => Err(FilterError::new(
                value_column,
                format!("`{name}` compares with a \"string\""),
            )),
        }
    }

    fn annotation(&mut self, key: String) -> Result<Expr, FilterError> {
        let Some((op, _)) = self.operator() else {
            return Ok(Expr::Annotation(key, None));
        };
        let value_column = self.column();
        let literal = self.literal(op)?;
        let fits = match &literal {
            Literal::Text(_) => !op.is_order(),
            Literal::Number(_) => !op.is_text(),
            Literal::Bool(_) => matches!(op, Op::Eq | Op::Ne),
        };
        if !fits {
            return Err(FilterError::new(
                value_column,
                format!(
                    "`{}` does not compare with this value: strings take =, !=, CONTAINS, \
                     BEGINSWITH, ENDSWITH; numbers take =, !=, <, <=, >, >=; true/false take = and !=",
                    op.spelled()
                ),
            ));
        }
        Ok(Expr::Annotation(key, Some((op, literal))))
    }

    /// `("a", "b")` after a function name: exactly `count` strings.
    fn call_arguments(&mut self, name: &str, count: usize) -> Result<Vec<String>, FilterError> {
        let shape = if count == 1 {
            format!("{name}(\"name\")")
        } else {
            format!("{name}(\"from\", \"to\")")
        };
        self.expect(TokenKind::Open, &format!("`(` after `{name}`: {shape}"))?;
        let mut names = Vec::with_capacity(count);
        for n in 0..count {
            if n > 0 {
                self.expect(
                    TokenKind::Comma,
                    &format!("`,` between the names of {shape}"),
                )?;
            }
            match self.peek().map(|t| &t.kind) {
                Some(TokenKind::Text(t)) => {
                    names.push(t.clone());
                    self.at += 1;
                }
                _ => return self.fail(&format!("a \"quoted\" name in {shape}")),
            }
        }
        self.expect(TokenKind::Close, &format!("`)` to end {shape}"))?;
        Ok(names)
    }

    fn no_braces(&self) -> Result<(), FilterError> {
        if matches!(self.peek().map(|t| &t.kind), Some(TokenKind::Brace)) {
            return Err(FilterError::new(
                self.column(),
                "`service(…) { … }` (conditions on one service's segments) is not supported by this view",
            ));
        }
        Ok(())
    }
}

impl fmt::Display for Filter {
    /// The expression in a canonical spelling (for logs and tests).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.expr {
            None => Ok(()),
            Some(expr) => write!(f, "{expr}"),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::And(a, b) => write!(f, "({a} AND {b})"),
            Expr::Or(a, b) => write!(f, "({a} OR {b})"),
            Expr::Not(a) => write!(f, "!{a}"),
            Expr::Flag(flag, on) => {
                let name = match flag {
                    Flag::Ok => "ok",
                    Flag::Error => "error",
                    Flag::Fault => "fault",
                    Flag::Throttle => "throttle",
                };
                write!(f, "{name} = {on}")
            }
            Expr::Number(key, op, n) => {
                let name = match key {
                    NumberKey::Duration => "duration",
                    NumberKey::ResponseTime => "responsetime",
                    NumberKey::HttpStatus => "http.status",
                };
                write!(f, "{name} {} {n}", op.spelled())
            }
            Expr::Text(key, op, t) => {
                let name = match key {
                    TextKey::HttpUrl => "http.url",
                    TextKey::HttpMethod => "http.method",
                };
                write!(f, "{name} {} {t:?}", op.spelled())
            }
            Expr::Service(name) => write!(f, "service({name:?})"),
            Expr::Edge(a, b) => write!(f, "edge({a:?}, {b:?})"),
            Expr::Annotation(key, None) => write!(f, "annotation[{key:?}]"),
            Expr::Annotation(key, Some((op, literal))) => {
                write!(f, "annotation[{key:?}] {} ", op.spelled())?;
                match literal {
                    Literal::Text(t) => write!(f, "{t:?}"),
                    Literal::Number(n) => write!(f, "{n}"),
                    Literal::Bool(b) => write!(f, "{b}"),
                }
            }
        }
    }
}
