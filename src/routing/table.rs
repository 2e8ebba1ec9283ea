//! Loading: YAML files to a checked, compiled [`RoutingTable`].
//!
//! ```text
//!   dial-peers/*.yaml ──serde-saphyr──▶ dial_peer::File (as written, with locations)
//!                      ──compile─────▶ RoutingTable (patterns, rules, tries, trust list)
//! ```
//!
//! Every file is parsed and every check runs before anything is returned, so one
//! load reports all mistakes at once; any mistake means no table at all (nothing is
//! half-loaded). Each error names `file:line:column`, the key, and what is allowed.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ipnet::IpNet;

use super::dial_peer::{
    self, CauseMap, Codec, Credentials, DtmfRelay, ForwardDigits, NoInboundMatch, PeerType,
    Settings, Transport,
};
use super::pattern::{Pattern, PatternError};
use super::router::Index;
use super::translation::{MAX_RULES_PER_SET, Profile, Rule, RuleError, RuleSet};

/// A dial-peer tag (`dial-peer voice <tag>`); 0 is the built-in default peer.
pub type Tag = u32;
/// The largest tag and rule-set number IOS accepts.
pub const MAX_TAG: u32 = 2_147_483_647;
/// Default SIP port of a session target.
pub const SIP_PORT: u16 = 5060;
/// Codecs of dial peer 0 and of a VoIP peer without `codecs` (§4.3 clone rule).
pub const DEFAULT_CODECS: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];

/// A place in a dial-peer file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub file: Arc<Path>,
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// What is wrong with a value (the "what is allowed" part of an error).
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// A malformed number pattern.
    #[error(transparent)]
    Pattern(#[from] PatternError),
    /// A malformed translation rule.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// Tag outside 1-2147483647.
    #[error("{0} is out of range (allowed: 1-2147483647; 0 is the built-in dial peer 0)")]
    OutOfRange(u32),
    /// Preference outside 0-10.
    #[error("{0} is out of range (allowed: 0-10, lower wins)")]
    Preference(u32),
    /// Two definitions with the same identifier.
    #[error("duplicate {what} {name}, first defined at {first}")]
    Duplicate {
        what: &'static str,
        name: String,
        first: Location,
    },
    /// A POTS-only key on a VoIP peer.
    #[error("allowed on POTS peers only (VoIP peers change digits with translation profiles)")]
    PotsOnly,
    /// A VoIP-only key on a POTS peer.
    #[error("allowed on VoIP peers only")]
    VoipOnly,
    /// `port` and `trunk_group` together.
    #[error("give either `port` or `trunk_group`, not both")]
    PortAndTrunkGroup,
    /// A name that nothing defines.
    #[error("no {what} named {name:?} is defined (defined: {defined})")]
    Unknown {
        what: &'static str,
        name: String,
        defined: String,
    },
    /// A span name that is not a name.
    #[error(
        "{0:?} is not a span name (allowed: a letter then letters, digits, `-` or `_`, \
         at most 32, e.g. span1)"
    )]
    SpanName(String),
    /// A session target that does not parse.
    #[error("{0:?} is not a session target (allowed: ipv4:A.B.C.D[:PORT] or dns:NAME[:PORT])")]
    SessionTarget(String),
    /// A prefix with a non-dial character.
    #[error("{0:?} is not allowed in a prefix (allowed: 0-9 A-D * # and `,` pauses)")]
    PrefixCharacter(char),
    /// More than 15 rules in a set.
    #[error("{0} rules; a rule set holds at most 15")]
    TooManyRules(usize),
    /// A rule with `reject` and `replace`, or neither.
    #[error("a rule needs `replace` (translate) or `reject: true` (block), exactly one")]
    ReplaceOrReject,
    /// `reject_cause` on a translating rule.
    #[error("`reject_cause` is allowed only with `reject: true`")]
    RejectCauseWithoutReject,
    /// A Q.850 cause outside 1-127.
    #[error("cause {0} is out of range (allowed: 1-127)")]
    Cause(u32),
    /// A SIP status outside 300-699.
    #[error("SIP status {0} is out of range (allowed: final responses 300-699)")]
    SipStatus(u32),
    /// A trusted source that is neither an address nor a CIDR.
    #[error("{0:?} is not an IP address or CIDR (e.g. 192.0.2.10 or 10.0.0.0/8)")]
    TrustedSource(String),
    /// An empty or repetitive codec list.
    #[error("codec list must be non-empty without repeats (allowed: pcmu, pcma, g722, g729, opus)")]
    Codecs,
    /// A telephone-event payload type outside the dynamic range.
    #[error("payload type {0} is out of range (allowed: 96-127)")]
    PayloadType(u32),
    /// `settings:` in two files.
    #[error("settings are already given at {0}; give them in one file only")]
    SettingsTwice(Location),
    /// A trunk group without spans.
    #[error("a trunk group needs at least one span")]
    EmptyTrunkGroup,
    /// A POTS peer without a port, with a destination pattern.
    #[error("an outbound POTS peer (with destination_pattern) needs `port` or `trunk_group`")]
    NoPort,
}

