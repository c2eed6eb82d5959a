//! RFC 7644 §3.4.2.2 filters and §3.5.2 PATCH paths: parsing into a typed AST, and evaluation
//! against a rendered resource document.
//!
//! Decisions where the RFC is open (each also noted where it is implemented):
//! - Attribute names must exist in the resource type's schemas; an unknown name is
//!   `invalidFilter` naming it (rather than "matches nothing"), so a typo does not silently
//!   return an empty list and deprovision someone.
//! - `ne` is the negation of `eq`: it matches resources where the attribute is absent, and for
//!   a multi-valued attribute it matches when *no* value equals the literal.
//! - `attr eq null` matches when the attribute is absent; `attr ne null` is the same as `pr`.
//! - A boolean attribute compared with the string "true"/"false" (any case) is accepted and the
//!   literal becomes a JSON boolean in the AST (Entra sends `active eq "True"`).
//! - Otherwise the literal must fit the attribute's type (string for string/reference/binary/
//!   dateTime, number for integer/decimal, RFC 3339 for dateTime comparisons) or the filter is
//!   `invalidFilter`. `co`/`sw`/`ew` apply to string-like attributes only (dateTime included,
//!   compared as text); `gt`/`ge`/`lt`/`le` not to booleans; complex attributes without a
//!   `value` sub-attribute only to `pr`.
//! - A complex attribute compared without a sub-attribute (`emails co "x"`) compares its
//!   `value` sub-attribute.
//! - Value paths are allowed on single-valued complex attributes too (`name[givenName eq "x"]`).
//! - Entra's non-RFC `emails[type eq "work"].value eq "x"` is parsed as
//!   `emails[type eq "work" and value eq "x"]`.

use std::cmp::Ordering;
use std::fmt;

use serde_json::{Number, Value};

use super::error::ScimError;
use super::resource::parse_datetime;
use super::schema::{AttrType, Attribute, Container, ResourceType};

/// Longest filter or path accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 4096;
/// Deepest nesting of parentheses, `not` and value paths accepted.
pub const MAX_FILTER_DEPTH: usize = 32;

/// An attribute reference. Inside a value path's filter (and a [`PatchPath`]'s filter) it is
/// relative to the element: `attr` is then the sub-attribute, `sub` is `None`, and `container`
/// is the container of the enclosing attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    pub container: Container,
    pub attr: &'static Attribute,
    pub sub: Option<&'static Attribute>,
}

impl AttrPath {
    /// The attribute whose type and `caseExact` govern a comparison: the sub-attribute if
    /// given, else a complex attribute's `value` sub-attribute, else the attribute itself.
    pub fn compared_attribute(&self) -> &'static Attribute {
        match self.sub {
            Some(sub) => sub,
            None if self.attr.ty == AttrType::Complex => {
                self.attr.sub("value").unwrap_or(self.attr)
            }
            None => self.attr,
        }
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Container::Extension(schema) = self.container {
            write!(f, "{}:", schema.id)?;
        }
        f.write_str(self.attr.name)?;
        if let Some(sub) = self.sub {
            write!(f, ".{}", sub.name)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    fn parse(word: &str) -> Option<CompareOp> {
        const ALL: [CompareOp; 9] = [
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Co,
            CompareOp::Sw,
            CompareOp::Ew,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
        ];
        ALL.into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(word))
    }

    fn is_substring(self) -> bool {
        matches!(self, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Present(AttrPath),
    /// `value` is a string, number, boolean or null literal, already checked against (and for
    /// booleans coerced to) the compared attribute's type.
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Value,
    },
    /// `emails[type eq "work" and value co "@x"]`: some element of the complex attribute
    /// `path.attr` (`path.sub` is `None`) matches `filter`, whose paths are relative to the
    /// element (see [`AttrPath`]).
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

impl Filter {
    /// Whether the (rendered) resource document `doc` matches. Attribute names are looked up
    /// exactly first, then case-insensitively.
    pub fn matches(&self, doc: &Value) -> bool {
        eval(self, doc, false)
    }

    /// Whether the filter reads the top-level attribute `name` (e.g. `members`, which is
    /// stored apart from the document and read only when a filter needs it).
    pub fn mentions(&self, name: &str) -> bool {
        match self {
            Filter::And(a, b) | Filter::Or(a, b) => a.mentions(name) || b.mentions(name),
            Filter::Not(f) => f.mentions(name),
            Filter::Present(p)
            | Filter::Compare { path: p, .. }
            | Filter::ValuePath { path: p, .. } => p.attr.name == name,
        }
    }

    /// Whether one element of a multi-valued attribute matches this value-path filter (whose
    /// paths are relative to the element).
    pub fn matches_element(&self, element: &Value) -> bool {
        eval(self, element, true)
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_filter(self, false, f)
    }
}

fn fmt_filter(filter: &Filter, relative: bool, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let path = |p: &AttrPath| {
        if relative {
            p.attr.name.to_string()
        } else {
            p.to_string()
        }
    };
    // Parenthesize an `or` under an `and`, and any binary operator under `not`.
    let child = |c: &Filter, parent_is_and: bool, f: &mut fmt::Formatter<'_>| -> fmt::Result {
        if matches!(c, Filter::Or(..)) && parent_is_and {
            f.write_str("(")?;
            fmt_filter(c, relative, f)?;
            f.write_str(")")
        } else {
            fmt_filter(c, relative, f)
        }
    };
    match filter {
        Filter::And(a, b) => {
            child(a, true, f)?;
            f.write_str(" and ")?;
            child(b, true, f)
        }
        Filter::Or(a, b) => {
            child(a, false, f)?;
            f.write_str(" or ")?;
            child(b, false, f)
        }
        Filter::Not(a) => {
            f.write_str("not (")?;
            fmt_filter(a, relative, f)?;
            f.write_str(")")
        }
        Filter::Present(p) => write!(f, "{} pr", path(p)),
        Filter::Compare { path: p, op, value } => {
            write!(f, "{} {} {}", path(p), op.as_str(), value)
        }
        Filter::ValuePath { path: p, filter } => {
            write!(f, "{}[", path(p))?;
            fmt_filter(filter, true, f)?;
            f.write_str("]")
        }
    }
}

/// A PATCH target (RFC 7644 §3.5.2: `PATH = attrPath / valuePath [subAttr]`).
/// `members[value eq "x"]` is `{path: members, filter: Some(..), sub_after_filter: None}`;
/// `emails[type eq "work"].value` has `sub_after_filter: Some(value)`; `name.givenName` is
/// `{path: name.givenName, filter: None, sub_after_filter: None}`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub path: AttrPath,
    pub filter: Option<Filter>,
    pub sub_after_filter: Option<&'static Attribute>,
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path)?;
        if let Some(filter) = &self.filter {
            f.write_str("[")?;
            fmt_filter(filter, true, f)?;
            f.write_str("]")?;
        }
        if let Some(sub) = self.sub_after_filter {
            write!(f, ".{}", sub.name)?;
        }
        Ok(())
    }
}

