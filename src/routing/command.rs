//! The routing commands of the CLI: `dialgate dialplan`, `check` and `schema`.
//!
//! A thin shell: read files, call the pure table/explain/lint code, print. Errors go
//! to stderr and become a non-zero exit status.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;

use super::lint::{self, Severity};
use super::router::Origin;
use super::table::{PeerKind, Port, RoutingTable};
use super::translation::Number;
use super::{CallRequest, Idle};
use crate::cli::{CheckArgs, DialplanArgs, SchemaArgs};
use crate::config::Hardware;

fn load(path: &Path) -> Option<RoutingTable> {
    match RoutingTable::load(path) {
        Ok(t) => Some(t),
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("error: {e}");
            }
            None
        }
    }
}

/// `dialgate dialplan NUMBER [--calling N] [--from SPAN | --from-ip ADDR] [--json]`.
pub fn dialplan(args: &DialplanArgs) -> ExitCode {
    let Some(table) = load(&args.dial_peers) else {
        return ExitCode::FAILURE;
    };
    let origin = match (&args.from, args.from_ip) {
        (_, Some(ip)) => Origin::Sip(ip),
        (Some(span), None) => Origin::Span(span.clone()),
        (None, None) => {
            let span = first_span(&table);
            eprintln!("note: no --from or --from-ip given; assuming a PRI call on span {span}");
            Origin::Span(span)
        }
    };
    let request = CallRequest {
        origin,
        called: Number::new(args.number.clone()),
        calling: args.calling.clone().map(Number::new),
        seed: 0,
    };
    let explanation = table.explain(&request, &Idle);
    if args.json {
        match serde_json::to_string_pretty(&explanation) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", explanation.to_text());
    }
    ExitCode::SUCCESS
}

/// The span a `dialplan` without `--from` assumes: the first one the peers name.
fn first_span(table: &RoutingTable) -> String {
    let mut spans: BTreeSet<String> = table
        .trunk_groups()
        .values()
        .flat_map(|g| g.spans.clone())
        .collect();
    for p in table.peers() {
        if let PeerKind::Pots(pots) = &p.kind
            && let Port::Span(s) = &pots.port
        {
            spans.insert(s.clone());
        }
    }
    spans
        .into_iter()
        .next()
        .unwrap_or_else(|| "span1".to_owned())
}

/// `dialgate check [--dial-peers PATH] [--hardware DIR] [--json]`.
pub fn check(args: &CheckArgs) -> ExitCode {
    let Some(table) = load(&args.dial_peers) else {
        return ExitCode::FAILURE;
    };
    let hardware = match &args.hardware {
        // The line layer's own loader: the spans `dialgate run` would open, and its
        // errors as it prints them (they name the file, and line:column when known).
        Some(path) => match Hardware::load(path) {
            Ok(hw) => Some(
                hw.spans
                    .into_iter()
                    .map(|s| s.name)
                    .collect::<BTreeSet<_>>(),
            ),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let findings = lint::check(&table, hardware.as_ref());
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = findings.len() - errors;
    if args.json {
        match serde_json::to_string_pretty(&findings) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        for f in &findings {
            println!("{f}");
        }
        println!(
            "{}: {} file(s), {} dial peer(s), {errors} error(s), {warnings} warning(s)",
            if errors == 0 { "ok" } else { "FAILED" },
            table.files().len(),
            table.peers().len()
        );
    }
    if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `dialgate schema`: the JSON Schema of a dial-peer file.
pub fn schema(_: &SchemaArgs) -> ExitCode {
    println!("{}", super::schema_json());
    ExitCode::SUCCESS
}
