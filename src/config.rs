//! Hardware YAML: the span definitions in `hardware/*.yaml`.
//!
//! A file holds a list of spans:
//!
//! ```yaml
//! spans:
//!   - name: span1
//!     type: t1            # t1 | e1
//!     framing: esf        # T1 only: esf (default) | sf
//!     line: tcp://127.0.0.1:7001
//!     side: network       # user | network: which side of the PRI the gateway plays
//!     switch: national    # national | 5ess | dms100 | euroisdn
//! ```
//!
//! Loading is all or nothing: every file of a directory is parsed and checked before any
//! span is handed out, and a mistake names `file:line:column`, the key and what the key
//! allows. Parsing uses serde-saphyr with strict booleans, duplicate keys rejected and
//! `deny_unknown_fields` on every struct, so a misspelt key is an error, not a default.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::line::transport::LineSpec;
use crate::line::{Clock, Framing, Law, SpanConfig, T1Framing};
use crate::media::tone::TonePlan;

/// Which side of the user-network interface the gateway plays on a span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The gateway is the user (TE) side; the PBX plays the network.
    User,
    /// The gateway is the network (NT) side, like a central office; the PBX is the user.
    Network,
}

/// The switch variant of the Q.931 dialect spoken on a span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum SwitchType {
    /// National ISDN-2 (NI-2).
    #[serde(rename = "national")]
    National,
    /// AT&T / Lucent 5ESS custom.
    #[serde(rename = "5ess")]
    Ess5,
    /// Nortel DMS-100.
    #[serde(rename = "dms100")]
    Dms100,
    /// ETSI EuroISDN.
    #[serde(rename = "euroisdn")]
    EuroIsdn,
}

/// One span, checked and ready to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanDef {
    /// The span's name, unique across the hardware files (dial peers refer to it).
    pub name: String,
    /// Where the bytes come from.
    pub line: LineSpec,
    /// What the sans-IO span needs: framing, law, clock and alarm timers.
    pub config: SpanConfig,
    pub side: Side,
    pub switch: SwitchType,
    /// B-channel numbers in service on this span, ascending (Q.931 channel numbers).
    pub b_channels: Vec<u8>,
    /// Where to write the D-channel capture, if anywhere.
    pub pcap: Option<PathBuf>,
    /// Serial speed in bits per second (ignored for TCP and pseudo-terminals).
    pub baud: u32,
    /// Ringback, busy and congestion tones the gateway plays into this span's
    /// B-channels: `us`, `uk` or `eu` (default `us` on mu-law spans, `eu` on A-law).
    pub tone_plan: TonePlan,
    pub description: Option<String>,
    /// The file the span was defined in, for messages.
    pub source: PathBuf,
}

/// A hardware configuration: every span of every file loaded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hardware {
    pub spans: Vec<SpanDef>,
}

impl Hardware {
    /// Load a file, or every `*.yaml`/`*.yml` file directly inside a directory (not its
    /// subdirectories, so `hardware/examples/` stays out of the running set).
    pub fn load(path: &Path) -> Result<Hardware, Error> {
        let files = yaml_files(path)?;
        let mut spans: Vec<SpanDef> = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).map_err(|source| Error::Io {
                path: file.clone(),
                source,
            })?;
            for span in parse_file(file, &text)? {
                if let Some(first) = spans.iter().find(|s| s.name == span.name) {
                    return Err(Error::DuplicateSpan {
                        name: span.name,
                        first: first.source.clone(),
                        second: file.clone(),
                    });
                }
                spans.push(span);
            }
        }
        Ok(Hardware { spans })
    }

    /// The span called `name`.
    pub fn span(&self, name: &str) -> Option<&SpanDef> {
        self.spans.iter().find(|s| s.name == name)
    }
}

/// Why a hardware configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: no *.yaml files in this directory", path.display())]
    NoFiles { path: PathBuf },
    /// The YAML did not parse or did not fit the schema (serde-saphyr's message, with
    /// the location and a snippet).
    #[error("{}:{message}", path.display())]
    Syntax { path: PathBuf, message: String },
    /// The YAML fits the schema but a value is wrong for its span.
    #[error("{}:{line}:{column}: `{key}`: {problem}", path.display())]
    Invalid {
        path: PathBuf,
        line: u32,
        column: u32,
        key: &'static str,
        problem: String,
    },
    #[error("span `{name}` is defined twice: in {} and in {}", first.display(), second.display())]
    DuplicateSpan {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
}