/// One reason a set of dial-peer files was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file or directory could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A directory without `*.yaml` files.
    #[error("{}: no *.yaml dial-peer files in this directory", path.display())]
    NoFiles { path: PathBuf },
    /// YAML or schema error reported by the parser.
    #[error("{at}: {message}")]
    Syntax { at: Location, message: String },
    /// A value that parsed but is not valid.
    #[error("{at}: `{key}`: {problem}")]
    Invalid {
        at: Location,
        key: &'static str,
        problem: Problem,
    },
}

impl LoadError {
    /// The file location of the mistake, when there is one.
    pub fn location(&self) -> Option<&Location> {
        match self {
            Self::Syntax { at, .. } | Self::Invalid { at, .. } => Some(at),
            _ => None,
        }
    }
}

/// Every mistake found in one load; never empty.
#[derive(Debug, thiserror::Error)]
pub struct LoadErrors(pub Vec<LoadError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Where a SIP session target lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    /// `ipv4:A.B.C.D`.
    Ipv4(Ipv4Addr),
    /// `dns:NAME`, resolved by the SIP layer.
    Dns(String),
}

/// `session target ipv4:HOST[:PORT]` / `dns:NAME[:PORT]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionTarget {
    /// Address or name.
    pub host: Host,
    /// SIP port (5060 by default).
    pub port: u16,
}

impl SessionTarget {
    /// Parse `ipv4:A.B.C.D[:PORT]` or `dns:NAME[:PORT]`.
    pub fn parse(text: &str) -> Option<Self> {
        let (scheme, rest) = text.split_once(':')?;
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().ok().filter(|&p| p != 0)?),
            None => (rest, SIP_PORT),
        };
        let host = match scheme {
            "ipv4" => Host::Ipv4(host.parse().ok()?),
            "dns" if is_dns_name(host) => Host::Dns(host.to_owned()),
            _ => return None,
        };
        Some(Self { host, port })
    }
}

impl fmt::Display for SessionTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Ipv4(a) => write!(f, "{a}:{}", self.port),
            Host::Dns(n) => write!(f, "{n}:{}", self.port),
        }
    }
}

fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// A span name as the hardware definition spells it.
pub(crate) fn is_span_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 32
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A named group of spans.
#[derive(Debug)]
pub struct TrunkGroup {
    /// Group name.
    pub name: String,
    /// Span names.
    pub spans: Vec<String>,
    /// `translation-profile incoming` of the group.
    pub incoming: Option<Arc<Profile>>,
    /// `translation-profile outgoing` of the group.
    pub outgoing: Option<Arc<Profile>>,
}

/// Where a POTS peer sends and takes calls.
#[derive(Clone, Debug)]
pub enum Port {
    /// No port: usable only as an inbound peer.
    None,
    /// One span.
    Span(String),
    /// A trunk group of spans.
    TrunkGroup(Arc<TrunkGroup>),
}

impl Port {
    /// True when a call on `span` arrives on this port.
    pub fn contains(&self, span: &str) -> bool {
        match self {
            Self::None => false,
            Self::Span(s) => s == span,
            Self::TrunkGroup(g) => g.spans.iter().any(|s| s == span),
        }
    }
}

/// The POTS-only part of a peer.
#[derive(Clone, Debug)]
pub struct Pots {
    /// Span or trunk group.
    pub port: Port,
    /// Automatic digit strip (default true).
    pub digit_strip: bool,
    /// Prefix, commas removed.
    pub prefix: String,
    /// `forward-digits`, if configured.
    pub forward_digits: Option<ForwardDigits>,
}

/// The VoIP-only part of a peer.
#[derive(Clone, Debug)]
pub struct Voip {
    /// Session target, if any.
    pub target: Option<SessionTarget>,
    /// SIP transport.
    pub transport: Transport,
    /// Codecs in order.
    pub codecs: Vec<Codec>,
    /// DTMF relay.
    pub dtmf_relay: DtmfRelay,
    /// Symmetric RTP: send to where the peer's packets come from (NAT).
    pub symmetric_rtp: bool,
    /// telephone-event payload type.
    pub dtmf_payload_type: u8,
    /// Cause-table overrides (Q.850 -> SIP, SIP -> Q.850).
    pub cause_map: CauseOverrides,
    /// Digest credentials.
    pub credentials: Option<Credentials>,
}

/// Per-peer overrides of the RFC 3398 tables; the mapper consults them first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CauseOverrides {
    /// Q.850 cause -> SIP status.
    pub q850_to_sip: BTreeMap<u8, u16>,
    /// SIP status -> Q.850 cause.
    pub sip_to_q850: BTreeMap<u16, u8>,
}

/// POTS or VoIP specifics.
#[derive(Clone, Debug)]
pub enum PeerKind {
    /// A PRI span or trunk group.
    Pots(Pots),
    /// A SIP target.
    Voip(Voip),
}

/// A compiled dial peer.
#[derive(Clone, Debug)]
pub struct DialPeer {
    /// Tag.
    pub tag: Tag,
    /// POTS or VoIP specifics.
    pub kind: PeerKind,
    /// Free text.
    pub description: Option<String>,
    /// False for `shutdown`.
    pub enabled: bool,
    /// `destination-pattern`.
    pub destination_pattern: Option<Pattern>,
    /// `incoming called-number`.
    pub incoming_called_number: Option<Pattern>,
    /// `answer-address`.
    pub answer_address: Option<Pattern>,
    /// 0-10, lower wins.
    pub preference: u8,
    /// Stop hunting after this peer.
    pub huntstop: bool,
    /// Simultaneous-call limit.
    pub max_conn: Option<u32>,
    /// Incoming translation profile.
    pub incoming_profile: Option<Arc<Profile>>,
    /// Outgoing translation profile.
    pub outgoing_profile: Option<Arc<Profile>>,
    /// Where the peer is defined.
    pub location: Location,
}

