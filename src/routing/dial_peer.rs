//! The dial-peer YAML schema (`reference/dial-peers.md` §1 table): what a
//! `dial-peers/*.yaml` file may say, one key per IOS command.
//!
//! These types are the file as written; [`super::table`] checks them and compiles
//! them into a [`super::RoutingTable`]. Every struct refuses unknown keys, and the
//! values that need a semantic check keep their file location (`Spanned`) so an
//! error can point at them. `dialgate schema` prints the JSON Schema derived from
//! these types.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned as SaphyrSpanned;

use super::translation::{NumberType, NumberingPlan, PlanCondition, RejectCause, TypeCondition};

/// A value with the place in the file it was written: what an error points at.
///
/// serde-saphyr's own `Spanned` keeps two full locations (use site and anchor
/// definition, each with a byte span and a source id: 56 bytes); the checks only
/// need the use site's line and column, and a peer holds a dozen such values, so
/// this keeps 8 bytes. 100,000 peers are then about 60 MB less to write, move and
/// free at load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Straight through serde-saphyr's wrapper (no buffering): it reads the
        // location off the next event and deserializes `T` in place.
        let s = SaphyrSpanned::<T>::deserialize(deserializer)?;
        let narrow = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        Ok(Self {
            value: s.value,
            line: narrow(s.referenced.line()),
            column: narrow(s.referenced.column()),
        })
    }
}

/// One dial-peer file. Every section is optional so a plan can be split across files.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "dialgate dial peers")]
pub struct File {
    /// Gateway-wide routing settings (at most one file may set them).
    #[serde(default)]
    #[schemars(with = "Option<Settings>")]
    pub settings: Option<Spanned<Settings>>,
    /// Translation profiles applied gateway-wide (`voice service pots|voip`).
    #[serde(default)]
    pub voice_service: Option<VoiceService>,
    /// SIP sources allowed to place calls (addresses or CIDRs). Absent: the addresses
    /// of the VoIP peers' `ipv4:` session targets. Present: exactly this list.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub trusted_sources: Option<Vec<Spanned<String>>>,
    /// Named groups of spans a POTS peer can use as its port.
    #[serde(default)]
    pub trunk_groups: Vec<TrunkGroup>,
    /// `voice translation-rule <id>`.
    #[serde(default)]
    pub translation_rules: Vec<RuleSetSpec>,
    /// `voice translation-profile <name>`.
    #[serde(default)]
    pub translation_profiles: Vec<ProfileSpec>,
    /// `dial-peer voice <tag> pots|voip`.
    #[serde(default)]
    pub dial_peers: Vec<DialPeerSpec>,
}

/// Gateway-wide routing settings.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Outbound hunt order (`dial-peer hunt`).
    #[serde(default)]
    pub hunt: Hunt,
    /// Allow PRI-to-PRI and SIP-to-SIP calls (default false: a call from the PRI only
    /// considers VoIP peers, a call from SIP only POTS peers).
    #[serde(default)]
    pub hairpin: bool,
    /// What happens to a call no inbound peer matches.
    #[serde(default)]
    pub no_inbound_match: NoInboundMatch,
}

/// Outbound hunt order.
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hunt {
    /// Which criterion comes first.
    #[serde(default)]
    pub order: HuntOrder,
    /// How peers equal on both criteria are ordered.
    #[serde(default)]
    pub ties: TieBreak,
}

/// First criterion of the hunt (`dial-peer hunt 0/1` vs `2/3`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HuntOrder {
    /// Longest explicit match, then preference (IOS default).
    #[default]
    LongestMatch,
    /// Preference, then longest explicit match.
    Preference,
}

/// Tie-break between peers equal on match length and preference.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TieBreak {
    /// Lowest tag first: deterministic (clone default; IOS picks at random).
    #[default]
    Tag,
    /// Least recently used first (IOS `dial-peer hunt 1`), from the caller's state.
    RoundRobin,
    /// Random, seeded per call by the caller.
    Random,
}

/// What a call that matches no inbound peer gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoInboundMatch {
    /// IOS behaviour: dial peer 0 (codecs pcmu, pcma; rtp-nte), logged as a warning.
    #[default]
    DialPeer0,
    /// Refuse the call (cause 21 / SIP 403).
    Reject,
}

/// `voice service pots` / `voice service voip` translation profiles.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VoiceService {
    /// Applied to every call arriving on (incoming) or leaving by (outgoing) the PRI.
    #[serde(default)]
    pub pots: Option<ProfileRefs>,
    /// `voip-incoming translation-profile`: applied to every call arriving by SIP.
    #[serde(default)]
    pub voip: Option<IncomingProfileRef>,
}