/// The YAML files `path` names: itself, or the YAML files directly inside it, sorted so
/// that loading is reproducible.
fn yaml_files(path: &Path) -> Result<Vec<PathBuf>, Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    if !path.is_dir() {
        // Surface "no such file" here rather than as a read error later.
        std::fs::metadata(path).map_err(io)?;
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io)? {
        let entry = entry.map_err(io)?;
        let p = entry.path();
        let is_yaml = matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
        if is_yaml && p.is_file() {
            files.push(p);
        }
    }
    if files.is_empty() {
        return Err(Error::NoFiles {
            path: path.to_path_buf(),
        });
    }
    files.sort();
    Ok(files)
}

/// Parse and check one file's text. `path` is only used in messages.
pub fn parse_file(path: &Path, text: &str) -> Result<Vec<SpanDef>, Error> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
    };
    let raw: RawFile =
        serde_saphyr::from_str_with_options(text, options).map_err(|e| syntax_error(path, &e))?;
    let mut spans: Vec<SpanDef> = Vec::with_capacity(raw.spans.len());
    for raw_span in raw.spans {
        let span = raw_span.check(path)?;
        if spans.iter().any(|s| s.name == span.name) {
            return Err(Error::DuplicateSpan {
                name: span.name,
                first: path.to_path_buf(),
                second: path.to_path_buf(),
            });
        }
        spans.push(span);
    }
    Ok(spans)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    spans: Vec<RawSpan>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum SpanType {
    T1,
    E1,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawFraming {
    Esf,
    Sf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawClock {
    Line,
    Internal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawLaw {
    Mulaw,
    Alaw,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpan {
    name: Spanned<String>,
    #[serde(rename = "type")]
    kind: Spanned<SpanType>,
    framing: Option<Spanned<RawFraming>>,
    crc4: Option<Spanned<bool>>,
    line: Spanned<String>,
    clock: Option<RawClock>,
    side: Side,
    switch: Option<SwitchType>,
    b_channels: Option<Spanned<String>>,
    law: Option<RawLaw>,
    alarms: Option<RawAlarms>,
    pcap: Option<PathBuf>,
    baud: Option<Spanned<u32>>,
    tone_plan: Option<TonePlan>,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlarms {
    red_after_ms: Option<Spanned<u64>>,
    recovery_after_ms: Option<Spanned<u64>>,
    los_after_ms: Option<Spanned<u64>>,
}

impl RawSpan {
    fn check(self, path: &Path) -> Result<SpanDef, Error> {
        let invalid =
            |at: &serde_saphyr::Location, key: &'static str, problem: String| Error::Invalid {
                path: path.to_path_buf(),
                line: at.line() as u32,
                column: at.column() as u32,
                key,
                problem,
            };
        let name = self.name.value.trim().to_string();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(invalid(
                &self.name.referenced,
                "name",
                format!(
                    "{:?} is not a span name: use letters, digits, '-', '_' or '.'",
                    self.name.value
                ),
            ));
        }

        let framing = match self.kind.value {
            SpanType::T1 => {
                if let Some(crc4) = &self.crc4 {
                    return Err(invalid(
                        &crc4.referenced,
                        "crc4",
                        "only E1 spans have CRC-4; T1 uses `framing: esf | sf`".into(),
                    ));
                }
                match self.framing.as_ref().map(|f| f.value) {
                    None | Some(RawFraming::Esf) => Framing::T1(T1Framing::Esf),
                    Some(RawFraming::Sf) => Framing::T1(T1Framing::Sf),
                }
            }
            SpanType::E1 => {
                if let Some(f) = &self.framing {
                    return Err(invalid(
                        &f.referenced,
                        "framing",
                        "only T1 spans have esf/sf framing; E1 uses `crc4: true | false`".into(),
                    ));
                }
                Framing::E1 {
                    crc4: self.crc4.as_ref().is_none_or(|c| c.value),
                }
            }
        };

        let mut config = SpanConfig::new(framing);
        if let Some(law) = self.law {
            config.law = match law {
                RawLaw::Mulaw => Law::MuLaw,
                RawLaw::Alaw => Law::ALaw,
            };
        }
        config.clock = match self.clock {
            None | Some(RawClock::Line) => Clock::Line,
            Some(RawClock::Internal) => Clock::Internal,
        };
        if let Some(alarms) = &self.alarms {
            let timers = [
                (
                    &alarms.red_after_ms,
                    "red_after_ms",
                    &mut config.red_alarm_after,
                ),
                (
                    &alarms.recovery_after_ms,
                    "recovery_after_ms",
                    &mut config.recovery_after,
                ),
                (&alarms.los_after_ms, "los_after_ms", &mut config.los_after),
            ];
            for (value, key, slot) in timers {
                let Some(v) = value else { continue };
                if !(1..=600_000).contains(&v.value) {
                    return Err(invalid(
                        &v.referenced,
                        key,
                        format!("{} ms is out of range: allowed 1 to 600000", v.value),
                    ));
                }
                *slot = Duration::from_millis(v.value);
            }
        }

        let line = LineSpec::parse(&self.line.value)
            .map_err(|e| invalid(&self.line.referenced, "line", e.to_string()))?;

        let all = valid_b_channels(framing);
        let b_channels = match &self.b_channels {
            None => all.clone(),
            Some(text) => parse_channel_list(&text.value, &all)
                .map_err(|problem| invalid(&text.referenced, "b_channels", problem))?,
        };

        let default_baud = match framing {
            // A serial byte costs 10 bits on the wire (8N1): T1 needs 1.93 Mbaud, E1 2.56.
            Framing::T1(_) => 2_000_000,
            Framing::E1 { .. } => 3_000_000,
        };
        let baud = match &self.baud {
            None => default_baud,
            Some(b) if (1200..=12_000_000).contains(&b.value) => b.value,
            Some(b) => {
                return Err(invalid(
                    &b.referenced,
                    "baud",
                    format!("{} is out of range: allowed 1200 to 12000000", b.value),
                ));
            }
        };

        let switch = self.switch.unwrap_or(match framing {
            Framing::T1(_) => SwitchType::National,
            Framing::E1 { .. } => SwitchType::EuroIsdn,
        });

        let tone_plan = self.tone_plan.unwrap_or(TonePlan::for_law(config.law));
        Ok(SpanDef {
            name,
            line,
            config,
            side: self.side,
            switch,
            b_channels,
            pcap: self.pcap,
            baud,
            tone_plan,
            description: self.description,
            source: path.to_path_buf(),
        })
    }
}

/// A serde-saphyr error as `file:line:column: message`, followed by its snippet with
/// the file's name in the header.
pub(crate) fn syntax_error(path: &Path, e: &serde_saphyr::Error) -> Error {
    let name = path.display().to_string();
    let rendered = e.render_with_options(serde_saphyr::render_options! {
        source_name: Some(name.as_str()),
    });
    let message = match e.location() {
        Some(at) => format!("{}:{}: {rendered}", at.line(), at.column()),
        None => rendered,
    };
    Error::Syntax {
        path: path.to_path_buf(),
        message,
    }
}

/// The B-channels a span of this framing has: T1 1..=23, E1 1..=15 and 17..=31 (the
/// Q.931 channel number on E1 is the timeslot number; TS16 is the D-channel).
pub fn valid_b_channels(framing: Framing) -> Vec<u8> {
    match framing {
        Framing::T1(_) => (1..=23).collect(),
        Framing::E1 { .. } => (1..=31).filter(|&c| c != 16).collect(),
    }
}

/// Parse `"1-15,17-31"` or `"1-5, 9"` into channel numbers, each one of `valid`.
pub(crate) fn parse_channel_list(text: &str, valid: &[u8]) -> Result<Vec<u8>, String> {
    let allowed = || {
        let first = valid.first().copied().unwrap_or(0);
        let last = valid.last().copied().unwrap_or(0);
        format!("channels {first}-{last}, as a list of numbers and ranges like \"1-5,9\"")
    };
    let mut out = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let (Ok(lo), Ok(hi)) = (lo.parse::<u8>(), hi.parse::<u8>()) else {
            return Err(format!(
                "{part:?} is not a channel or range; allowed: {}",
                allowed()
            ));
        };
        if lo > hi {
            return Err(format!("range {part:?} runs backwards"));
        }
        for c in lo..=hi {
            if !valid.contains(&c) {
                return Err(format!(
                    "channel {c} is not a B-channel of this span; allowed: {}",
                    allowed()
                ));
            }
            if out.contains(&c) {
                return Err(format!("channel {c} is listed twice"));
            }
            out.push(c);
        }
    }
    out.sort_unstable();
    Ok(out)
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::User => "user",
            Side::Network => "network",
        })
    }
}