impl DialPeer {
    /// `pots` or `voip`.
    pub fn peer_type(&self) -> PeerType {
        match self.kind {
            PeerKind::Pots(_) => PeerType::Pots,
            PeerKind::Voip(_) => PeerType::Voip,
        }
    }

    /// Usable as an outbound peer (§1): enabled, a destination pattern, and a port
    /// or session target.
    pub fn is_outbound_capable(&self) -> bool {
        self.enabled
            && self.destination_pattern.is_some()
            && match &self.kind {
                PeerKind::Pots(p) => !matches!(p.port, Port::None),
                PeerKind::Voip(v) => v.target.is_some(),
            }
    }
}

/// The compiled routing table: every peer, profile and index, immutable once built.
#[derive(Debug)]
pub struct RoutingTable {
    /// Peers sorted by tag.
    pub(crate) peers: Vec<Arc<DialPeer>>,
    pub(crate) settings: Settings,
    pub(crate) trunk_groups: BTreeMap<String, Arc<TrunkGroup>>,
    pub(crate) profiles: BTreeMap<String, Arc<Profile>>,
    pub(crate) pots_incoming: Option<Arc<Profile>>,
    pub(crate) pots_outgoing: Option<Arc<Profile>>,
    pub(crate) voip_incoming: Option<Arc<Profile>>,
    pub(crate) trusted: Vec<IpNet>,
    pub(crate) trusted_explicit: bool,
    pub(crate) files: Vec<PathBuf>,
    pub(crate) index: Index,
}

impl RoutingTable {
    /// Load a file, or every `*.yaml` directly inside a directory (not subfolders).
    pub fn load(path: &Path) -> Result<Self, LoadErrors> {
        let files = list_files(path).map_err(|e| LoadErrors(vec![e]))?;
        let mut sources = Vec::with_capacity(files.len());
        let mut errors = Vec::new();
        for file in files {
            match std::fs::read_to_string(&file) {
                Ok(text) => sources.push((file, text)),
                Err(source) => errors.push(LoadError::Read { path: file, source }),
            }
        }
        if !errors.is_empty() {
            return Err(LoadErrors(errors));
        }
        let refs: Vec<(&Path, &str)> = sources
            .iter()
            .map(|(p, t)| (p.as_path(), t.as_str()))
            .collect();
        Self::from_sources(&refs)
    }

    /// Build a table from in-memory sources `(file name, YAML text)`.
    pub fn from_sources(sources: &[(&Path, &str)]) -> Result<Self, LoadErrors> {
        let mut parsed = Vec::with_capacity(sources.len());
        let mut errors = Vec::new();
        for (path, text) in sources {
            match Self::parse(path, text) {
                Ok(f) => parsed.push(f),
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(LoadErrors(errors));
        }
        Self::compile(&parsed)
    }

    /// The serde-saphyr options every dial-peer file is parsed with: strict
    /// booleans, duplicate keys refused, comments not kept, a node budget for large
    /// plans. Public so a benchmark can time the parser alone with the same options.
    pub fn parse_options() -> serde_saphyr::Options {
        // The default node budget (250,000) stops at about 20,000 peers; a big plan is
        // legitimate, so allow 40x that while still refusing a YAML bomb.
        let mut budget = serde_saphyr::Budget::default();
        budget.max_nodes = 10_000_000;
        budget.max_events = 40_000_000;
        serde_saphyr::options! {
            strict_booleans: true,
            // No schema type keeps a comment: the parser still checks them as YAML
            // syntax but no longer copies their text into events.
            emit_comments: false,
            duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
            budget: Some(budget),
        }
    }

    /// The first half of [`RoutingTable::from_sources`]: parse one file's YAML into
    /// the schema types, keeping the locations for later errors.
    pub fn parse(path: &Path, text: &str) -> Result<(Arc<Path>, dial_peer::File), LoadError> {
        let file: Arc<Path> = Arc::from(path);
        match parse_file(text) {
            Ok(f) => Ok((file, f)),
            Err(e) => Err(syntax_error(&file, &e)),
        }
    }

    /// The second half of [`RoutingTable::from_sources`]: check parsed files together
    /// and compile them (patterns, profiles, lookup tries).
    pub fn compile(files: &[(Arc<Path>, dial_peer::File)]) -> Result<Self, LoadErrors> {
        let compiler = Compiler {
            errors: Vec::new(),
            files: files.iter().map(|(p, _)| p.to_path_buf()).collect(),
        };
        compiler.compile(files)
    }

    /// Every peer, by tag.
    pub fn peers(&self) -> &[Arc<DialPeer>] {
        &self.peers
    }

    /// The peer with this tag.
    pub fn peer(&self, tag: Tag) -> Option<&Arc<DialPeer>> {
        // Sorted by tag: a binary search, no separate map to build at load.
        self.peers
            .binary_search_by_key(&tag, |p| p.tag)
            .ok()
            .map(|i| &self.peers[i])
    }

    /// Gateway-wide settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Trunk groups by name.
    pub fn trunk_groups(&self) -> &BTreeMap<String, Arc<TrunkGroup>> {
        &self.trunk_groups
    }

    /// Translation profiles by name.
    pub fn profiles(&self) -> &BTreeMap<String, Arc<Profile>> {
        &self.profiles
    }

    /// The SIP sources allowed to place calls.
    pub fn trusted_sources(&self) -> &[IpNet] {
        &self.trusted
    }

    /// True when `trusted_sources` was given (rather than derived from targets).
    pub fn trusted_sources_explicit(&self) -> bool {
        self.trusted_explicit
    }

    /// True when a SIP request from `addr` may place a call (toll-fraud protection).
    pub fn is_trusted(&self, addr: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&addr))
    }

    /// The files the table was loaded from.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// What happens to a call no inbound peer matches.
    pub fn no_inbound_match(&self) -> NoInboundMatch {
        self.settings.no_inbound_match
    }
}