/// Parses a filter for resource type `rt`. Every mistake is `invalidFilter` with a detail that
/// gives the character position (1-based).
pub fn parse_filter(rt: &'static ResourceType, input: &str) -> Result<Filter, ScimError> {
    let mut parser = Parser::new(rt, input).map_err(ScimError::invalid_filter)?;
    if parser.peek().tok == Tok::End {
        return Err(ScimError::invalid_filter("the filter is empty"));
    }
    let filter = parser.parse_or(None).map_err(ScimError::invalid_filter)?;
    parser.expect_end().map_err(ScimError::invalid_filter)?;
    Ok(filter)
}

/// Parses a PATCH `path` for resource type `rt`. Every mistake is `invalidPath`.
pub fn parse_path(rt: &'static ResourceType, input: &str) -> Result<PatchPath, ScimError> {
    let invalid = |e: String| ScimError::invalid_path(format!("invalid path \"{input}\": {e}"));
    let mut parser = Parser::new(rt, input).map_err(invalid)?;
    let result = parser.parse_patch_path().map_err(invalid)?;
    parser.expect_end().map_err(invalid)?;
    Ok(result)
}

// ---------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Dot,
    /// Attribute paths, operators and keywords.
    Word(String),
    Str(String),
    Num(Number),
    End,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// 1-based character position, for messages.
    pos: usize,
}

impl Token {
    fn describe(&self) -> String {
        match &self.tok {
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::LBracket => "'['".into(),
            Tok::RBracket => "']'".into(),
            Tok::Dot => "'.'".into(),
            Tok::Word(w) => format!("'{w}'"),
            Tok::Str(s) => format!("the string {}", Value::String(s.clone())),
            Tok::Num(n) => format!("the number {n}"),
            Tok::End => "the end of the input".into(),
        }
    }

    fn at(&self) -> String {
        match self.tok {
            Tok::End => "at the end of the input".into(),
            _ => format!("at position {}", self.pos),
        }
    }

    fn is_word(&self, keyword: &str) -> bool {
        matches!(&self.tok, Tok::Word(w) if w.eq_ignore_ascii_case(keyword))
    }
}

fn lex(input: &str) -> Result<Vec<Token>, String> {
    if input.len() > MAX_FILTER_LEN {
        return Err(format!("longer than the maximum of {MAX_FILTER_LEN} bytes"));
    }
    let chars: Vec<(usize, char)> = input.char_indices().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        let pos = i + 1;
        let single = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            '.' => Some(Tok::Dot),
            _ => None,
        };
        if let Some(tok) = single {
            tokens.push(Token { tok, pos });
            i += 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '"' {
            // Find the closing quote, skipping escaped characters; JSON decodes the escapes.
            let mut j = i + 1;
            let mut end = None;
            while j < chars.len() {
                match chars[j].1 {
                    '\\' => j += 2,
                    '"' => {
                        end = Some(j);
                        break;
                    }
                    _ => j += 1,
                }
            }
            let Some(end) = end else {
                return Err(format!("unterminated string starting at position {pos}"));
            };
            let end_byte = chars[end].0 + 1;
            let s: String = serde_json::from_str(&input[start..end_byte])
                .map_err(|e| format!("invalid string at position {pos}: {e}"))?;
            tokens.push(Token {
                tok: Tok::Str(s),
                pos,
            });
            i = end + 1;
            continue;
        }
        if c == '-' || c.is_ascii_digit() {
            let mut j = i;
            while j < chars.len() && matches!(chars[j].1, '0'..='9' | '-' | '+' | '.' | 'e' | 'E') {
                j += 1;
            }
            let end_byte = chars.get(j).map_or(input.len(), |(b, _)| *b);
            let text = &input[start..end_byte];
            let n: Number = serde_json::from_str(text)
                .map_err(|_| format!("invalid number '{text}' at position {pos}"))?;
            tokens.push(Token {
                tok: Tok::Num(n),
                pos,
            });
            i = j;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '$' || c == '_' {
            let mut j = i;
            while j < chars.len()
                && (chars[j].1.is_ascii_alphanumeric()
                    || matches!(chars[j].1, '$' | '_' | '-' | ':' | '.'))
            {
                j += 1;
            }
            let end_byte = chars.get(j).map_or(input.len(), |(b, _)| *b);
            tokens.push(Token {
                tok: Tok::Word(input[start..end_byte].to_string()),
                pos,
            });
            i = j;
            continue;
        }
        return Err(format!("unexpected character '{c}' at position {pos}"));
    }
    tokens.push(Token {
        tok: Tok::End,
        pos: chars.len() + 1,
    });
    Ok(tokens)
}

// ---------------------------------------------------------------------------------------
// Parser (recursive descent; precedence not > and > or; errors are plain messages that the
// entry points turn into invalidFilter or invalidPath).