impl fmt::Display for SwitchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SwitchType::National => "national",
            SwitchType::Ess5 => "5ess",
            SwitchType::Dms100 => "dms100",
            SwitchType::EuroIsdn => "euroisdn",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<SpanDef>, Error> {
        parse_file(Path::new("test.yaml"), text)
    }

    #[test]
    fn t1_minimal_span_gets_the_contract_defaults() {
        let spans = parse("spans:\n  - name: span1\n    type: t1\n    line: tcp://127.0.0.1:7001\n    side: user\n").unwrap();
        let s = &spans[0];
        assert_eq!(s.config.framing, Framing::T1(T1Framing::Esf));
        assert_eq!(s.config.law, Law::MuLaw);
        assert_eq!(s.config.clock, Clock::Line);
        assert_eq!(s.config.red_alarm_after, Duration::from_millis(2500));
        assert_eq!(s.config.recovery_after, Duration::from_secs(10));
        assert_eq!(s.b_channels, (1..=23).collect::<Vec<u8>>());
        assert_eq!(s.switch, SwitchType::National);
    }

    #[test]
    fn e1_span_defaults_to_crc4_alaw_and_30_channels() {
        let spans = parse("spans:\n  - name: e\n    type: e1\n    line: /dev/ttyS1\n    side: network\n    alarms: { red_after_ms: 100, recovery_after_ms: 200 }\n").unwrap();
        let s = &spans[0];
        assert_eq!(s.config.framing, Framing::E1 { crc4: true });
        assert_eq!(s.config.law, Law::ALaw);
        assert_eq!(s.b_channels.len(), 30);
        assert!(!s.b_channels.contains(&16));
        assert_eq!(s.config.red_alarm_after, Duration::from_millis(100));
        assert_eq!(s.switch, SwitchType::EuroIsdn);
    }

    #[test]
    fn tone_plan_follows_the_law_unless_named() {
        // (span type and extra keys, tone plan)
        let rows = [
            ("t1", "", TonePlan::Us),
            ("e1", "", TonePlan::Eu),
            ("t1", "    law: alaw\n", TonePlan::Eu),
            ("e1", "    tone_plan: uk\n", TonePlan::Uk),
            ("t1", "    tone_plan: eu\n", TonePlan::Eu),
        ];
        for (kind, extra, plan) in rows {
            let text = format!(
                "spans:\n  - name: s\n    type: {kind}\n    line: tcp://h:1\n    side: network\n{extra}"
            );
            assert_eq!(parse(&text).unwrap()[0].tone_plan, plan, "{kind} {extra:?}");
        }
        let err = parse("spans:\n  - name: s\n    type: e1\n    line: tcp://h:1\n    side: user\n    tone_plan: fr\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("test.yaml:6") && err.contains("fr"), "{err}");
    }

    #[test]
    fn unknown_key_is_an_error_with_its_location() {
        let err = parse("spans:\n  - name: span1\n    type: t1\n    line: tcp://h:1\n    side: user\n    framming: esf\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("framming"), "{err}");
        assert!(err.contains("test.yaml"), "{err}");
        assert!(err.contains('6'), "line number missing: {err}");
    }

    #[test]
    fn strict_booleans_refuse_yes() {
        let err = parse("spans:\n  - name: e\n    type: e1\n    crc4: yes\n    line: tcp://h:1\n    side: user\n")
            .unwrap_err();
        assert!(matches!(err, Error::Syntax { .. }), "{err}");
    }

    #[test]
    fn crc4_on_t1_names_key_line_and_column() {
        let err = parse("spans:\n  - name: s\n    type: t1\n    crc4: true\n    line: tcp://h:1\n    side: user\n")
            .unwrap_err();
        match err {
            Error::Invalid {
                key, line, column, ..
            } => {
                assert_eq!((key, line, column), ("crc4", 4, 11));
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn channel_16_on_e1_is_refused() {
        let err = parse("spans:\n  - name: s\n    type: e1\n    line: tcp://h:1\n    side: user\n    b_channels: 1-16\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("channel 16"), "{err}");
        assert!(err.contains(":6:"), "{err}");
    }

    #[test]
    fn bad_line_url_is_refused_with_the_forms_allowed() {
        let err = parse("spans:\n  - name: s\n    type: t1\n    line: udp://h:1\n    side: user\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`line`"), "{err}");
        assert!(err.contains("tcp://"), "{err}");
    }

    #[test]
    fn duplicate_span_names_in_one_file_are_refused() {
        let one = "  - name: s\n    type: t1\n    line: tcp://h:1\n    side: user\n";
        let err = parse(&format!("spans:\n{one}{one}")).unwrap_err();
        assert!(matches!(err, Error::DuplicateSpan { .. }), "{err}");
    }

    #[test]
    fn channel_list_accepts_ranges_and_singles() {
        let valid: Vec<u8> = (1..=23).collect();
        assert_eq!(
            parse_channel_list("1-3, 7", &valid).unwrap(),
            vec![1, 2, 3, 7]
        );
        assert!(parse_channel_list("3-1", &valid).is_err());
        assert!(parse_channel_list("1,1", &valid).is_err());
        assert!(parse_channel_list("x", &valid).is_err());
        assert!(parse_channel_list("24", &valid).is_err());
    }
}