fn list_files(path: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let read = |source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read)?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(read)? {
        let entry = entry.map_err(read)?;
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "yaml") && p.is_file() {
            files.push(p);
        }
    }
    if files.is_empty() {
        return Err(LoadError::NoFiles {
            path: path.to_path_buf(),
        });
    }
    files.sort();
    Ok(files)
}

/// Parse one file with the house options: strict booleans, duplicate keys refused.
pub(crate) fn parse_file(text: &str) -> Result<dial_peer::File, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(text, RoutingTable::parse_options())
}

fn syntax_error(file: &Arc<Path>, e: &serde_saphyr::Error) -> LoadError {
    let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
    let rendered = e.without_snippet().to_string();
    let first = rendered.lines().next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // The parser repeats "line L column C: "; the location already says it.
    let message = match first.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
        Some((_, rest)) => rest,
        None => first,
    };
    let message = match message.rfind(" at line ") {
        Some(i) if message[i..].contains(", column ") => &message[..i],
        _ => message,
    };
    LoadError::Syntax {
        at: Location {
            file: file.clone(),
            line,
            column,
        },
        message: message.to_owned(),
    }
}

#[derive(Default)]
struct Compiler {
    errors: Vec<LoadError>,
    files: Vec<PathBuf>,
}

type Sp<T> = dial_peer::Spanned<T>;

impl Compiler {
    fn at<T>(file: &Arc<Path>, s: &Sp<T>) -> Location {
        Location {
            file: file.clone(),
            line: u64::from(s.line),
            column: u64::from(s.column),
        }
    }

    fn invalid<T>(&mut self, file: &Arc<Path>, s: &Sp<T>, key: &'static str, problem: Problem) {
        self.errors.push(LoadError::Invalid {
            at: Self::at(file, s),
            key,
            problem,
        });
    }

    fn pattern(
        &mut self,
        file: &Arc<Path>,
        s: &Option<Sp<String>>,
        key: &'static str,
    ) -> Option<Pattern> {
        let s = s.as_ref()?;
        match Pattern::parse(&s.value) {
            Ok(p) => Some(p),
            Err(e) => {
                self.invalid(file, s, key, e.into());
                None
            }
        }
    }