/// Inside `attr[...]`, names resolve to sub-attributes of `attr`.
type Scope = Option<(Container, &'static Attribute)>;

struct Parser {
    rt: &'static ResourceType,
    tokens: Vec<Token>,
    next: usize,
    depth: usize,
}

impl Parser {
    fn new(rt: &'static ResourceType, input: &str) -> Result<Parser, String> {
        Ok(Parser {
            rt,
            tokens: lex(input)?,
            next: 0,
            depth: 0,
        })
    }

    fn peek(&self) -> Token {
        self.tokens
            .get(self.next)
            .or_else(|| self.tokens.last())
            .cloned()
            .unwrap_or(Token {
                tok: Tok::End,
                pos: 1,
            })
    }

    fn bump(&mut self) -> Token {
        let t = self.peek();
        if self.next < self.tokens.len() {
            self.next += 1;
        }
        t
    }

    fn expect_end(&mut self) -> Result<(), String> {
        let t = self.peek();
        match t.tok {
            Tok::End => Ok(()),
            Tok::RParen => Err(format!("unbalanced ')' at position {}", t.pos)),
            _ => Err(format!(
                "unexpected {} {}; expected 'and', 'or' or the end of the filter",
                t.describe(),
                t.at()
            )),
        }
    }

    fn enter(&mut self, at: &Token) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return Err(format!(
                "nested more than {MAX_FILTER_DEPTH} levels deep {}",
                at.at()
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn parse_or(&mut self, scope: Scope) -> Result<Filter, String> {
        let mut left = self.parse_and(scope)?;
        while self.peek().is_word("or") {
            self.bump();
            let right = self.parse_and(scope)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_and(&mut self, scope: Scope) -> Result<Filter, String> {
        let mut left = self.parse_unary(scope)?;
        while self.peek().is_word("and") {
            self.bump();
            let right = self.parse_unary(scope)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_unary(&mut self, scope: Scope) -> Result<Filter, String> {
        let t = self.peek();
        if t.is_word("not") {
            self.bump();
            let open = self.bump();
            if open.tok != Tok::LParen {
                return Err(format!(
                    "'not' at position {} must be followed by '(', found {}",
                    t.pos,
                    open.describe()
                ));
            }
            let inner = self.parse_group(&open, scope)?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        match t.tok {
            Tok::LParen => {
                self.bump();
                self.parse_group(&t, scope)
            }
            Tok::Word(_) if !t.is_word("and") && !t.is_word("or") => self.parse_attr_expr(scope),
            _ => Err(format!(
                "expected an attribute name, '(' or 'not' {}, found {}",
                t.at(),
                t.describe()
            )),
        }
    }

    /// After an opening parenthesis: `filter ")"`.
    fn parse_group(&mut self, open: &Token, scope: Scope) -> Result<Filter, String> {
        self.enter(open)?;
        let inner = self.parse_or(scope)?;
        let close = self.bump();
        if close.tok != Tok::RParen {
            return Err(format!(
                "expected ')' to close the '(' at position {} {}, found {}",
                open.pos,
                close.at(),
                close.describe()
            ));
        }
        self.leave();
        Ok(inner)
    }

    fn parse_attr_expr(&mut self, scope: Scope) -> Result<Filter, String> {
        let name_tok = self.bump();
        let Tok::Word(name) = &name_tok.tok else {
            return Err(format!(
                "expected an attribute name {}, found {}",
                name_tok.at(),
                name_tok.describe()
            ));
        };
        let path = self.resolve(name, scope, &name_tok)?;
        if self.peek().tok == Tok::LBracket {
            let open = self.bump();
            let inner = self.parse_value_filter(&path, &open)?;
            // Entra's `emails[type eq "work"].value eq "x"`: fold the comparison into the
            // element filter so the same element must satisfy both.
            if self.peek().tok == Tok::Dot {
                self.bump();
                let sub = self.sub_after_filter(&path)?;
                let sub_path = AttrPath {
                    container: path.container,
                    attr: sub,
                    sub: None,
                };
                let cond = self.parse_operator(sub_path)?;
                return Ok(Filter::ValuePath {
                    path,
                    filter: Box::new(Filter::And(Box::new(inner), Box::new(cond))),
                });
            }
            return Ok(Filter::ValuePath {
                path,
                filter: Box::new(inner),
            });
        }
        self.parse_operator(path)
    }

    /// After `attr[`: the element filter and the closing bracket.
    fn parse_value_filter(&mut self, path: &AttrPath, open: &Token) -> Result<Filter, String> {
        if path.attr.ty != AttrType::Complex || path.sub.is_some() {
            return Err(format!(
                "'[' at position {}: a value filter needs a complex attribute, and '{path}' is not one",
                open.pos
            ));
        }
        self.enter(open)?;
        let inner = self.parse_or(Some((path.container, path.attr)))?;
        let close = self.bump();
        if close.tok != Tok::RBracket {
            return Err(format!(
                "expected ']' to close the '[' at position {} {}, found {}",
                open.pos,
                close.at(),
                close.describe()
            ));
        }
        self.leave();
        Ok(inner)
    }

    /// After `attr[...].`: the sub-attribute name.
    fn sub_after_filter(&mut self, path: &AttrPath) -> Result<&'static Attribute, String> {
        let t = self.bump();
        let Tok::Word(name) = &t.tok else {
            return Err(format!(
                "expected a sub-attribute name of '{path}' after '.' {}, found {}",
                t.at(),
                t.describe()
            ));
        };
        path.attr.sub(name).ok_or_else(|| {
            format!(
                "'{name}' at position {} is not a sub-attribute of '{path}'",
                t.pos
            )
        })
    }

    /// After an attribute path: `pr`, or a comparison operator and its literal.
    fn parse_operator(&mut self, path: AttrPath) -> Result<Filter, String> {
        let op_tok = self.bump();
        let op_word = match &op_tok.tok {
            Tok::Word(w) => w.clone(),
            _ => {
                return Err(format!(
                    "expected an operator after '{path}' {}, found {}",
                    op_tok.at(),
                    op_tok.describe()
                ))
            }
        };
        if op_word.eq_ignore_ascii_case("pr") {
            let next = self.peek();
            if matches!(next.tok, Tok::Str(_) | Tok::Num(_))
                || ["true", "false", "null"].iter().any(|k| next.is_word(k))
            {
                return Err(format!(
                    "'pr' at position {} takes no value, found {} {}",
                    op_tok.pos,
                    next.describe(),
                    next.at()
                ));
            }
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::parse(&op_word) else {
            return Err(format!(
                "unknown operator '{op_word}' at position {}; expected eq, ne, co, sw, ew, gt, ge, lt, le or pr",
                op_tok.pos
            ));
        };
        let lit_tok = self.bump();
        let literal = match &lit_tok.tok {
            Tok::Str(s) => Value::String(s.clone()),
            Tok::Num(n) => Value::Number(n.clone()),
            // ABNF literals are case-insensitive (RFC 5234 §2.3).
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => Value::Bool(true),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => Value::Bool(false),
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => Value::Null,
            _ => {
                return Err(format!(
                    "expected a value (a quoted string, a number, true, false or null) after '{}' {}, found {}",
                    op.as_str(),
                    lit_tok.at(),
                    lit_tok.describe()
                ))
            }
        };
        let value = check_literal(&path, op, literal)
            .map_err(|e| format!("{e} (at position {})", op_tok.pos))?;
        Ok(Filter::Compare { path, op, value })
    }

    fn resolve(&self, name: &str, scope: Scope, at: &Token) -> Result<AttrPath, String> {
        if let Some((container, parent)) = scope {
            return match parent.sub(name) {
                Some(sub) => Ok(AttrPath {
                    container,
                    attr: sub,
                    sub: None,
                }),
                None => Err(format!(
                    "'{name}' at position {} is not a sub-attribute of '{}'",
                    at.pos, parent.name
                )),
            };
        }
        resolve_attr_path(self.rt, name).map_err(|e| format!("{e} (at position {})", at.pos))
    }

    fn parse_patch_path(&mut self) -> Result<PatchPath, String> {
        let t = self.bump();
        let Tok::Word(name) = &t.tok else {
            return Err(format!(
                "expected an attribute name {}, found {}",
                t.at(),
                t.describe()
            ));
        };
        let path = resolve_attr_path(self.rt, name)?;
        if self.peek().tok != Tok::LBracket {
            return Ok(PatchPath {
                path,
                filter: None,
                sub_after_filter: None,
            });
        }
        let open = self.bump();
        let filter = self.parse_value_filter(&path, &open)?;
        let sub_after_filter = if self.peek().tok == Tok::Dot {
            self.bump();
            Some(self.sub_after_filter(&path)?)
        } else {
            None
        };
        Ok(PatchPath {
            path,
            filter: Some(filter),
            sub_after_filter,
        })
    }
}

/// Resolves `attr`, `attr.sub`, or either with a schema URN prefix.
fn resolve_attr_path(rt: &'static ResourceType, name: &str) -> Result<AttrPath, String> {
    let Some((container, rest)) = rt.split_urn(name) else {
        return Err(format!(
            "'{name}' does not start with a schema URN of a {} resource",
            rt.name
        ));
    };
    if rest.is_empty() {
        return Err(format!("'{name}' names a schema, not an attribute"));
    }
    let (attr_name, sub_name) = match rest.split_once('.') {
        Some((a, s)) => (a, Some(s)),
        None => (rest, None),
    };
    let Some(attr) = rt.attribute_in(container, attr_name) else {
        return Err(format!(
            "unknown attribute '{attr_name}' for a {} resource",
            rt.name
        ));
    };
    let sub = match sub_name {
        None => None,
        Some(s) => Some(attr.sub(s).ok_or_else(|| {
            if attr.ty == AttrType::Complex {
                format!("'{s}' is not a sub-attribute of '{}'", attr.name)
            } else {
                format!("'{}' has no sub-attributes", attr.name)
            }
        })?),
    };
    Ok(AttrPath {
        container,
        attr,
        sub,
    })
}

/// Checks that `op` and the literal fit the compared attribute's type (see the module
/// documentation) and returns the literal to store (booleans given as strings coerced).
fn check_literal(path: &AttrPath, op: CompareOp, literal: Value) -> Result<Value, String> {
    let target = path.compared_attribute();
    let ty = target.ty;
    if ty == AttrType::Complex {
        return Err(format!(
            "'{path}' is complex and can only be tested with 'pr' or a value filter ('{path}[...]'); compare one of its sub-attributes instead"
        ));
    }
    if literal.is_null() {
        return match op {
            CompareOp::Eq | CompareOp::Ne => Ok(literal),
            _ => Err(format!("'{}' cannot be used with null", op.as_str())),
        };
    }
    match ty {
        AttrType::Boolean => {
            if !matches!(op, CompareOp::Eq | CompareOp::Ne) {
                return Err(format!(
                    "'{path}' is boolean; only eq, ne and pr apply, not '{}'",
                    op.as_str()
                ));
            }
            match &literal {
                Value::Bool(_) => Ok(literal),
                // Lenient: Entra sends `active eq "True"`.
                Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
                Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
                _ => Err(format!(
                    "'{path}' is boolean; compare it with true or false, not {literal}"
                )),
            }
        }
        AttrType::Integer | AttrType::Decimal => {
            if op.is_substring() {
                return Err(format!(
                    "'{path}' is a number; '{}' applies to strings only",
                    op.as_str()
                ));
            }
            match literal {
                Value::Number(_) => Ok(literal),
                _ => Err(format!(
                    "'{path}' is a number; compare it with a number, not {literal}"
                )),
            }
        }
        AttrType::DateTime => match &literal {
            Value::String(s) if op.is_substring() || parse_datetime(s).is_some() => Ok(literal),
            Value::String(_) => Err(format!(
                "'{path}' is a dateTime; compare it with an RFC 3339 timestamp such as \"2011-05-13T04:42:34Z\", not {literal}"
            )),
            _ => Err(format!(
                "'{path}' is a dateTime; compare it with a quoted RFC 3339 timestamp, not {literal}"
            )),
        },
        AttrType::String | AttrType::Reference | AttrType::Binary | AttrType::Complex => {
            match literal {
                Value::String(_) => Ok(literal),
                _ => Err(format!(
                    "'{path}' is a string; compare it with a quoted string, not {literal}"
                )),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Evaluation

fn eval(filter: &Filter, doc: &Value, relative: bool) -> bool {
    match filter {
        Filter::And(a, b) => eval(a, doc, relative) && eval(b, doc, relative),
        Filter::Or(a, b) => eval(a, doc, relative) || eval(b, doc, relative),
        Filter::Not(a) => !eval(a, doc, relative),
        Filter::Present(path) => values(path, doc, relative, false)
            .iter()
            .any(|v| is_present(v)),
        Filter::Compare { path, op, value } => {
            let actual = values(path, doc, relative, true);
            if value.is_null() {
                let present = actual.iter().any(|v| is_present(v));
                return if *op == CompareOp::Eq {
                    !present
                } else {
                    present
                };
            }
            let target = path.compared_attribute();
            match op {
                // `ne` is `not eq`: absent attributes match (see the module documentation).
                CompareOp::Ne => !actual
                    .iter()
                    .any(|v| compare(target, CompareOp::Eq, v, value)),
                _ => actual.iter().any(|v| compare(target, *op, v, value)),
            }
        }
        Filter::ValuePath { path, filter } => elements(path, doc, relative)
            .iter()
            .any(|element| eval(filter, element, true)),
    }
}

/// A member by its canonical name, else case-insensitively.
fn get<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    let map = object.as_object()?;
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// The values of the attribute `path.attr`: each element of a multi-valued attribute, or the
/// single value.
fn elements<'a>(path: &AttrPath, doc: &'a Value, relative: bool) -> Vec<&'a Value> {
    let base = match (relative, path.container) {
        (false, Container::Extension(schema)) => get(doc, schema.id),
        _ => Some(doc),
    };
    match base.and_then(|b| get(b, path.attr.name)) {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(v) => vec![v],
        None => Vec::new(),
    }
}

/// The values a comparison looks at: the attribute's values, or each value's sub-attribute
/// (the `value` sub-attribute of a complex attribute when `compare` and no sub-attribute).
fn values<'a>(path: &AttrPath, doc: &'a Value, relative: bool, compare: bool) -> Vec<&'a Value> {
    let items = elements(path, doc, relative);
    let sub = match path.sub {
        Some(sub) => Some(sub),
        None if compare && path.attr.ty == AttrType::Complex => path.attr.sub("value"),
        None => None,
    };
    match sub {
        Some(sub) => items.into_iter().filter_map(|v| get(v, sub.name)).collect(),
        None => items,
    }
}

/// `pr`: present and not null or empty.
fn is_present(v: &Value) -> bool {
    !super::resource::is_empty(v)
}

fn compare(attr: &Attribute, op: CompareOp, actual: &Value, literal: &Value) -> bool {
    match (actual, literal) {
        (Value::String(a), Value::String(b)) => {
            if attr.ty == AttrType::DateTime && !op.is_substring() {
                if let (Some(a), Some(b)) = (parse_datetime(a), parse_datetime(b)) {
                    return ordering_matches(op, a.cmp(&b));
                }
            }
            let (a, b) = if attr.case_exact {
                (a.clone(), b.clone())
            } else {
                (a.to_lowercase(), b.to_lowercase())
            };
            match op {
                CompareOp::Co => a.contains(&b),
                CompareOp::Sw => a.starts_with(&b),
                CompareOp::Ew => a.ends_with(&b),
                _ => ordering_matches(op, a.cmp(&b)),
            }
        }
        (Value::Number(a), Value::Number(b)) => {
            let ordering = match (a.as_i64(), b.as_i64()) {
                (Some(a), Some(b)) => Some(a.cmp(&b)),
                _ => match (a.as_f64(), b.as_f64()) {
                    (Some(a), Some(b)) => a.partial_cmp(&b),
                    _ => None,
                },
            };
            ordering.is_some_and(|o| ordering_matches(op, o))
        }
        (Value::Bool(a), Value::Bool(b)) => op == CompareOp::Eq && a == b,
        // Entra-style string booleans that made it into a document.
        (Value::String(a), Value::Bool(b)) if attr.ty == AttrType::Boolean => {
            op == CompareOp::Eq && a.eq_ignore_ascii_case(if *b { "true" } else { "false" })
        }
        _ => false,
    }
}

fn ordering_matches(op: CompareOp, o: Ordering) -> bool {
    match op {
        CompareOp::Eq => o == Ordering::Equal,
        CompareOp::Ne => o != Ordering::Equal,
        CompareOp::Gt => o == Ordering::Greater,
        CompareOp::Ge => o != Ordering::Less,
        CompareOp::Lt => o == Ordering::Less,
        CompareOp::Le => o != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    /// A tiny deterministic PRNG so the fuzz-ish tests need no dependency.
    pub(crate) struct Lcg(pub(crate) u64);
    impl Lcg {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        /// Uniform-ish in `0..n`.
        pub(crate) fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::scim::error::ScimType;
    use crate::scim::schema::{ENTERPRISE_USER, GROUP_RESOURCE, USER_RESOURCE};
    use serde_json::json;

    const ENTERPRISE_USER_JSON: &str = include_str!("fixtures/rfc7643_enterprise_user.json");

    fn bjensen() -> Value {
        serde_json::from_str(ENTERPRISE_USER_JSON).unwrap()
    }

    fn parse(s: &str) -> Filter {
        parse_filter(&USER_RESOURCE, s).unwrap_or_else(|e| unreachable!("{s}: {e}"))
    }

    fn m(s: &str, doc: &Value) -> bool {
        parse(s).matches(doc)
    }

    fn bad(s: &str) -> String {
        let e = parse_filter(&USER_RESOURCE, s).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{s}");
        assert_eq!(e.status, 400);
        e.detail
    }

    #[test]
    fn s2_mentions_finds_an_attribute_anywhere_in_the_filter() {
        use crate::scim::schema::GROUP_RESOURCE;
        let f = parse_filter(
            &GROUP_RESOURCE,
            r#"displayName eq "a" or not (members[value eq "u1"])"#,
        )
        .unwrap();
        assert!(f.mentions("members"));
        let f = parse_filter(&GROUP_RESOURCE, r#"displayName co "members""#).unwrap();
        assert!(!f.mentions("members"), "a literal is not an attribute");
    }

    #[test]
    fn every_operator_on_strings() {
        let d = bjensen();
        assert!(m(r#"userName eq "bjensen@example.com""#, &d));
        assert!(m(r#"userName eq "BJENSEN@example.com""#, &d)); // caseExact false
        assert!(!m(r#"userName ne "bjensen@example.com""#, &d));
        assert!(m(r#"userName ne "other""#, &d));
        assert!(m(r#"userName co "jensen""#, &d));
        assert!(m(r#"userName sw "BJ""#, &d));
        assert!(m(r#"userName ew "EXAMPLE.com""#, &d));
        assert!(!m(r#"userName sw "jensen""#, &d));
        assert!(m(r#"userName gt "a""#, &d));
        assert!(m(r#"userName ge "bjensen@example.com""#, &d));
        assert!(m(r#"userName lt "c""#, &d));
        assert!(m(r#"userName le "BJENSEN@EXAMPLE.COM""#, &d));
        assert!(!m(r#"userName gt "c""#, &d));
        assert!(m("title pr", &d));
        assert!(!m("nickname pr and userType pr and preferredLanguage pr and x509Certificates pr and locale eq \"x\"", &d));
        assert!(!m(r#"userName lt "a""#, &d));
    }

    #[test]
    fn case_exact_attributes() {
        let d = bjensen();
        assert!(m(r#"id eq "2819c223-7f76-453a-919d-413861904646""#, &d));
        assert!(!m(r#"id eq "2819C223-7F76-453A-919D-413861904646""#, &d));
        assert!(m(r#"externalId eq "701984""#, &d));
        assert!(!m(r#"meta.resourceType eq "user""#, &d));
        assert!(m(r#"meta.resourceType eq "User""#, &d));
        // Names and operators are case-insensitive.
        assert!(m(r#"USERNAME EQ "bjensen@example.com""#, &d));
        assert!(m(r#"Emails.Value Co "JENSEN.ORG""#, &d));
    }

    #[test]
    fn present_and_absent() {
        let d = json!({"userName": "u", "title": "", "emails": [], "name": {}});
        assert!(!m("title pr", &d));
        assert!(!m("emails pr", &d));
        assert!(!m("name pr", &d));
        assert!(!m("nickName pr", &d));
        assert!(m("userName pr", &d));
        // ne matches absent attributes; eq null matches absent ones.
        assert!(m(r#"nickName ne "x""#, &d));
        assert!(m("nickName eq null", &d));
        assert!(!m("userName eq null", &d));
        assert!(m("userName ne null", &d));
        assert!(!m(r#"nickName eq "x""#, &d));
        assert!(!m(r#"nickName gt "a""#, &d));
    }

    #[test]
    fn precedence_and_grouping() {
        let d = json!({"userName": "a", "title": "t"});
        // not > and > or: `x or y and z` is `x or (y and z)`.
        assert!(m(
            r#"userName eq "a" or userName eq "b" and title eq "zz""#,
            &d
        ));
        assert!(!m(
            r#"(userName eq "a" or userName eq "b") and title eq "zz""#,
            &d
        ));
        assert!(m(
            r#"title eq "zz" and userName eq "b" or userName eq "a""#,
            &d
        ));
        assert!(m(r#"not (userName eq "b") and title eq "t""#, &d));
        assert!(!m(r#"not (userName eq "a" or title eq "x")"#, &d));
        assert!(m(r#"NOT(userName eq "b")"#, &d));
        assert!(m(r#"((((userName eq "a"))))"#, &d));
        let f = parse(r#"userName eq "a" or userName eq "b" and title eq "zz""#);
        assert!(matches!(f, Filter::Or(_, ref r) if matches!(**r, Filter::And(..))));
        let f = parse(r#"userName eq "a" and not (title pr) or title pr"#);
        assert!(matches!(f, Filter::Or(ref l, _) if matches!(**l, Filter::And(..))));
    }

    #[test]
    fn multi_valued_and_complex() {
        let d = bjensen();
        assert!(m(r#"emails eq "babs@jensen.org""#, &d)); // value sub-attribute
        assert!(m(r#"emails.value eq "babs@jensen.org""#, &d));
        assert!(m(r#"emails.type eq "home""#, &d));
        assert!(m(r#"emails co "example.com""#, &d));
        assert!(m(r#"emails.primary eq true"#, &d));
        assert!(m("emails pr", &d));
        assert!(m("emails.primary pr", &d));
        assert!(m(r#"name.familyName eq "jensen""#, &d));
        assert!(m(r#"groups.display eq "Employees""#, &d));
        assert!(m(r#"groups eq "fc348aa8-3835-40eb-a20b-c726e15c55b5""#, &d));
        assert!(!m(r#"emails.value ne "babs@jensen.org""#, &d));
        assert!(m(r#"emails.value ne "nobody@x""#, &d));
        // Separate elements may satisfy separate conditions without a value path...
        assert!(m(
            r#"emails.type eq "home" and emails.value co "example.com""#,
            &d
        ));
        // ...but not with one.
        assert!(!m(
            r#"emails[type eq "home" and value co "example.com"]"#,
            &d
        ));
        assert!(m(
            r#"emails[type eq "work" and value co "example.com"]"#,
            &d
        ));
        assert!(m(r#"emails[type eq "home" or primary eq true]"#, &d));
        assert!(m(r#"emails[not (type eq "work")]"#, &d));
        assert!(m(
            r#"addresses[type eq "work" and postalCode eq "91608"]"#,
            &d
        ));
        assert!(!m(r#"addresses[type eq "other"]"#, &d));
        assert!(m(r#"name[givenName eq "barbara"]"#, &d));
        assert!(m(
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            &d
        ));
        assert!(m(
            r#"userType ne "Employee" or not (emails co "example.com" or emails.value co "example.org")"#,
            &json!({"userType": "x"})
        ));
        assert!(m(
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            &d
        ));
    }

    #[test]
    fn entra_value_path_with_sub_attribute() {
        let d = bjensen();
        let f = parse(r#"emails[type eq "work"].value eq "bjensen@example.com""#);
        let expected = parse(r#"emails[type eq "work" and value eq "bjensen@example.com"]"#);
        assert_eq!(f, expected);
        assert!(f.matches(&d));
        assert!(!m(
            r#"emails[type eq "home"].value eq "bjensen@example.com""#,
            &d
        ));
        assert!(m(r#"emails[type eq "home"].value pr"#, &d));
        assert!(m(
            r#"emails[type eq "home"].value eq "babs@jensen.org" and userName pr"#,
            &d
        ));
    }

    #[test]
    fn urn_prefixed_paths() {
        let d = bjensen();
        assert!(m(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Tour Operations""#,
            &d
        ));
        assert!(m(
            r#"URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:DEPARTMENT eq "tour operations""#,
            &d
        ));
        assert!(m(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#,
            &d
        ));
        assert!(m(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "26118915-6090-4610-87e4-49d8ca9f808d""#,
            &d
        ));
        assert!(m(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "bjensen""#,
            &d
        ));
        assert!(m(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:name.givenName eq "Barbara""#,
            &d
        ));
        let f = parse(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#,
        );
        let Filter::Compare { path, .. } = &f else {
            unreachable!()
        };
        assert_eq!(path.container, Container::Extension(&ENTERPRISE_USER));
        assert_eq!(path.attr.name, "employeeNumber");
        // A core attribute is not looked up inside the extension, nor the reverse.
        bad(r#"department eq "x""#);
        bad(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:userName eq "x""#);
    }

    #[test]
    fn datetime_comparisons_are_chronological() {
        let d = bjensen(); // lastModified 2011-05-13T04:42:34Z
        assert!(m(r#"meta.lastModified gt "2011-05-13T04:42:33Z""#, &d));
        assert!(!m(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, &d));
        assert!(m(r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, &d));
        // Same instant, other offset: a string comparison would get these wrong.
        assert!(m(r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#, &d));
        assert!(m(r#"meta.lastModified lt "2011-05-13T05:00:00+00:00""#, &d));
        assert!(!m(
            r#"meta.lastModified lt "2011-05-13T05:00:00+01:00""#,
            &d
        ));
        assert!(m(r#"meta.created lt "2011-01-01T00:00:00.5Z""#, &d));
        assert!(m(r#"meta.created sw "2010""#, &d));
        assert!(bad(r#"meta.lastModified gt "yesterday""#).contains("RFC 3339"));
        assert!(bad(r#"meta.lastModified gt 5"#).contains("dateTime"));
    }

    #[test]
    fn numbers_and_booleans() {
        let d = json!({"userName": "u", "active": true});
        assert!(m("active eq true", &d));
        assert!(!m("active eq false", &d));
        assert!(m("active ne false", &d));
        assert!(m(r#"active eq "True""#, &d)); // Entra-style literal
        assert!(m(r#"active ne "FALSE""#, &d));
        assert!(!m("active eq false", &json!({})));
        assert!(m("active ne true", &json!({})));
        assert_eq!(parse(r#"active eq "True""#), parse("active eq true"));
        assert!(bad("active gt true").contains("only eq, ne and pr"));
        assert!(bad(r#"active co "t""#).contains("boolean"));
        assert!(bad(r#"active eq "yes""#).contains("boolean"));
        assert!(bad("active eq 1").contains("boolean"));
        // Numeric comparison (no numeric attributes in these schemas; test the comparator).
        let integer = Attribute {
            name: "n",
            ty: AttrType::Integer,
            ..*USER_RESOURCE.core_attribute("userName").unwrap()
        };
        assert!(compare(&integer, CompareOp::Gt, &json!(10), &json!(9)));
        assert!(compare(&integer, CompareOp::Lt, &json!(9), &json!(9.5)));
        assert!(compare(&integer, CompareOp::Eq, &json!(2), &json!(2.0)));
        assert!(!compare(&integer, CompareOp::Gt, &json!("10"), &json!(9)));
        assert!(bad("userName eq 5").contains("string"));
    }

    #[test]
    fn literals_and_escapes() {
        let d = json!({"userName": "a\"b\\c\u{e9}/\n"});
        assert!(m(r#"userName eq "a\"b\\c\u00e9\/\n""#, &d));
        assert!(m("userName eq \"a\\\"b\\\\c\u{e9}/\\n\"", &d));
        let f = parse("emails[type eq \"work\"]");
        assert_eq!(f.to_string(), "emails[type eq \"work\"]");
        assert_eq!(
            parse(r#"userName eq "x" and (title pr or not (nickName eq "y"))"#).to_string(),
            r#"userName eq "x" and (title pr or not (nickName eq "y"))"#
        );
    }

    #[test]
    fn complex_and_type_errors_at_parse_time() {
        assert!(bad(r#"name eq "x""#).contains("complex"));
        assert!(bad(r#"addresses co "x""#).contains("complex"));
        assert!(bad(r#"meta gt "x""#).contains("complex"));
        assert!(bad(r#"userName eq true"#).contains("string"));
        assert!(bad(r#"userName gt null"#).contains("null"));
        assert!(bad(r#"userName[value eq "x"]"#).contains("complex"));
        assert!(bad(r#"name.givenName[value eq "x"]"#).contains("complex"));
        assert!(bad(r#"emails[display eq "x"].nothing eq "y""#).contains("nothing"));
        assert!(bad(r#"emails[type eq "x"]."#).contains("sub-attribute"));
    }

    #[test]
    fn malformed_filters_point_at_the_problem() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("   ", "empty"),
            (
                r#"userName eq "abc"#,
                "unterminated string starting at position 13",
            ),
            ("userName eq", "expected a value"),
            ("userName", "expected an operator"),
            (r#"userName zz "x""#, "unknown operator 'zz' at position 10"),
            (r#"title pr "x""#, "takes no value"),
            ("title pr true", "takes no value"),
            (
                r#"userName eq "a" junk"#,
                "unexpected 'junk' at position 17",
            ),
            (r#"userName eq "a" )"#, "unbalanced ')'"),
            (r#"(userName eq "a""#, "expected ')'"),
            (r#"not userName eq "a""#, "must be followed by '('"),
            (r#"userName eq "a" and"#, "at the end of the input"),
            (
                r#"and userName eq "a""#,
                "expected an attribute name, '(' or 'not' at position 1, found 'and'",
            ),
            (r#"or"#, "found 'or'"),
            (r#"userName eq "a" and or title pr"#, "found 'or'"),
            (r#"emails[type eq "work""#, "expected ']'"),
            (r#"emails[type eq "work"] eq "x""#, "unexpected 'eq'"),
            (r#"emails[emails.type eq "work"]"#, "not a sub-attribute"),
            (
                r#"emails[value eq "x" and display[value eq "y"]]"#,
                "complex",
            ),
            (r#"foo eq "x""#, "unknown attribute 'foo'"),
            (
                r#"name.foo eq "x""#,
                "'foo' is not a sub-attribute of 'name'",
            ),
            (r#"userName.foo eq "x""#, "has no sub-attributes"),
            (r#"urn:foo:bar eq "x""#, "schema URN"),
            (
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User eq "x""#,
                "names a schema",
            ),
            (r#"userName eq bob"#, "expected a value"),
            (r#"userName eq "a" & title pr"#, "unexpected character '&'"),
            ("userName eq 01", "invalid number"),
            ("userName eq -", "invalid number"),
            ("userName eq \"\\q\"", "invalid string"),
            ("()", "expected an attribute name"),
            ("[", "expected an attribute name"),
        ];
        for (input, needle) in cases {
            let detail = bad(input);
            assert!(
                detail.contains(needle),
                "{input:?}: {detail:?} lacks {needle:?}"
            );
        }
    }

    #[test]
    fn limits() {
        let deep = format!("{}userName pr{}", "(".repeat(40), ")".repeat(40));
        assert!(bad(&deep).contains("nested"));
        let ok = format!("{}userName pr{}", "(".repeat(31), ")".repeat(31));
        assert!(parse_filter(&USER_RESOURCE, &ok).is_ok());
        let nots = format!("{}userName pr{}", "not (".repeat(500), ")".repeat(500));
        assert!(bad(&nots).contains("nested"));
        let brackets = "emails[".repeat(1000);
        bad(&brackets);
        let long = format!("userName eq \"{}\"", "x".repeat(5000));
        assert!(bad(&long).contains("maximum"));
        // A long flat chain is fine (and/or are parsed iteratively); evaluating, printing,
        // cloning and dropping the longest one possible must not overflow the stack either.
        let chain = vec!["title pr"; 4096 / 12].join(" or ");
        assert!(chain.len() <= MAX_FILTER_LEN);
        let f = parse(&chain);
        assert!(!f.matches(&json!({"userName": "a"})));
        assert_eq!(f.clone().to_string(), chain);
    }

    #[test]
    fn group_filters() {
        let g = json!({"displayName": "Eng", "members": [{"value": "u1"}, {"value": "u2"}]});
        let f = parse_filter(&GROUP_RESOURCE, r#"members[value eq "u2"]"#).unwrap();
        assert!(f.matches(&g));
        let f = parse_filter(&GROUP_RESOURCE, r#"members.value eq "U2""#).unwrap();
        assert!(!f.matches(&g)); // members.value is caseExact
        let f = parse_filter(&GROUP_RESOURCE, r#"displayName eq "eng""#).unwrap();
        assert!(f.matches(&g));
        assert!(parse_filter(&GROUP_RESOURCE, r#"userName eq "x""#).is_err());
    }

    #[test]
    fn patch_paths() {
        let rt = &USER_RESOURCE;
        let p = parse_path(rt, "name.givenName").unwrap();
        assert_eq!(p.path.attr.name, "name");
        assert_eq!(p.path.sub.unwrap().name, "givenName");
        assert!(p.filter.is_none() && p.sub_after_filter.is_none());
        let p = parse_path(rt, r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(p.path.attr.name, "emails");
        assert_eq!(p.sub_after_filter.unwrap().name, "value");
        assert!(p
            .filter
            .as_ref()
            .unwrap()
            .matches_element(&json!({"type": "work"})));
        assert_eq!(p.to_string(), r#"emails[type eq "work"].value"#);
        let p = parse_path(
            rt,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        )
        .unwrap();
        assert_eq!(p.path.container, Container::Extension(&ENTERPRISE_USER));
        let p = parse_path(&GROUP_RESOURCE, r#"members[value eq "2819c223"]"#).unwrap();
        assert!(p.sub_after_filter.is_none());
        assert!(p.filter.is_some());
        for bad_path in [
            "",
            "foo",
            "name.foo",
            "emails[",
            r#"emails[type eq "work"]x"#,
            r#"emails[type eq "work"].nope"#,
            r#"emails[type eq "work"].value.x"#,
            r#"emails[type zz "work"]"#,
            "userName eq \"x\"",
            "urn:x:y",
            "emails]",
            r#"userName[value eq "x"]"#,
        ] {
            let e = parse_path(rt, bad_path).unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{bad_path}");
        }
    }

    use super::tests_support::Lcg;

    const SAMPLES: &[&str] = &[
        r#"userName eq "bjensen" and (emails[type eq "work" and value co "@x.com"] or not (title pr))"#,
        r#"emails[type eq "work"].value eq "x@y.com""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "a\"b\u00e9""#,
        r#"meta.lastModified gt "2011-05-13T04:42:34Z" or active eq "True""#,
        r#"((userName sw "a") or (displayName ew "b")) and not (nickName eq null)"#,
        r#"x509Certificates.value pr and phoneNumbers[type eq "work"] and addresses.postalCode le "9""#,
    ];

    #[test]
    fn fuzz_prefixes_never_panic() {
        let doc = bjensen();
        for sample in SAMPLES {
            assert!(parse_filter(&USER_RESOURCE, sample).is_ok(), "{sample}");
            for (i, _) in sample.char_indices() {
                for input in [&sample[..i], &sample[i..]] {
                    if let Ok(f) = parse_filter(&USER_RESOURCE, input) {
                        let _ = f.matches(&doc);
                        let _ = f.to_string();
                    }
                    let _ = parse_path(&USER_RESOURCE, input);
                }
            }
        }
    }

    #[test]
    fn fuzz_random_input_never_panics() {
        let doc = bjensen();
        let mut rng = Lcg(42);
        let vocab = [
            "userName",
            "emails",
            ".",
            "value",
            "[",
            "]",
            "(",
            ")",
            " eq ",
            " pr",
            " and ",
            " or ",
            "not",
            "\"x\"",
            "\"",
            "\\",
            "1",
            "-",
            "e",
            "true",
            "null",
            "type",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:",
            "manager",
            ":",
            "meta.lastModified",
            " gt ",
            "\"2011-05-13T04:42:34Z\"",
            "é",
            "\u{0}",
        ];
        for _ in 0..3000 {
            let len = (rng.next() % 40) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| (rng.next() % 256) as u8).collect();
            let s = String::from_utf8_lossy(&bytes).into_owned();
            let _ = parse_filter(&USER_RESOURCE, &s);
            let _ = parse_path(&USER_RESOURCE, &s);
            let n = (rng.next() % 16) as usize;
            let s: String = (0..n)
                .map(|_| vocab[(rng.next() as usize) % vocab.len()])
                .collect();
            if let Ok(f) = parse_filter(&USER_RESOURCE, &s) {
                let _ = f.matches(&doc);
            }
            let _ = parse_path(&USER_RESOURCE, &s);
        }
    }
}
