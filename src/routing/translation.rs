//! Voice translation rules and profiles (`reference/dial-peers.md` §6).
//!
//! A rule is `sed s/match/replace/` without `g`, in Cisco's BRE-like syntax, with an
//! optional test-and-rewrite of the Q.931 type of number and numbering plan. Rules
//! are grouped into numbered rule sets, tried in ascending precedence; the first rule
//! that matches (pattern, type and plan) fires and the search stops.
//!
//! ```text
//!   profile "pstn-out" ── called  ─▶ rule set 1: [rule 1, rule 2, ...] ── first match wins
//!                      └─ calling ─▶ rule set 2: [...]
//! ```
//!
//! The Cisco syntax is mapped to the `regex` crate once, at load: `\(`/`\)` become a
//! capture group, bare parentheses are refused (numbers never hold them), `\N` and
//! `\0`/`&` on the replace side become `${N}`/`${0}`, and a literal `$` is escaped.
//! Every regex is built with a size limit so a hostile file cannot exhaust memory.

use std::fmt;
use std::sync::Arc;

use regex::{Regex, RegexBuilder};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Compiled-size limit of one translation regex (bytes).
const REGEX_SIZE_LIMIT: usize = 1 << 16;
/// Cisco accepts at most 15 rules per rule set (doc 64020).
pub const MAX_RULES_PER_SET: usize = 15;

/// Q.931 type of number (`interworking.md` §1.2). `any` exists only on the match side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NumberType {
    /// Type 000.
    #[default]
    Unknown,
    /// Type 001.
    International,
    /// Type 010.
    National,
    /// Type 011.
    Network,
    /// Type 100.
    Subscriber,
    /// Type 110.
    Abbreviated,
    /// Type 111.
    Reserved,
}

/// Q.931 numbering plan (`interworking.md` §1.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NumberingPlan {
    /// Plan 0000.
    Unknown,
    /// Plan 0001, E.164 (the default for PRI numbers).
    #[default]
    Isdn,
    /// Plan 0011, X.121.
    Data,
    /// Plan 0100, F.69.
    Telex,
    /// Plan 1000.
    National,
    /// Plan 1001.
    Private,
    /// ERMES.
    Ermes,
    /// Plan 1111.
    Reserved,
}

impl NumberType {
    /// The YAML spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::International => "international",
            Self::National => "national",
            Self::Network => "network",
            Self::Subscriber => "subscriber",
            Self::Abbreviated => "abbreviated",
            Self::Reserved => "reserved",
        }
    }
}

impl NumberingPlan {
    /// The YAML spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Isdn => "isdn",
            Self::Data => "data",
            Self::Telex => "telex",
            Self::National => "national",
            Self::Private => "private",
            Self::Ermes => "ermes",
            Self::Reserved => "reserved",
        }
    }
}

/// A match-side type condition: `any` or one type of number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TypeCondition {
    /// Any type.
    Any,
    /// Type 000.
    Unknown,
    /// Type 001.
    International,
    /// Type 010.
    National,
    /// Type 011.
    Network,
    /// Type 100.
    Subscriber,
    /// Type 110.
    Abbreviated,
    /// Type 111.
    Reserved,
}

impl TypeCondition {
    /// True when a number of type `t` satisfies the condition.
    pub fn accepts(self, t: NumberType) -> bool {
        let wanted = match self {
            Self::Any => return true,
            Self::Unknown => NumberType::Unknown,
            Self::International => NumberType::International,
            Self::National => NumberType::National,
            Self::Network => NumberType::Network,
            Self::Subscriber => NumberType::Subscriber,
            Self::Abbreviated => NumberType::Abbreviated,
            Self::Reserved => NumberType::Reserved,
        };
        wanted == t
    }
}

/// A match-side plan condition: `any` or one numbering plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PlanCondition {
    /// Any plan.
    Any,
    /// Plan 0000.
    Unknown,
    /// Plan 0001.
    Isdn,
    /// Plan 0011.
    Data,
    /// Plan 0100.
    Telex,
    /// Plan 1000.
    National,
    /// Plan 1001.
    Private,
    /// ERMES.
    Ermes,
    /// Plan 1111.
    Reserved,
}

impl PlanCondition {
    /// True when a number of plan `p` satisfies the condition.
    pub fn accepts(self, p: NumberingPlan) -> bool {
        let wanted = match self {
            Self::Any => return true,
            Self::Unknown => NumberingPlan::Unknown,
            Self::Isdn => NumberingPlan::Isdn,
            Self::Data => NumberingPlan::Data,
            Self::Telex => NumberingPlan::Telex,
            Self::National => NumberingPlan::National,
            Self::Private => NumberingPlan::Private,
            Self::Ermes => NumberingPlan::Ermes,
            Self::Reserved => NumberingPlan::Reserved,
        };
        wanted == p
    }
}