    #[allow(clippy::too_many_lines)]
    fn compile(
        mut self,
        files: &[(Arc<Path>, dial_peer::File)],
    ) -> Result<RoutingTable, LoadErrors> {
        // Pass 1: settings, rule sets, profiles, trunk groups (peers refer to them).
        let mut settings: Option<(Settings, Location)> = None;
        let mut rule_sets: BTreeMap<u32, (Arc<RuleSet>, Location)> = BTreeMap::new();
        for (file, f) in files {
            if let Some(s) = &f.settings {
                let here = Self::at(file, s);
                if let Some((_, first)) = &settings {
                    let first = first.clone();
                    self.invalid(file, s, "settings", Problem::SettingsTwice(first));
                } else {
                    settings = Some((s.value.clone(), here));
                }
            }
            for set in &f.translation_rules {
                let id = set.id.value;
                if !(1..=MAX_TAG).contains(&id) {
                    self.invalid(file, &set.id, "id", Problem::OutOfRange(id));
                    continue;
                }
                if let Some((_, first)) = rule_sets.get(&id) {
                    let first = first.clone();
                    self.invalid(
                        file,
                        &set.id,
                        "id",
                        Problem::Duplicate {
                            what: "translation rule set",
                            name: id.to_string(),
                            first,
                        },
                    );
                    continue;
                }
                if set.rules.len() > MAX_RULES_PER_SET {
                    self.invalid(
                        file,
                        &set.id,
                        "rules",
                        Problem::TooManyRules(set.rules.len()),
                    );
                }
                let mut rules = Vec::with_capacity(set.rules.len());
                let mut seen: HashMap<u32, Location> = HashMap::new();
                for spec in &set.rules {
                    if let Some(first) = seen.get(&spec.precedence.value) {
                        let first = first.clone();
                        self.invalid(
                            file,
                            &spec.precedence,
                            "precedence",
                            Problem::Duplicate {
                                what: "rule precedence",
                                name: spec.precedence.value.to_string(),
                                first,
                            },
                        );
                        continue;
                    }
                    seen.insert(spec.precedence.value, Self::at(file, &spec.precedence));
                    if spec.reject == spec.replace.is_some() {
                        self.invalid(file, &spec.match_, "replace", Problem::ReplaceOrReject);
                        continue;
                    }
                    if spec.reject_cause.is_some() && !spec.reject {
                        self.invalid(
                            file,
                            &spec.match_,
                            "reject_cause",
                            Problem::RejectCauseWithoutReject,
                        );
                        continue;
                    }
                    let reject = spec.reject.then(|| spec.reject_cause.unwrap_or_default());
                    let replace = spec.replace.as_ref().map(|r| r.value.as_str());
                    match Rule::compile(spec.precedence.value, &spec.match_.value, replace, reject)
                    {
                        Ok(mut rule) => {
                            rule.match_type = spec.match_type;
                            rule.replace_type = spec.replace_type;
                            rule.match_plan = spec.match_plan;
                            rule.replace_plan = spec.replace_plan;
                            rules.push(rule);
                        }
                        Err(e @ RuleError::MissingGroup { .. }) => {
                            let at = spec.replace.as_ref().unwrap_or(&spec.match_);
                            self.invalid(file, at, "replace", e.into());
                        }
                        Err(e) => self.invalid(file, &spec.match_, "match", e.into()),
                    }
                }
                rules.sort_by_key(|r| r.precedence);
                rule_sets.insert(
                    id,
                    (Arc::new(RuleSet { id, rules }), Self::at(file, &set.id)),
                );
            }
        }
        let mut profiles: BTreeMap<String, (Arc<Profile>, Location)> = BTreeMap::new();
        for (file, f) in files {
            for spec in &f.translation_profiles {
                let name = spec.name.value.clone();
                if let Some((_, first)) = profiles.get(&name) {
                    let first = first.clone();
                    self.invalid(
                        file,
                        &spec.name,
                        "name",
                        Problem::Duplicate {
                            what: "translation profile",
                            name: name.clone(),
                            first,
                        },
                    );
                    continue;
                }
                let mut lookup = |s: &Option<Sp<u32>>, key| {
                    let s = s.as_ref()?;
                    match rule_sets.get(&s.value) {
                        Some((set, _)) => Some(set.clone()),
                        None => {
                            let defined = join(rule_sets.keys());
                            self.invalid(
                                file,
                                s,
                                key,
                                Problem::Unknown {
                                    what: "translation rule set",
                                    name: s.value.to_string(),
                                    defined,
                                },
                            );
                            None
                        }
                    }
                };
                let called = lookup(&spec.called, "called");
                let calling = lookup(&spec.calling, "calling");
                let profile = Profile {
                    name: name.clone(),
                    called,
                    calling,
                };
                profiles.insert(name, (Arc::new(profile), Self::at(file, &spec.name)));
            }
        }
        let profile_names = join(profiles.keys());
        let profile_ref = |this: &mut Self, file: &Arc<Path>, s: &Option<Sp<String>>, key| {
            let s = s.as_ref()?;
            match profiles.get(&s.value) {
                Some((p, _)) => Some(p.clone()),
                None => {
                    this.invalid(
                        file,
                        s,
                        key,
                        Problem::Unknown {
                            what: "translation profile",
                            name: s.value.clone(),
                            defined: profile_names.clone(),
                        },
                    );
                    None
                }
            }
        };
        let mut pots_incoming = None;
        let mut pots_outgoing = None;
        let mut voip_incoming = None;
        let mut trunk_groups: BTreeMap<String, (Arc<TrunkGroup>, Location)> = BTreeMap::new();
        for (file, f) in files {
            if let Some(vs) = &f.voice_service {
                if let Some(p) = &vs.pots {
                    pots_incoming =
                        profile_ref(&mut self, file, &p.incoming, "incoming").or(pots_incoming);
                    pots_outgoing =
                        profile_ref(&mut self, file, &p.outgoing, "outgoing").or(pots_outgoing);
                }
                if let Some(v) = &vs.voip {
                    voip_incoming =
                        profile_ref(&mut self, file, &v.incoming, "incoming").or(voip_incoming);
                }
            }
            for g in &f.trunk_groups {
                let name = g.name.value.clone();
                if !is_span_name(&name) {
                    self.invalid(file, &g.name, "name", Problem::SpanName(name.clone()));
                }
                if let Some((_, first)) = trunk_groups.get(&name) {
                    let first = first.clone();
                    self.invalid(
                        file,
                        &g.name,
                        "name",
                        Problem::Duplicate {
                            what: "trunk group",
                            name: name.clone(),
                            first,
                        },
                    );
                    continue;
                }
                if g.spans.is_empty() {
                    self.invalid(file, &g.name, "spans", Problem::EmptyTrunkGroup);
                }
                for s in &g.spans {
                    if !is_span_name(&s.value) {
                        self.invalid(file, s, "spans", Problem::SpanName(s.value.clone()));
                    }
                }
                let (incoming, outgoing) = match &g.translation_profile {
                    Some(p) => (
                        profile_ref(&mut self, file, &p.incoming, "incoming"),
                        profile_ref(&mut self, file, &p.outgoing, "outgoing"),
                    ),
                    None => (None, None),
                };
                let group = TrunkGroup {
                    name: name.clone(),
                    spans: g.spans.iter().map(|s| s.value.clone()).collect(),
                    incoming,
                    outgoing,
                };
                trunk_groups.insert(name, (Arc::new(group), Self::at(file, &g.name)));
            }
        }

        // Pass 2: peers.
        let count: usize = files.iter().map(|(_, f)| f.dial_peers.len()).sum();
        let mut peers: Vec<Arc<DialPeer>> = Vec::with_capacity(count);
        // Where each tag was first defined: (file index, the tag's span); a Location
        // is built only for a duplicate.
        let mut tags: foldhash::HashMap<Tag, (usize, &Sp<u32>)> =
            foldhash::HashMap::with_capacity_and_hasher(count, Default::default());
        let mut trusted = Vec::with_capacity(count);
        let mut trusted_explicit = false;
        for (file_index, (file, f)) in files.iter().enumerate() {
            if let Some(list) = &f.trusted_sources {
                trusted_explicit = true;
                for s in list {
                    match parse_source(&s.value) {
                        Some(net) => trusted.push(net),
                        None => self.invalid(
                            file,
                            s,
                            "trusted_sources",
                            Problem::TrustedSource(s.value.clone()),
                        ),
                    }
                }
            }
            for spec in &f.dial_peers {
                let tag = spec.tag.value;
                if !(1..=MAX_TAG).contains(&tag) {
                    self.invalid(file, &spec.tag, "tag", Problem::OutOfRange(tag));
                    continue;
                }
                if let Some(&(first_file, first)) = tags.get(&tag) {
                    let first = Self::at(&files[first_file].0, first);
                    self.invalid(
                        file,
                        &spec.tag,
                        "tag",
                        Problem::Duplicate {
                            what: "dial-peer tag",
                            name: tag.to_string(),
                            first,
                        },
                    );
                    continue;
                }
                tags.insert(tag, (file_index, &spec.tag));
                let destination_pattern =
                    self.pattern(file, &spec.destination_pattern, "destination_pattern");
                let incoming_called_number =
                    self.pattern(file, &spec.incoming_called_number, "incoming_called_number");
                let answer_address = self.pattern(file, &spec.answer_address, "answer_address");
                let preference = match &spec.preference {
                    Some(p) if p.value > 10 => {
                        self.invalid(file, p, "preference", Problem::Preference(p.value));
                        0
                    }
                    Some(p) => u8::try_from(p.value).unwrap_or(0),
                    None => 0,
                };
                let (incoming_profile, outgoing_profile) = match &spec.translation_profile {
                    Some(p) => (
                        profile_ref(&mut self, file, &p.incoming, "incoming"),
                        profile_ref(&mut self, file, &p.outgoing, "outgoing"),
                    ),
                    None => (None, None),
                };
                let kind = match spec.peer_type {
                    PeerType::Pots => self.pots(file, spec, &trunk_groups),
                    PeerType::Voip => self.voip(file, spec),
                };
                if let PeerKind::Voip(Voip {
                    target: Some(t), ..
                }) = &kind
                    && let Host::Ipv4(a) = t.host
                {
                    trusted.push(IpNet::from(IpAddr::V4(a)));
                }
                peers.push(Arc::new(DialPeer {
                    tag,
                    kind,
                    description: spec.description.clone(),
                    enabled: spec.enabled,
                    destination_pattern,
                    incoming_called_number,
                    answer_address,
                    preference,
                    huntstop: spec.huntstop,
                    max_conn: spec.max_conn,
                    incoming_profile,
                    outgoing_profile,
                    location: Self::at(file, &spec.tag),
                }));
            }
        }
        if !self.errors.is_empty() {
            return Err(LoadErrors(self.errors));
        }
        if trusted_explicit {
            // An explicit list replaces the derived one: drop what pass 2 derived.
            trusted.clear();
            for (_, f) in files {
                for s in f.trusted_sources.iter().flatten() {
                    trusted.extend(parse_source(&s.value));
                }
            }
        }
        trusted.sort_unstable();
        trusted.dedup();
        // Tags are unique by now; files usually list them in order already.
        if !peers.is_sorted_by_key(|p| p.tag) {
            peers.sort_unstable_by_key(|p| p.tag);
        }
        let index = Index::build(&peers);
        Ok(RoutingTable {
            peers,
            settings: settings.map(|(s, _)| s).unwrap_or_default(),
            trunk_groups: trunk_groups.into_iter().map(|(k, (g, _))| (k, g)).collect(),
            profiles: profiles.into_iter().map(|(k, (p, _))| (k, p)).collect(),
            pots_incoming,
            pots_outgoing,
            voip_incoming,
            trusted,
            trusted_explicit,
            files: self.files,
            index,
        })
    }