/// `translation-profile incoming X` / `outgoing Y`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileRefs {
    /// Profile for calls coming in.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub incoming: Option<Spanned<String>>,
    /// Profile for calls going out.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub outgoing: Option<Spanned<String>>,
}

/// An incoming-only profile reference.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IncomingProfileRef {
    /// Profile for calls coming in.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub incoming: Option<Spanned<String>>,
}

/// A trunk group: spans a POTS peer may use interchangeably.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrunkGroup {
    /// Group name, referenced by `trunk_group:` on a POTS peer.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Span names (as in the hardware definition, e.g. `span1`).
    #[schemars(with = "Vec<String>")]
    pub spans: Vec<Spanned<String>>,
    /// Profiles applied to calls on any span of the group.
    #[serde(default)]
    pub translation_profile: Option<ProfileRefs>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
}

/// `voice translation-rule <id>`: an ordered set of rules.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSetSpec {
    /// Rule-set number, 1-2147483647.
    #[schemars(with = "u32", range(min = 1, max = 2147483647))]
    pub id: Spanned<u32>,
    /// At most 15 rules.
    pub rules: Vec<RuleSpec>,
}

/// `rule <precedence> /match/ /replace/ [type a b] [plan c d]` or
/// `rule <precedence> reject /match/`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Rules run in ascending precedence; unique within the set.
    #[schemars(with = "u32")]
    pub precedence: Spanned<u32>,
    /// Match side (sed-like; `\(..\)` captures, `^`/`$` anchors), without slashes.
    #[serde(rename = "match")]
    #[schemars(with = "String")]
    pub match_: Spanned<String>,
    /// Replace side (`\1`..`\9`, `\0` or `&` for the whole match); absent for `reject`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub replace: Option<Spanned<String>>,
    /// Block the call when the rule matches.
    #[serde(default)]
    pub reject: bool,
    /// Cause a reject rule clears with (default call-rejected, 21).
    #[serde(default)]
    pub reject_cause: Option<RejectCause>,
    /// Only fire for this type of number.
    #[serde(default)]
    pub match_type: Option<TypeCondition>,
    /// Set this type of number when the rule fires.
    #[serde(default)]
    pub replace_type: Option<NumberType>,
    /// Only fire for this numbering plan.
    #[serde(default)]
    pub match_plan: Option<PlanCondition>,
    /// Set this numbering plan when the rule fires.
    #[serde(default)]
    pub replace_plan: Option<NumberingPlan>,
}

/// `voice translation-profile <name>`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    /// Profile name.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// `translate called <rule-set id>`.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub called: Option<Spanned<u32>>,
    /// `translate calling <rule-set id>`.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub calling: Option<Spanned<u32>>,
}

/// `pots` (a PRI span or trunk group) or `voip` (a SIP target).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeerType {
    /// A telephony port: PRI span or trunk group.
    Pots,
    /// A SIP session target.
    Voip,
}

/// SIP transport to the session target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// UDP (default).
    #[default]
    Udp,
    /// TCP.
    Tcp,
    /// TLS (`sips:`).
    Tls,
}

/// Codecs a VoIP peer offers, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Codec {
    /// G.711 mu-law (`g711ulaw`).
    Pcmu,
    /// G.711 A-law (`g711alaw`).
    Pcma,
    /// G.722.
    G722,
    /// G.729.
    G729,
    /// Opus.
    Opus,
}

impl Codec {
    /// The YAML spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pcmu => "pcmu",
            Self::Pcma => "pcma",
            Self::G722 => "g722",
            Self::G729 => "g729",
            Self::Opus => "opus",
        }
    }
}

/// `dtmf-relay`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DtmfRelay {
    /// RFC 4733 telephone-event (default).
    #[default]
    RtpNte,
    /// SIP INFO.
    SipInfo,
    /// In-band audio only.
    Inband,
}

/// `forward-digits {N | all | extra}` (`implicit` is a deprecated alias of `extra`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardDigits {
    /// The rightmost N digits (0-32).
    Count(u8),
    /// All digits.
    All,
    /// Only the digits beyond the pattern's length.
    Extra,
}

impl<'de> Deserialize<'de> for ForwardDigits {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ForwardDigits;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a digit count 0-32, `all` or `extra`")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ForwardDigits, E> {
                match u8::try_from(v) {
                    Ok(n) if n <= 32 => Ok(ForwardDigits::Count(n)),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Unsigned(v), &self)),
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ForwardDigits, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::invalid_value(serde::de::Unexpected::Signed(v), &self)),
                }
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ForwardDigits, E> {
                match v {
                    "all" => Ok(ForwardDigits::All),
                    "extra" | "implicit" => Ok(ForwardDigits::Extra),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl JsonSchema for ForwardDigits {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ForwardDigits".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "forward-digits: rightmost N digits (0-32), `all`, or `extra` (`implicit` is a deprecated alias)",
            "oneOf": [
                { "type": "integer", "minimum": 0, "maximum": 32 },
                { "enum": ["all", "extra", "implicit"] }
            ]
        })
    }
}