/// A party number: digits plus Q.931 type of number and numbering plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Number {
    /// The digits (may start with `+`).
    pub digits: String,
    /// Type of number.
    #[serde(rename = "type")]
    pub number_type: NumberType,
    /// Numbering plan.
    pub plan: NumberingPlan,
}

impl Number {
    /// A number of type unknown, plan ISDN (the PRI default).
    pub fn new(digits: impl Into<String>) -> Self {
        Self {
            digits: digits.into(),
            number_type: NumberType::Unknown,
            plan: NumberingPlan::Isdn,
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}/{})",
            self.digits,
            self.number_type.name(),
            self.plan.name()
        )
    }
}

/// Which Q.850 cause a `reject` rule clears with (Cisco's blocking options).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RejectCause {
    /// Cause 21 (the clone default).
    #[default]
    CallRejected,
    /// Cause 28.
    InvalidNumber,
    /// Cause 1.
    UnassignedNumber,
    /// Cause 17.
    UserBusy,
}

impl RejectCause {
    /// The Q.850 cause value.
    pub fn q850(self) -> u8 {
        match self {
            Self::CallRejected => 21,
            Self::InvalidNumber => 28,
            Self::UnassignedNumber => 1,
            Self::UserBusy => 17,
        }
    }
}

/// Why a rule's pattern or replacement was refused at load.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// A character outside the translation-rule syntax.
    #[error(
        "character {character:?} at position {at} is not allowed in a translation rule \
         (allowed: 0-9 A-D # . * + ? ^ $ [ ] \\( \\) and \\ escapes)"
    )]
    Character { character: char, at: usize },
    /// A bare parenthesis: Cisco capture sets are written `\(` and `\)`.
    #[error("bare {0:?}: write capture sets as \\( and \\)")]
    BareParenthesis(char),
    /// `\N` on the replace side names a set the match side does not have.
    #[error("replacement uses \\{group} but the match has only {available} capture set(s)")]
    MissingGroup { group: u8, available: usize },
    /// The translated regex was refused (syntax or size limit).
    #[error("invalid pattern: {0}")]
    Regex(String),
    /// A `\` at the end.
    #[error("trailing backslash")]
    TrailingBackslash,
}

/// One compiled `rule <precedence> /match/ /replace/ [type ..] [plan ..]`.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Rules run in ascending precedence.
    pub precedence: u32,
    /// The match side as written.
    pub match_source: String,
    /// The replace side as written; `None` for a `reject` rule.
    pub replace_source: Option<String>,
    regex: Regex,
    expand: String,
    /// Type condition and rewrite.
    pub match_type: Option<TypeCondition>,
    /// New type of number when the rule fires.
    pub replace_type: Option<NumberType>,
    /// Plan condition.
    pub match_plan: Option<PlanCondition>,
    /// New plan when the rule fires.
    pub replace_plan: Option<NumberingPlan>,
    /// `Some(cause)` for a `reject` rule.
    pub reject: Option<RejectCause>,
}

impl Rule {
    /// Compile a translation rule. `replace` is `None` for a reject rule.
    pub fn compile(
        precedence: u32,
        match_source: &str,
        replace: Option<&str>,
        reject: Option<RejectCause>,
    ) -> Result<Self, RuleError> {
        let (pattern, groups) = translate_match(match_source)?;
        let regex = RegexBuilder::new(&pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| RuleError::Regex(e.to_string()))?;
        let expand = match replace {
            Some(r) => translate_replace(r, groups)?,
            None => String::new(),
        };
        Ok(Self {
            precedence,
            match_source: match_source.to_owned(),
            replace_source: replace.map(str::to_owned),
            regex,
            expand,
            match_type: None,
            replace_type: None,
            match_plan: None,
            replace_plan: None,
            reject,
        })
    }

    fn conditions_hold(&self, number: &Number) -> bool {
        let type_ok = self
            .match_type
            .is_none_or(|c| c.accepts(number.number_type));
        let plan_ok = self.match_plan.is_none_or(|c| c.accepts(number.plan));
        type_ok && plan_ok && self.regex.is_match(&number.digits)
    }
}