    fn pots(
        &mut self,
        file: &Arc<Path>,
        spec: &dial_peer::DialPeerSpec,
        groups: &BTreeMap<String, (Arc<TrunkGroup>, Location)>,
    ) -> PeerKind {
        macro_rules! voip_only {
            ($($field:ident),*) => {$(
                if let Some(s) = &spec.$field {
                    self.invalid(file, s, stringify!($field), Problem::VoipOnly);
                }
            )*};
        }
        voip_only!(
            session_target,
            transport,
            codecs,
            dtmf_relay,
            symmetric_rtp,
            dtmf_payload_type,
            cause_map,
            auth
        );
        let port = match (&spec.port, &spec.trunk_group) {
            (Some(p), Some(_)) => {
                self.invalid(file, p, "port", Problem::PortAndTrunkGroup);
                Port::None
            }
            (Some(p), None) => {
                if !is_span_name(&p.value) {
                    self.invalid(file, p, "port", Problem::SpanName(p.value.clone()));
                }
                Port::Span(p.value.clone())
            }
            (None, Some(g)) => match groups.get(&g.value) {
                Some((group, _)) => Port::TrunkGroup(group.clone()),
                None => {
                    self.invalid(
                        file,
                        g,
                        "trunk_group",
                        Problem::Unknown {
                            what: "trunk group",
                            name: g.value.clone(),
                            defined: join(groups.keys()),
                        },
                    );
                    Port::None
                }
            },
            (None, None) => {
                if let Some(d) = &spec.destination_pattern {
                    self.invalid(file, d, "port", Problem::NoPort);
                }
                Port::None
            }
        };
        let mut prefix = String::new();
        if let Some(p) = &spec.prefix {
            for c in p.value.chars() {
                match c {
                    ',' => {}
                    '0'..='9' | 'A'..='D' | '*' | '#' => prefix.push(c),
                    _ => {
                        self.invalid(file, p, "prefix", Problem::PrefixCharacter(c));
                        break;
                    }
                }
            }
        }
        PeerKind::Pots(Pots {
            port,
            digit_strip: spec.digit_strip.as_ref().is_none_or(|d| d.value),
            prefix,
            forward_digits: spec.forward_digits.as_ref().map(|f| f.value),
        })
    }