/// Per-peer overrides of the Q.850 <-> SIP tables (`interworking.md` §6, Cisco
/// `set pstn-cause` / `set sip-status`).
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CauseMap {
    /// Q.850 cause (1-127) -> SIP final response (300-699).
    #[serde(default)]
    pub q850_to_sip: BTreeMap<u32, u32>,
    /// SIP final response (300-699) -> Q.850 cause (1-127).
    #[serde(default)]
    pub sip_to_q850: BTreeMap<u32, u32>,
}

/// Digest credentials the gateway answers a 401/407 from this peer with.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// Digest username.
    pub username: String,
    /// Digest password (kept out of every printout).
    pub password: String,
    /// Only answer challenges for this realm.
    #[serde(default)]
    pub realm: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("realm", &self.realm)
            .finish()
    }
}

/// `dial-peer voice <tag> pots|voip` and its commands.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DialPeerSpec {
    /// Tag, 1-2147483647; unique across all files; the default tie-break.
    #[schemars(with = "u32", range(min = 1, max = 2147483647))]
    pub tag: Spanned<u32>,
    /// `pots` or `voip`.
    #[serde(rename = "type")]
    pub peer_type: PeerType,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// `shutdown` is `enabled: false`.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Outbound match on the called number; inbound match on the calling number.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub destination_pattern: Option<Spanned<String>>,
    /// Inbound match on the called number (DNIS / Request-URI user).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub incoming_called_number: Option<Spanned<String>>,
    /// Inbound match on the calling number (ANI).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub answer_address: Option<Spanned<String>>,
    /// 0 (best, default) to 10.
    #[serde(default)]
    #[schemars(with = "u32", range(min = 0, max = 10))]
    pub preference: Option<Spanned<u32>>,
    /// Stop hunting after this peer fails.
    #[serde(default)]
    pub huntstop: bool,
    /// Most simultaneous calls (absent: unlimited).
    #[serde(default)]
    pub max_conn: Option<u32>,
    /// POTS: the span name (e.g. `span1`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub port: Option<Spanned<String>>,
    /// POTS: a trunk group name instead of `port`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub trunk_group: Option<Spanned<String>>,
    /// POTS: strip the pattern's leading literal digits (default true).
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub digit_strip: Option<Spanned<bool>>,
    /// POTS: digits put in front of the number sent (0-9, A-D, *, #; commas dropped).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub prefix: Option<Spanned<String>>,
    /// POTS: `forward-digits`.
    #[serde(default)]
    #[schemars(with = "Option<ForwardDigits>")]
    pub forward_digits: Option<Spanned<ForwardDigits>>,
    /// VoIP: `ipv4:HOST[:PORT]` or `dns:NAME[:PORT]` (port 5060 by default).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub session_target: Option<Spanned<String>>,
    /// VoIP: `udp` (default), `tcp` or `tls`.
    #[serde(default)]
    #[schemars(with = "Option<Transport>")]
    pub transport: Option<Spanned<Transport>>,
    /// VoIP: codecs in order of preference (default [pcmu, pcma]).
    #[serde(default)]
    #[schemars(with = "Option<Vec<Codec>>")]
    pub codecs: Option<Spanned<Vec<Codec>>>,
    /// VoIP: DTMF relay (default rtp-nte).
    #[serde(default)]
    #[schemars(with = "Option<DtmfRelay>")]
    pub dtmf_relay: Option<Spanned<DtmfRelay>>,
    /// VoIP: send RTP and RTCP to where the peer's packets come from rather than to the
    /// address in its SDP (symmetric RTP, for a peer behind NAT); default false.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub symmetric_rtp: Option<Spanned<bool>>,
    /// VoIP: RTP payload type of telephone-event (96-127, default 101).
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 96, max = 127))]
    pub dtmf_payload_type: Option<Spanned<u32>>,
    /// VoIP: overrides of the cause tables for this peer.
    #[serde(default)]
    #[schemars(with = "Option<CauseMap>")]
    pub cause_map: Option<Spanned<CauseMap>>,
    /// VoIP: digest credentials for this peer.
    #[serde(default)]
    #[schemars(with = "Option<Credentials>")]
    pub auth: Option<Spanned<Credentials>>,
    /// Translation profiles applied when this peer is the inbound / outbound peer.
    #[serde(default)]
    pub translation_profile: Option<ProfileRefs>,
}

fn yes() -> bool {
    true
}