/// A numbered rule set (`voice translation-rule <n>`).
#[derive(Clone, Debug)]
pub struct RuleSet {
    /// The rule-set number.
    pub id: u32,
    /// Rules sorted by precedence.
    pub rules: Vec<Rule>,
}

/// The result of running a number through a rule set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// No rule matched: the number passes unchanged.
    NoMatch,
    /// Rule `precedence` fired and rewrote the number.
    Translated {
        precedence: u32,
        rule: String,
        number: Number,
    },
    /// A `reject` rule matched: the call is blocked.
    Rejected {
        precedence: u32,
        rule: String,
        cause: u8,
    },
}

impl RuleSet {
    /// Apply the first matching rule (§6.2).
    pub fn apply(&self, number: &Number) -> Outcome {
        let Some(rule) = self.rules.iter().find(|r| r.conditions_hold(number)) else {
            return Outcome::NoMatch;
        };
        let text = match &rule.replace_source {
            Some(r) => format!("/{}/ /{}/", rule.match_source, r),
            None => format!("reject /{}/", rule.match_source),
        };
        if let Some(cause) = rule.reject {
            return Outcome::Rejected {
                precedence: rule.precedence,
                rule: text,
                cause: cause.q850(),
            };
        }
        let digits = rule
            .regex
            .replacen(&number.digits, 1, rule.expand.as_str())
            .into_owned();
        Outcome::Translated {
            precedence: rule.precedence,
            rule: text,
            number: Number {
                digits,
                number_type: rule.replace_type.unwrap_or(number.number_type),
                plan: rule.replace_plan.unwrap_or(number.plan),
            },
        }
    }
}

/// Which number of the call a rule set applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Party {
    /// The called number (DNIS, Request-URI user part).
    Called,
    /// The calling number (ANI, From/PAI user part).
    Calling,
}

/// `voice translation-profile <name>`: rule sets for the called and calling numbers.
#[derive(Clone, Debug)]
pub struct Profile {
    /// Profile name.
    pub name: String,
    /// `translate called <n>`.
    pub called: Option<Arc<RuleSet>>,
    /// `translate calling <n>`.
    pub calling: Option<Arc<RuleSet>>,
}

impl Profile {
    /// The rule set for one party, if the profile has one.
    pub fn rule_set(&self, party: Party) -> Option<&Arc<RuleSet>> {
        match party {
            Party::Called => self.called.as_ref(),
            Party::Calling => self.calling.as_ref(),
        }
    }
}

/// Map the Cisco match side to `regex` syntax; returns it and the number of `\(` sets.
fn translate_match(source: &str) -> Result<(String, usize), RuleError> {
    let mut out = String::with_capacity(source.len() + 8);
    let mut groups = 0;
    let mut chars = source.char_indices();
    let mut in_class = false;
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => {
                let Some((_, next)) = chars.next() else {
                    return Err(RuleError::TrailingBackslash);
                };
                match next {
                    '(' if !in_class => {
                        groups += 1;
                        out.push('(');
                    }
                    ')' if !in_class => out.push(')'),
                    '0'..='9' | 'A'..='D' | 'a'..='d' | '#' => out.push(next),
                    '*' | '+' | '.' | '?' | '^' | '$' | '[' | ']' | '\\' | '-' => {
                        out.push('\\');
                        out.push(next);
                    }
                    _ => {
                        return Err(RuleError::Character {
                            character: next,
                            at: at + 1,
                        });
                    }
                }
            }
            '(' | ')' => return Err(RuleError::BareParenthesis(c)),
            '[' if !in_class => {
                in_class = true;
                out.push('[');
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '-' | ',' if in_class => out.push(c),
            '0'..='9' | 'A'..='D' | 'a'..='d' => out.push(c),
            '#' => out.push_str("\\#"),
            '.' | '*' | '+' | '?' | '^' | '$' => {
                if in_class && c != '^' {
                    out.push('\\');
                }
                out.push(c);
            }
            _ => return Err(RuleError::Character { character: c, at }),
        }
    }
    if in_class {
        return Err(RuleError::Character {
            character: '[',
            at: source.len(),
        });
    }
    Ok((out, groups))
}