    fn voip(&mut self, file: &Arc<Path>, spec: &dial_peer::DialPeerSpec) -> PeerKind {
        macro_rules! pots_only {
            ($($field:ident),*) => {$(
                if let Some(s) = &spec.$field {
                    self.invalid(file, s, stringify!($field), Problem::PotsOnly);
                }
            )*};
        }
        pots_only!(port, trunk_group, digit_strip, prefix, forward_digits);
        let target = spec.session_target.as_ref().and_then(|s| {
            let t = SessionTarget::parse(&s.value);
            if t.is_none() {
                self.invalid(
                    file,
                    s,
                    "session_target",
                    Problem::SessionTarget(s.value.clone()),
                );
            }
            t
        });
        let codecs = match &spec.codecs {
            Some(c) => {
                let mut seen = Vec::new();
                let repeats = c.value.iter().any(|x| {
                    let dup = seen.contains(x);
                    seen.push(*x);
                    dup
                });
                if c.value.is_empty() || repeats {
                    self.invalid(file, c, "codecs", Problem::Codecs);
                }
                c.value.clone()
            }
            None => DEFAULT_CODECS.to_vec(),
        };
        let dtmf_payload_type = match &spec.dtmf_payload_type {
            Some(p) if !(96..=127).contains(&p.value) => {
                self.invalid(file, p, "dtmf_payload_type", Problem::PayloadType(p.value));
                101
            }
            Some(p) => u8::try_from(p.value).unwrap_or(101),
            None => 101,
        };
        let cause_map = spec
            .cause_map
            .as_ref()
            .map(|c| self.cause_map(file, c))
            .unwrap_or_default();
        PeerKind::Voip(Voip {
            target,
            transport: spec.transport.as_ref().map(|t| t.value).unwrap_or_default(),
            codecs,
            dtmf_relay: spec
                .dtmf_relay
                .as_ref()
                .map(|d| d.value)
                .unwrap_or_default(),
            symmetric_rtp: spec.symmetric_rtp.as_ref().is_some_and(|s| s.value),
            dtmf_payload_type,
            cause_map,
            credentials: spec.auth.as_ref().map(|a| a.value.clone()),
        })
    }

    fn cause_map(&mut self, file: &Arc<Path>, c: &Sp<CauseMap>) -> CauseOverrides {
        let mut out = CauseOverrides::default();
        let cause = |v: u32| u8::try_from(v).ok().filter(|v| (1..=127).contains(v));
        let status = |v: u32| u16::try_from(v).ok().filter(|v| (300..=699).contains(v));
        for (&q, &s) in &c.value.q850_to_sip {
            match (cause(q), status(s)) {
                (Some(q), Some(s)) => {
                    out.q850_to_sip.insert(q, s);
                }
                (None, _) => self.invalid(file, c, "q850_to_sip", Problem::Cause(q)),
                (_, None) => self.invalid(file, c, "q850_to_sip", Problem::SipStatus(s)),
            }
        }
        for (&s, &q) in &c.value.sip_to_q850 {
            match (status(s), cause(q)) {
                (Some(s), Some(q)) => {
                    out.sip_to_q850.insert(s, q);
                }
                (None, _) => self.invalid(file, c, "sip_to_q850", Problem::SipStatus(s)),
                (_, None) => self.invalid(file, c, "sip_to_q850", Problem::Cause(q)),
            }
        }
        out
    }
}

