//! Routing benchmarks: outbound lookup at 100 to 100,000 destination patterns, and
//! loading + compiling 100,000 peers from YAML.
//!
//! Run: `cargo bench --bench routing`. Targets (issue): lookup median <= 100 ns at
//! 100,000 patterns, at most 3x the 100-pattern figure; load <= 100 ms.
//!
//! * `outbound_lookup/lookup/N`: [`RoutingTable::lookup_outbound`] for one already
//!   parsed [`Digits`] among the VoIP peers of an N-peer plan: the trie walk plus the
//!   hunt ordering (explicit digits, preference, tag), into a reused buffer, so the
//!   ordered candidate list the hunt consumes, with no allocation. The queries cycle
//!   through 64 numbers: three in four are built to hit a peer (some hit several),
//!   one in four is a random 10-digit number, a miss at small N.
//! * `outbound_lookup/hunt/N`: [`RoutingTable::hunt`] on the same queries: what the
//!   mapper gets, with `Arc`s to the peers, tie-break and the skip checks against
//!   runtime state, in freshly allocated lists.
//! * `outbound_lookup/linear_scan/N`: every pattern's exact matcher, for scale.
//! * `load/parse_100k`: serde-saphyr parsing the 100,000-peer file into the schema
//!   types ([`RoutingTable::parse`]); `load/compile_100k`: checking and compiling
//!   the parsed file ([`RoutingTable::compile`]); `load/from_sources_100k`: both, as
//!   `RoutingTable::load` does after reading the file. `load/parse_100k_ignored`:
//!   serde-saphyr parsing the same file into [`serde::de::IgnoredAny`] with the same
//!   options ([`RoutingTable::parse_options`]): the YAML scanner and parser alone,
//!   no schema type built, the floor of what any load through the mandated parser
//!   costs.
//!
//! Each plan is built on first use, so a run filtered to one benchmark builds only
//! its own: `cargo bench --bench routing -- --profile-time 5 outbound_lookup/lookup/100000`
//! under `valgrind --tool=callgrind --collect-atstart=no
//! --toggle-collect='*lookup_outbound*'` counts the instructions of the lookups alone.

use std::cell::OnceCell;
use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use dialgate::routing::dial_peer::PeerType;
use dialgate::routing::pattern::{Digits, Pattern};
use dialgate::routing::{Idle, RoutingTable};

/// A plan of `n` VoIP peers: mostly 7- to 11-digit DID blocks (`NXXNXX....`), some
/// with a `[2-9]` class, some open-ended, seeded so every run builds the same plan.
fn plan(n: usize) -> (String, Vec<String>) {
    let mut rng = fastrand::Rng::with_seed(7);
    let mut yaml = String::with_capacity(n * 120);
    yaml.push_str("dial_peers:\n");
    let mut numbers = Vec::with_capacity(n);
    for i in 0..n {
        let lits: String = (0..rng.usize(4..8))
            .map(|_| char::from(b'0' + rng.u8(0..10)))
            .collect();
        let (pattern, number) = match i % 10 {
            0 => (format!("{lits}[2-9]..."), format!("{lits}5123")),
            1 => (format!("{lits}T"), format!("{lits}99887")),
            _ => (format!("{lits}....$"), format!("{lits}1234")),
        };
        yaml.push_str(&format!(
            "  - {{tag: {}, type: voip, destination_pattern: \"{pattern}\", session_target: \"ipv4:10.0.{}.{}\", preference: {}}}\n",
            i + 1,
            (i / 250) % 256,
            i % 250 + 1,
            i % 3
        ));
        numbers.push(number);
    }
    // A random 10-digit number after every three built to hit.
    let mut mixed = Vec::with_capacity(n + n / 3);
    for (i, number) in numbers.into_iter().enumerate() {
        mixed.push(number);
        if i % 3 == 2 {
            mixed.push((0..10).map(|_| char::from(b'0' + rng.u8(0..10))).collect());
        }
    }
    (yaml, mixed)
}