/// Map the Cisco replace side to a `regex` expansion string.
fn translate_replace(source: &str, groups: usize) -> Result<String, RuleError> {
    let mut out = String::with_capacity(source.len() + 8);
    let mut chars = source.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(d @ '0'..='9') => {
                    let group = d as u8 - b'0';
                    if usize::from(group) > groups {
                        return Err(RuleError::MissingGroup {
                            group,
                            available: groups,
                        });
                    }
                    out.push_str(&format!("${{{group}}}"));
                }
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => return Err(RuleError::TrailingBackslash),
            },
            '&' => out.push_str("${0}"),
            '$' => out.push_str("$$"),
            _ => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(rule: Rule) -> RuleSet {
        RuleSet {
            id: 1,
            rules: vec![rule],
        }
    }

    fn translate(m: &str, r: &str, input: &str) -> Option<String> {
        let rs = set(Rule::compile(1, m, Some(r), None).unwrap());
        match rs.apply(&Number::new(input)) {
            Outcome::Translated { number, .. } => Some(number.digits),
            _ => None,
        }
    }

    /// The worked translations of `reference/dial-peers.md` §6.3, plus §6.2's sed examples.
    #[test]
    fn reference_worked_translations() {
        let table: &[(&str, &str, &str, Option<&str>)] = &[
            (r"^9\(.*\)", r"\1", "918675309", Some("18675309")),
            (r".*\(....\)", r"\1", "8675309", Some("5309")),
            (r"^\(555\)\(....\)", r"444\2", "5551234", Some("4441234")),
            (
                r"000\(111\)000\(222\)",
                r"\1\2",
                "000111000222",
                Some("111222"),
            ),
            (r"\+\(.*\)", r"\1", "+8675309", Some("8675309")),
            (r"^4...$", r"1408515\0", "4001", Some("14085154001")),
            (r"^0\(.*\)", r"+49\1", "0301234567", Some("+49301234567")),
            (r"^123", "456", "6123", None),
            ("123", "456", "1234", Some("4564")),
            ("123", "456", "6123123", Some("6456123")),
            ("123", "456", "6124", None),
            (r"^.*", "", "5551234", Some("")),
            (r"^4...$", r"9&", "4001", Some("94001")),
        ];
        for (m, r, input, expected) in table {
            assert_eq!(
                translate(m, r, input).as_deref(),
                *expected,
                "/{m}/ /{r}/ on {input}"
            );
        }
    }

    #[test]
    fn type_rule_rewrites_type_only_when_type_matches() {
        let mut rule = Rule::compile(1, r"^\+1\(..........\)$", Some(r"\1"), None).unwrap();
        rule.match_type = Some(TypeCondition::International);
        rule.replace_type = Some(NumberType::National);
        let rs = set(rule);
        let mut intl = Number::new("+14085551234");
        intl.number_type = NumberType::International;
        let Outcome::Translated { number, .. } = rs.apply(&intl) else {
            panic!("no match")
        };
        assert_eq!(
            (number.digits.as_str(), number.number_type),
            ("4085551234", NumberType::National)
        );
        assert_eq!(rs.apply(&Number::new("+14085551234")), Outcome::NoMatch);
    }

    #[test]
    fn reject_rule_blocks_with_cause_21() {
        let rs = set(Rule::compile(1, "^1900", None, Some(RejectCause::default())).unwrap());
        assert!(matches!(
            rs.apply(&Number::new("19005551234")),
            Outcome::Rejected { cause: 21, .. }
        ));
        assert_eq!(rs.apply(&Number::new("18005551234")), Outcome::NoMatch);
    }

    #[test]
    fn first_rule_by_precedence_wins() {
        let rs = RuleSet {
            id: 7,
            rules: vec![
                Rule::compile(1, "^9", Some(""), None).unwrap(),
                Rule::compile(2, "^91", Some("X"), None).unwrap(),
            ],
        };
        let Outcome::Translated {
            precedence, number, ..
        } = rs.apply(&Number::new("9123"))
        else {
            panic!("no match")
        };
        assert_eq!((precedence, number.digits.as_str()), (1, "123"));
    }

    #[test]
    fn compile_rejects_table() {
        let table: &[(&str, &str, RuleError)] = &[
            ("^9(.*)", "", RuleError::BareParenthesis('(')),
            (
                r"^9\(.*\)",
                r"\2",
                RuleError::MissingGroup {
                    group: 2,
                    available: 1,
                },
            ),
            (
                "^9x",
                "",
                RuleError::Character {
                    character: 'x',
                    at: 2,
                },
            ),
            ("^9\\", "", RuleError::TrailingBackslash),
        ];
        for (m, r, expected) in table {
            assert_eq!(
                Rule::compile(1, m, Some(r), None).err().as_ref(),
                Some(expected),
                "/{m}/ /{r}/"
            );
        }
    }

    #[test]
    fn literal_dollar_in_replacement_is_not_a_group() {
        assert_eq!(translate("^1", "$", "123").as_deref(), Some("$23"));
    }
}