fn parse_source(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

fn join<T: fmt::Display>(items: impl Iterator<Item = T>) -> String {
    let list: Vec<String> = items.map(|i| i.to_string()).collect();
    if list.is_empty() {
        "none".to_owned()
    } else {
        list.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Result<RoutingTable, LoadErrors> {
        RoutingTable::from_sources(&[(Path::new("t.yaml"), yaml)])
    }

    fn first_error(yaml: &str) -> String {
        match load(yaml) {
            Ok(_) => panic!("loaded: {yaml}"),
            Err(e) => e.0[0].to_string(),
        }
    }

    #[test]
    fn load_errors_name_file_line_column_key_and_what_is_allowed() {
        let table: &[(&str, &str)] = &[
            (
                "dial_peers:\n  - {tag: 1, type: voip, bogus: 1}\n",
                "t.yaml:2:26: unknown field `bogus`",
            ),
            (
                "dial_peers:\n  - {tag: 1, type: voip, huntstop: yes}\n",
                "t.yaml:2:36: invalid boolean",
            ),
            (
                "dial_peers:\n  - {tag: 0, type: voip}\n",
                "t.yaml:2:11: `tag`: 0 is out of range (allowed: 1-2147483647",
            ),
            (
                "dial_peers:\n  - {tag: 1, type: voip, destination_pattern: \"2x\"}\n",
                "t.yaml:2:47: `destination_pattern`: character 'x' at position 1",
            ),
            (
                "dial_peers:\n  - {tag: 1, type: voip, prefix: \"9\"}\n",
                "t.yaml:2:34: `prefix`: allowed on POTS peers only",
            ),
            (
                "dial_peers:\n  - {tag: 1, type: pots, port: s1, symmetric_rtp: true}\n",
                "t.yaml:2:51: `symmetric_rtp`: allowed on VoIP peers only",
            ),
            (
                "dial_peers:\n  - {tag: 1, type: voip, symmetric_rtp: 1}\n",
                "t.yaml:2:41: invalid boolean",
            ),
            (
                "dial_peers:\n  - {tag: 1, type: voip, session_target: \"ipv4:10.0.0\"}\n",
                "`session_target`: \"ipv4:10.0.0\" is not a session target",
            ),
            (
                "dial_peers:\n  - {tag: 1, type: pots, destination_pattern: \"9T\", trunk_group: tg}\n",
                "`trunk_group`: no trunk group named \"tg\" is defined (defined: none)",
            ),
            (
                "dial_peers:\n  - {tag: 1, type: pots, destination_pattern: \"9T\"}\n",
                "`port`: an outbound POTS peer",
            ),
            (
                "dial_peers:\n  - {tag: 1, type: voip, preference: 11}\n",
                "`preference`: 11 is out of range (allowed: 0-10",
            ),
            (
                "translation_rules:\n  - id: 1\n    rules:\n      - {precedence: 1, match: \"^9(.*)\", replace: \"\"}\n",
                "t.yaml:4:32: `match`: bare '('",
            ),
            (
                "dial_peers:\n  - tag: 1\n    type: voip\n    tag: 2\n",
                "t.yaml:4:5: duplicate mapping key: tag",
            ),
        ];
        for (yaml, expected) in table {
            let got = first_error(yaml);
            assert!(got.contains(expected), "got {got:?}, want {expected:?}");
        }
    }

    #[test]
    fn duplicate_tag_across_files_is_an_error_naming_both_places() {
        let a = "dial_peers:\n  - {tag: 7, type: voip}\n";
        let b = "\ndial_peers:\n  - {tag: 7, type: voip}\n";
        let err = RoutingTable::from_sources(&[(Path::new("a.yaml"), a), (Path::new("b.yaml"), b)])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "b.yaml:3:11: `tag`: duplicate dial-peer tag 7, first defined at a.yaml:2:11"
        );
    }

    #[test]
    fn every_error_is_reported_and_nothing_is_half_loaded() {
        let yaml = "dial_peers:\n  - {tag: 1, type: voip, preference: 20}\n  - {tag: 2, type: pots, session_target: \"ipv4:1.2.3.4\"}\n";
        assert_eq!(load(yaml).unwrap_err().0.len(), 2);
    }

    #[test]
    fn trusted_sources_default_to_ipv4_targets_and_explicit_list_replaces_them() {
        let yaml = "dial_peers:\n  - {tag: 1, type: voip, session_target: \"ipv4:192.0.2.7:5070\"}\n  - {tag: 2, type: voip, session_target: \"dns:sbc.example.com\"}\n";
        let t = load(yaml).unwrap();
        assert!(t.is_trusted("192.0.2.7".parse().unwrap()));
        assert!(!t.is_trusted("192.0.2.8".parse().unwrap()));
        let yaml = format!("trusted_sources: [\"10.0.0.0/8\", \"2001:db8::1\"]\n{yaml}");
        let t = load(&yaml).unwrap();
        assert!(t.is_trusted("10.9.8.7".parse().unwrap()));
        assert!(t.is_trusted("2001:db8::1".parse().unwrap()));
        assert!(!t.is_trusted("192.0.2.7".parse().unwrap()));
    }

    #[test]
    fn session_target_parse_table() {
        let table = [
            ("ipv4:10.1.1.10:5060", Some("10.1.1.10:5060")),
            ("ipv4:10.1.1.10", Some("10.1.1.10:5060")),
            ("dns:sbc.example.com:5061", Some("sbc.example.com:5061")),
            ("ipv4:10.1.1:5060", None),
            ("ipv4:10.1.1.10:0", None),
            ("ipv4:10.1.1.10:99999", None),
            ("dns:bad_name", None),
            ("sip:x", None),
            ("", None),
        ];
        for (text, expected) in table {
            assert_eq!(
                SessionTarget::parse(text).map(|t| t.to_string()).as_deref(),
                expected,
                "{text}"
            );
        }
    }
}