fn load(yaml: &str) -> RoutingTable {
    RoutingTable::from_sources(&[(Path::new("bench.yaml"), yaml)]).expect("bench plan loads")
}

/// A plan of `n` peers loaded, with the 64 queries: built on first use, so a run
/// filtered to one benchmark (a profile under callgrind) builds only its plan.
struct Setup {
    table: RoutingTable,
    queries: Vec<Digits>,
    /// Every destination pattern, for the linear scan.
    patterns: Vec<Pattern>,
}

fn setup(n: usize) -> Setup {
    let (yaml, numbers) = plan(n);
    let table = load(&yaml);
    let queries = numbers
        .iter()
        .step_by((numbers.len() / 64).max(1))
        .map(|s| Digits::parse(s).expect("number"))
        .collect();
    let patterns = table
        .peers()
        .iter()
        .filter_map(|p| p.destination_pattern.clone())
        .collect();
    Setup {
        table,
        queries,
        patterns,
    }
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("outbound_lookup");
    for n in [100, 1_000, 10_000, 100_000] {
        let lazy = OnceCell::new();
        let get = || lazy.get_or_init(|| setup(n));
        let mut i = 0;
        let mut hits = Vec::with_capacity(16);
        group.bench_with_input(BenchmarkId::new("lookup", n), &n, |b, _| {
            let Setup { table, queries, .. } = get();
            b.iter(|| {
                i = (i + 1) % queries.len();
                table.lookup_outbound(black_box(&queries[i]), &[PeerType::Voip], &mut hits);
                black_box(hits.first().copied())
            });
        });
        group.bench_with_input(BenchmarkId::new("hunt", n), &n, |b, _| {
            let Setup { table, queries, .. } = get();
            b.iter(|| {
                i = (i + 1) % queries.len();
                black_box(table.hunt(black_box(&queries[i]), &[PeerType::Voip], &Idle, 0))
            });
        });
        if n == 100 || n == 100_000 {
            // Baseline: what a linear scan over every pattern costs.
            let mut j = 0;
            group.bench_with_input(BenchmarkId::new("linear_scan", n), &n, |b, _| {
                let Setup {
                    queries, patterns, ..
                } = get();
                b.iter(|| {
                    j = (j + 1) % queries.len();
                    let q = &queries[j];
                    black_box(
                        patterns
                            .iter()
                            .filter_map(|p| p.matches(q))
                            .map(|m| m.explicit)
                            .max(),
                    )
                });
            });
        }
    }
    group.finish();
}

fn load_100k(c: &mut Criterion) {
    let path = Path::new("bench.yaml");
    let lazy = OnceCell::new();
    let get = || {
        lazy.get_or_init(|| {
            let (yaml, _) = plan(100_000);
            let parsed = [RoutingTable::parse(path, &yaml).expect("bench plan parses")];
            (yaml, parsed)
        })
    };
    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    group.bench_function("parse_100k", |b| {
        let (yaml, _) = get();
        b.iter(|| black_box(RoutingTable::parse(path, black_box(yaml))))
    });
    group.bench_function("parse_100k_ignored", |b| {
        let (yaml, _) = get();
        let ignore = |yaml: &str| -> Result<serde::de::IgnoredAny, _> {
            serde_saphyr::from_str_with_options(yaml, RoutingTable::parse_options())
        };
        // Timing an early error would say nothing: the file must parse.
        ignore(yaml).expect("bench plan parses");
        b.iter(|| black_box(ignore(black_box(yaml)).is_ok()))
    });
    group.bench_function("compile_100k", |b| {
        let (_, parsed) = get();
        b.iter(|| black_box(RoutingTable::compile(black_box(parsed))))
    });
    group.bench_function("from_sources_100k", |b| {
        let (yaml, _) = get();
        b.iter(|| black_box(load(black_box(yaml))))
    });
    group.finish();
}

criterion_group!(benches, lookup, load_100k);
criterion_main!(benches);
