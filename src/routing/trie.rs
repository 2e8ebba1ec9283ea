//! The digit trie the router looks numbers up in: one per (peer type, match key).
//!
//! ```text
//!   patterns ──TrieBuilder::insert──▶ linked build arena ──freeze──▶ Trie (one array)
//!   number   ──Trie::lookup──────────▶ every (peer, explicit digits, matched length)
//! ```
//!
//! Simple patterns (literals, `.`, `[..]`, a final `T`, `$`) are spelled out with one
//! edge per character set, so a walk follows only the branches the number can take;
//! patterns with groups or quantifiers hang off the node of their literal prefix and
//! are checked with the exact matcher.
//!
//! Frozen, each node is one record in a single word array, laid out depth first (see
//! [`Trie`]): its literal-digit children are a dense list compressed by a 17-bit
//! presence mask, found by the digit's rank (stored per digit, so no population
//! count), so a lookup step is one mask test and one load whatever the fan-out, with
//! no hashing and no allocation; only the (few) wildcard edges of a node are scanned.
//! A chain of characters with nothing branching or ending in between (the `....` of a
//! DID block, the digits after a prefix becomes unique) is one run, so the walk at
//! 100,000 patterns visits about as many records as at 100; a dense, plain top (every
//! plan of long numbers) is one direct table. Each terminal carries its peer's
//! preference, so the router orders hits as the walk reports them.

use std::sync::Arc;

use super::pattern::{ANY_DIGIT, Digits, Item, Pattern, PatternMatch, T_MAX_DIGITS};
use super::table::DialPeer;

/// Which attribute a trie indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Key {
    DestinationPattern,
    IncomingCalledNumber,
    AnswerAddress,
}

impl Key {
    pub(crate) fn of(self, peer: &DialPeer) -> Option<&Pattern> {
        match self {
            Self::DestinationPattern => peer.destination_pattern.as_ref(),
            Self::IncomingCalledNumber => peer.incoming_called_number.as_ref(),
            Self::AnswerAddress => peer.answer_address.as_ref(),
        }
    }
}

/// How a simple pattern ends, checked against what is left of the number. The
/// discriminant is the code a frozen terminal stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum End {
    /// No `$`: longer numbers match too.
    Open = 0,
    /// `$`: the number must end here.
    Exact = 1,
    /// `T` without `$`: any rest.
    T = 2,
    /// `T$`: at most 32 more digits.
    TExact = 3,
}

/// One match found by a trie walk: the peer's index in the table and the match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    /// Index into [`super::RoutingTable::peers`].
    pub peer: u32,
    /// The match.
    pub matched: PatternMatch,
}

/// End of a linked list in the build arena.
const NIL: u32 = u32::MAX;

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A build node: heads of singly linked lists in the builder's arenas, so inserting
/// 100,000 patterns allocates a few growing vectors rather than three per node.
#[derive(Clone, Copy, Debug)]
struct BuildNode {
    /// Literal digits that already have an edge here (skips the scan for a new one).
    lit: u32,
    edges: u32,
    terminals: u32,
    complex: u32,
}

impl BuildNode {
    const EMPTY: Self = Self {
        lit: 0,
        edges: NIL,
        terminals: NIL,
        complex: NIL,
    };
}

/// One pattern character while building: the set it accepts and whether it is a
/// literal (explicit) digit.
#[derive(Clone, Copy, Debug)]
struct BuildEdge {
    mask: u32,
    explicit: bool,
    child: u32,
    next: u32,
}

/// A linked list entry of peers ending at (or hanging off) a build node.
#[derive(Clone, Copy, Debug)]
struct BuildPeer {
    peer: u32,
    end: End,
    /// The peer's preference, kept with its terminal for the hunt order.
    preference: u8,
    next: u32,
}

/// Build-time trie; [`TrieBuilder::freeze`] flattens it for lookups.
#[derive(Clone, Debug)]
pub(crate) struct TrieBuilder {
    pub(crate) key: Key,
    nodes: Vec<BuildNode>,
    edges: Vec<BuildEdge>,
    /// Terminals and complex patterns share one arena; each list knows which it is.
    peers: Vec<BuildPeer>,
}

impl TrieBuilder {
    pub(crate) fn new(key: Key) -> Self {
        Self {
            key,
            nodes: vec![BuildNode::EMPTY],
            edges: Vec::new(),
            peers: Vec::new(),
        }
    }

    /// Room for about `patterns` patterns of typical length, so the arenas do not
    /// regrow while a large plan is inserted.
    pub(crate) fn reserve(&mut self, patterns: usize) {
        self.nodes.reserve(patterns * 6);
        self.edges.reserve(patterns * 6);
        self.peers.reserve(patterns);
    }

    fn child(&mut self, node: u32, mask: u32, explicit: bool) -> u32 {
        let n = self.nodes[node as usize];
        // A literal digit not yet present cannot match an existing edge.
        let known = !explicit || n.lit & mask != 0;
        if known {
            let mut e = n.edges;
            while e != NIL {
                let edge = self.edges[e as usize];
                if edge.mask == mask && edge.explicit == explicit {
                    return edge.child;
                }
                e = edge.next;
            }
        }
        let child = to_u32(self.nodes.len());
        self.nodes.push(BuildNode::EMPTY);
        let edge = to_u32(self.edges.len());
        self.edges.push(BuildEdge {
            mask,
            explicit,
            child,
            next: n.edges,
        });
        let n = &mut self.nodes[node as usize];
        n.edges = edge;
        if explicit {
            n.lit |= mask;
        }
        child
    }

    fn push_peer(&mut self, node: u32, peer: u32, preference: u8, end: Option<End>) {
        let entry = to_u32(self.peers.len());
        let n = &mut self.nodes[node as usize];
        let head = match end {
            Some(_) => &mut n.terminals,
            None => &mut n.complex,
        };
        self.peers.push(BuildPeer {
            peer,
            end: end.unwrap_or(End::Open),
            preference,
            next: *head,
        });
        *head = entry;
    }

    /// Add `peer`'s `pattern`; `preference` orders its hits in the hunt.
    pub(crate) fn insert(&mut self, peer: u32, pattern: &Pattern, preference: u8) {
        let mut node = 0;
        if let Some(body) = pattern.simple_body() {
            for item in body {
                node = match *item {
                    Item::Literal(c) => self.child(node, 1 << c, true),
                    Item::Class(mask) => self.child(node, mask, false),
                    // simple_body holds only literals and classes.
                    Item::Group(_) | Item::Repeat { .. } => node,
                };
            }
            let end = match (pattern.ends_with_t(), pattern.is_end_anchored()) {
                (false, false) => End::Open,
                (false, true) => End::Exact,
                (true, false) => End::T,
                (true, true) => End::TExact,
            };
            self.push_peer(node, peer, preference, Some(end));
        } else {
            for c in pattern.literal_prefix_indices() {
                node = self.child(node, 1 << c, true);
            }
            self.push_peer(node, peer, preference, None);
        }
    }

    /// For each build node, the shortest and longest number any terminal or complex
    /// pattern in its subtree can match, clamped to [`NO_LIMIT`]: a wildcard edge
    /// whose subtree cannot match the number's length is not descended at all (a
    /// `....$` block of another length is the usual dead branch at a prefix).
    fn length_bounds(&self) -> Vec<(u32, u32)> {
        let mut depth = vec![0u32; self.nodes.len()];
        // A child is always created after its parent, so one pass in index order
        // sees every parent's depth first, and one in reverse every child's bounds.
        for (i, n) in self.nodes.iter().enumerate() {
            let mut e = n.edges;
            while e != NIL {
                let edge = self.edges[e as usize];
                depth[edge.child as usize] = depth[i] + 1;
                e = edge.next;
            }
        }
        let mut bounds = vec![(NO_LIMIT, 0); self.nodes.len()];
        for i in (0..self.nodes.len()).rev() {
            let n = self.nodes[i];
            let d = depth[i].min(NO_LIMIT);
            let (mut lo, mut hi) = (NO_LIMIT, 0);
            let mut p = n.terminals;
            while p != NIL {
                let t = self.peers[p as usize];
                let max = match t.end {
                    End::Exact => d,
                    End::TExact => (d + T_MAX_DIGITS).min(NO_LIMIT),
                    End::Open | End::T => NO_LIMIT,
                };
                (lo, hi) = (lo.min(d), hi.max(max));
                p = t.next;
            }
            if n.complex != NIL {
                // Beyond its literal prefix the exact matcher decides.
                (lo, hi) = (lo.min(d), NO_LIMIT);
            }
            let mut e = n.edges;
            while e != NIL {
                let edge = self.edges[e as usize];
                let (clo, chi) = bounds[edge.child as usize];
                (lo, hi) = (lo.min(clo), hi.max(chi));
                e = edge.next;
            }
            bounds[i] = (lo, hi);
        }
        bounds
    }

    /// A node with one edge and nothing ending or hanging off it: part of a run.
    fn passes_through(&self, node: u32) -> Option<BuildEdge> {
        let n = self.nodes.get(node as usize)?;
        if n.terminals != NIL || n.complex != NIL || n.edges == NIL {
            return None;
        }
        let e = self.edges[n.edges as usize];
        (e.next == NIL).then_some(e)
    }

    /// Lay the trie out depth first, one record per node (see [`Trie`]), collapsing
    /// every chain of pass-through nodes into the run of the record it leads to.
    /// Depth first, a node's whole subtree follows it: the deep end of a walk, where
    /// the wildcard branches fan out, stays within a few neighbouring cache lines.
    pub(crate) fn freeze(self) -> Trie {
        let mut words: Vec<u32> = Vec::with_capacity(self.nodes.len() * 6 + self.peers.len() * 2);
        let bounds = self.length_bounds();
        // Sets of the run characters of records not yet laid out.
        let mut runs: Vec<u32> = Vec::with_capacity(self.edges.len());
        // Records still to lay out, last first: the build node, its run (start in
        // `runs`, length), the explicit digits of its edge, and the parent's word to
        // patch with its offset.
        let mut stack: Vec<(u32, u32, u32, u32, usize)> = vec![(0, 0, 0, 0, usize::MAX)];
        let mut edges: Vec<BuildEdge> = Vec::new();
        let mut peers: Vec<BuildPeer> = Vec::new();
        let mut children: Vec<(u32, u32, u32, u32, usize)> = Vec::new();
        while let Some((b, run0, run_len, explicit, slot)) = stack.pop() {
            let o = words.len();
            if let Some(w) = words.get_mut(slot) {
                *w = to_u32(o);
            }
            let n = self.nodes[b as usize];
            edges.clear();
            let mut e = n.edges;
            while e != NIL {
                edges.push(self.edges[e as usize]);
                e = self.edges[e as usize].next;
            }
            // The lists are newest first: back to insertion order, then the literal
            // edges by digit (indexed by rank), wildcard edges after them.
            edges.reverse();
            edges.sort_by_key(|e| if e.explicit { e.mask } else { u32::MAX });
            let n_lit = edges.iter().filter(|e| e.explicit).count();
            let n_wild = edges.len() - n_lit;
            peers.clear();
            for head in [n.terminals, n.complex] {
                let first = peers.len();
                let mut p = head;
                while p != NIL {
                    peers.push(self.peers[p as usize]);
                    p = self.peers[p as usize].next;
                }
                peers[first..].reverse();
            }
            let n_term = list_len(&self.peers, n.terminals);
            let n_complex = peers.len() - n_term;
            let extras = n_term + n_complex + n_wild != 0;
            let run = &runs[run0 as usize..(run0 + run_len) as usize];
            let any_run = !run.is_empty() && run.iter().all(|&m| m & ANY_DIGIT == ANY_DIGIT);
            words.push(
                n.lit
                    | run_len << RUN_SHIFT
                    | if extras { EXTRAS } else { 0 }
                    | explicit << EXPLICIT_SHIFT
                    | if any_run { ANY_RUN } else { 0 },
            );
            if !any_run {
                words.extend_from_slice(run);
            }
            if n_lit >= 2 {
                // Rank of each digit 0-15 among the literal edges, one nibble each
                // (rank <= 15 there), so a step needs no population count.
                let mut ranks = 0u64;
                for d in 0..16 {
                    ranks |= u64::from((n.lit & ((1 << d) - 1)).count_ones()) << (4 * d);
                }
                words.push(ranks as u32);
                words.push((ranks >> 32) as u32);
            }
            // The literal children, then the rest; the children's offsets are patched
            // in as they are laid out.
            let lit0 = words.len();
            words.resize(lit0 + n_lit, 0);
            let mut wild0 = words.len();
            if extras {
                words.extend([to_u32(n_term), to_u32(n_complex), to_u32(n_wild)]);
                for p in &peers[..n_term] {
                    words.push(p.peer);
                    words.push(p.end as u32 | u32::from(p.preference) << 8);
                }
                words.extend(peers[n_term..].iter().map(|p| p.peer));
                wild0 = words.len();
                words.resize(wild0 + 2 * n_wild, 0);
            }
            children.clear();
            for (i, e) in edges.iter().enumerate() {
                let slot = if e.explicit {
                    lit0 + i
                } else {
                    let w = wild0 + 2 * (i - n_lit);
                    let (lo, hi) = bounds[e.child as usize];
                    words[w] = e.mask | lo << MIN_LEN_SHIFT | hi << MAX_LEN_SHIFT;
                    w + 1
                };
                let start = runs.len();
                let mut explicit = u32::from(e.explicit);
                let mut target = e.child;
                while runs.len() - start < MAX_RUN
                    && let Some(step) = self.passes_through(target)
                {
                    runs.push(step.mask);
                    explicit += u32::from(step.explicit);
                    target = step.child;
                }
                children.push((
                    target,
                    to_u32(start),
                    to_u32(runs.len() - start),
                    explicit,
                    slot,
                ));
            }
            // Walk order first: the wildcard children, then the literal ones by digit.
            stack.extend(children[..n_lit].iter().rev());
            stack.extend(children[n_lit..].iter().rev());
        }
        Trie {
            key: self.key,
            direct: Direct::build(&words),
            words,
        }
    }
}

fn list_len(peers: &[BuildPeer], mut p: u32) -> usize {
    let mut n = 0;
    while p != NIL {
        n += 1;
        p = peers[p as usize].next;
    }
    n
}

/// Where the run length sits in a record's first word (the literal mask is below).
const RUN_SHIFT: u32 = 17;
/// The longest run one record holds (6 bits); a longer chain goes on in the next
/// record, as if a node there branched. Numbers are at most 64 long anyway.
const MAX_RUN: usize = 63;
/// Set in a record's first word when it has terminals, complex patterns or wildcard
/// edges: most records have none, and a walk skips the section unread.
const EXTRAS: u32 = 1 << 23;
/// Where the explicit-digit count of the record's edge sits in its first word (7
/// bits: an edge and its run are at most 64 characters).
const EXPLICIT_SHIFT: u32 = 24;
/// Set in a record's first word when every character of its run is any digit (the
/// `...` after a block's prefix): the run's sets are not stored and a walk checks
/// only that the number is long enough. Runs start one character deep at least, and
/// a number has `+` only first, so such a run accepts whatever digits it meets.
const ANY_RUN: u32 = 1 << 31;
/// The explicit-digit count in a record's first word, once shifted down.
const EXPLICIT_MASK: u32 = 0x7F;
/// Where a wildcard edge's word keeps the shortest number its subtree can match
/// (7 bits; the character set is below).
const MIN_LEN_SHIFT: u32 = 17;
/// Where it keeps the longest (7 bits).
const MAX_LEN_SHIFT: u32 = 24;
/// A length bound meaning "any": numbers are at most 64 long.
const NO_LIMIT: u32 = 127;
/// The character set in a wildcard edge's word.
#[cfg(test)]
const SET_MASK: u32 = (1 << MIN_LEN_SHIFT) - 1;
/// The literal-edge mask in a record's first word.
const LIT_MASK: u32 = (1 << RUN_SHIFT) - 1;

/// Where a walk reports what it finds: a plain list, or the router's hunt order.
pub(crate) trait Sink {
    /// A match; `preference` is the peer's when the trie knows it (simple patterns).
    fn hit(&mut self, hit: Hit, preference: Option<u8>);
}

impl Sink for Vec<Hit> {
    fn hit(&mut self, hit: Hit, _: Option<u8>) {
        self.push(hit);
    }
}

/// A digit trie over one pattern attribute of one peer type.
///
/// Frozen, every node is one record in a single word array, laid out depth first:
///
/// ```text
///   lit | run_len << 17 | EXTRAS | explicit << 24 | ANY_RUN
///                                     literal-edge mask; incoming run
///   run sets              (run_len)   the characters after the edge's first;
///                                     none stored with ANY_RUN
///   ranks 0-7, ranks 8-15 (2)         with two or more literal edges: per digit, its
///                                     rank among them
///   child                 (per literal edge, by digit)
///   with EXTRAS only:
///   terminals, complex, wildcard edges   counts of the sections below
///   peer, end | preference << 8  (per terminal)
///   peer                         (per complex pattern)
///   set | min << 17 | max << 24, child   (per wildcard edge: the character set
///                                        and the number lengths its subtree
///                                        can match)
/// ```
///
/// The run and the explicit digits of an edge live in the record it leads to, so a
/// step reads one record, usually one or two words of it: the literal child for
/// digit `d` follows the run, at the rank of `d` (one shift and mask, no population
/// count). A chain of characters with nothing branching or ending in between (the
/// `....` of a DID block, the digits after a prefix becomes unique) is one run, so a
/// walk at 100,000 patterns visits about as many records as at 100. Terminals carry
/// the peer's preference, so ordering the hits reads nothing outside the trie.
#[derive(Clone, Debug)]
pub(crate) struct Trie {
    key: Key,
    words: Vec<u32>,
    /// The top levels as one table, when they are dense and plain.
    direct: Option<Direct>,
}

/// The records at depth `len`, indexed by the number their `len` digits spell: one
/// load instead of `len` steps. Built only when every record above that depth is a
/// plain branch on the digits 0-9 (nothing ends or hangs there, no wildcard edge, no
/// run), so a number shorter than `len`, or with another character in its first
/// `len`, matches nothing; and only when a good share of the table is used.
#[derive(Clone, Debug)]
struct Direct {
    len: usize,
    records: Vec<u32>,
}

/// No record: a [`Direct`] entry no pattern reaches.
const NO_RECORD: u32 = u32::MAX;
/// The deepest [`Direct`] table: 10,000 entries.
const DIRECT_MAX: u32 = 4;

impl Direct {
    /// The deepest table whose levels above are plain and which is at least a
    /// sixteenth used (so it costs no more memory than the records it skips).
    fn build(words: &[u32]) -> Option<Self> {
        // The records at the current depth, with the number their digits spell.
        let mut level: Vec<(usize, u32)> = vec![(0, 0)];
        let mut best = None;
        for len in 1..=DIRECT_MAX {
            let mut next = Vec::with_capacity(level.len() * 10);
            for &(value, o) in &level {
                let head = *words.get(o as usize)?;
                let lits = head & LIT_MASK;
                let plain = head & EXTRAS == 0 && (head >> RUN_SHIFT) & 0x3F == 0;
                if !plain || lits & !0x3FF != 0 {
                    return best;
                }
                let lit0 = o as usize + 1 + if lits.count_ones() >= 2 { 2 } else { 0 };
                let digits = (0..10).filter(|d| lits >> d & 1 != 0);
                for (rank, d) in digits.enumerate() {
                    next.push((value * 10 + d, *words.get(lit0 + rank)?));
                }
            }
            let size = 10usize.pow(len);
            if next.len() * 16 >= size {
                let mut records = vec![NO_RECORD; size];
                for &(value, o) in &next {
                    records[value] = o;
                }
                best = Some(Self {
                    len: len as usize,
                    records,
                });
            }
            if next.is_empty() {
                return best;
            }
            level = next;
        }
        best
    }
}

impl Trie {
    /// Every peer whose pattern matches `number`, appended to `out` in walk order.
    pub(crate) fn lookup(&self, peers: &[Arc<DialPeer>], number: &Digits, out: &mut Vec<Hit>) {
        self.walk(peers, number, out);
    }

    /// Every match, reported to `sink` in walk order.
    pub(crate) fn walk<S: Sink>(&self, peers: &[Arc<DialPeer>], number: &Digits, sink: &mut S) {
        let Some(direct) = &self.direct else {
            self.visit(peers, number, 0, 0, 0, sink);
            return;
        };
        // Above the table's depth nothing can match (see `Direct`).
        let Some(first) = number.indices().get(..direct.len) else {
            return;
        };
        let mut i = 0;
        for &c in first {
            if c > 9 {
                return;
            }
            i = i * 10 + usize::from(c);
        }
        if let Some(&o) = direct.records.get(i)
            && o != NO_RECORD
        {
            // Each record above had one explicit digit, its edge's; the one at `o`
            // counts its own.
            let above = to_u32(direct.len - 1);
            self.visit(peers, number, o as usize, direct.len, above, sink);
        }
    }

    /// The record at `o`, entered at `depth` (its edge's first character, if any,
    /// already matched there).
    fn visit<S: Sink>(
        &self,
        peers: &[Arc<DialPeer>],
        number: &Digits,
        mut o: usize,
        mut depth: usize,
        mut explicit: u32,
        sink: &mut S,
    ) {
        let w = self.words.as_slice();
        let digits = number.indices();
        // The literal edge is followed in this loop, the wildcard edges by recursion
        // (in `extras`): a walk down a literal chain costs no stack.
        loop {
            let Some(&head) = w.get(o) else {
                return;
            };
            let mut p = o + 1;
            let run_len = ((head >> RUN_SHIFT) & 0x3F) as usize;
            explicit += head >> EXPLICIT_SHIFT & EXPLICIT_MASK;
            if head & ANY_RUN != 0 {
                // Every digit passes; a number ending inside the run matches nothing.
                if depth + run_len > digits.len() {
                    return;
                }
                depth += run_len;
            } else if run_len != 0 {
                // A number that ends inside a run matches nothing there: runs hold
                // no terminals.
                let (Some(rest), Some(sets)) =
                    (digits.get(depth..depth + run_len), w.get(p..p + run_len))
                else {
                    return;
                };
                if !rest.iter().zip(sets).all(|(&d, &m)| m & (1 << d) != 0) {
                    return;
                }
                depth += run_len;
                p += run_len;
            }
            let lits = head & LIT_MASK;
            // Two or more literal edges: the ranks come first.
            let ranked = lits & lits.wrapping_sub(1) != 0;
            let lit0 = p + if ranked { 2 } else { 0 };
            if head & EXTRAS != 0 {
                let n_lit = if ranked {
                    // Rank of 15 counts the edges of 0-14; add 15 and 16 (`#`, `+`).
                    let below_15 = w.get(p + 1).map_or(0, |r| r >> 28);
                    below_15 + (lits >> 15 & 1) + (lits >> 16)
                } else {
                    u32::from(lits != 0)
                };
                self.extras(peers, number, lit0 + n_lit as usize, depth, explicit, sink);
            }
            let Some(&c) = digits.get(depth) else {
                return;
            };
            let bit = 1u32 << c;
            if lits & bit == 0 {
                return;
            }
            let rank = if !ranked {
                0
            } else if c < 16 {
                let Some(&[lo, hi]) = w.get(p..p + 2) else {
                    return;
                };
                ((u64::from(hi) << 32 | u64::from(lo)) >> (4 * c)) & 15
            } else {
                u64::from((lits & 0xFFFF).count_ones())
            };
            let Some(&child) = w.get(lit0 + rank as usize) else {
                return;
            };
            o = child as usize;
            depth += 1;
        }
    }

    /// The terminals, complex patterns and wildcard edges of a record, at `p`.
    fn extras<S: Sink>(
        &self,
        peers: &[Arc<DialPeer>],
        number: &Digits,
        p: usize,
        depth: usize,
        explicit: u32,
        sink: &mut S,
    ) {
        let w = self.words.as_slice();
        let digits = number.indices();
        let len = digits.len();
        let Some(&[n_term, n_complex, n_wild]) = w.get(p..p + 3) else {
            return;
        };
        let mut p = p + 3;
        let end = p + 2 * n_term as usize;
        let rest = len - depth;
        for &[peer, meta] in w.get(p..end).unwrap_or_default().as_chunks::<2>().0 {
            let matched_len = match meta & 3 {
                0 => Some(depth),
                1 => (rest == 0).then_some(depth),
                2 => Some(len.min(depth + T_MAX_DIGITS as usize)),
                _ => (rest <= T_MAX_DIGITS as usize).then_some(len),
            };
            if let Some(matched_len) = matched_len {
                let matched = PatternMatch {
                    explicit,
                    matched_len,
                };
                sink.hit(Hit { peer, matched }, Some((meta >> 8) as u8));
            }
        }
        p = end;
        let end = p + n_complex as usize;
        for &peer in w.get(p..end).unwrap_or_default() {
            if let Some(matched) = peers
                .get(peer as usize)
                .and_then(|p| self.key.of(p))
                .and_then(|pat| pat.matches(number))
            {
                sink.hit(Hit { peer, matched }, None);
            }
        }
        p = end;
        let Some(&c) = digits.get(depth) else {
            return;
        };
        let bit = 1u32 << c;
        let end = p + 2 * n_wild as usize;
        let len = to_u32(len);
        for &[edge, child] in w.get(p..end).unwrap_or_default().as_chunks::<2>().0 {
            let (min, max) = (edge >> MIN_LEN_SHIFT & 0x7F, edge >> MAX_LEN_SHIFT);
            if edge & bit != 0 && min <= len && len <= max {
                self.visit(peers, number, child as usize, depth + 1, explicit, sink);
            }
        }
    }

    /// One record decoded, for tests: (literal mask, run sets, literal children,
    /// terminals as (peer, meta), complex peers, wildcard edges as (set, child);
    /// their length bounds: [`Trie::wildcard_bounds`]).
    #[cfg(test)]
    #[expect(clippy::type_complexity, reason = "a test view of one record")]
    fn record(&self, o: usize) -> (u32, Vec<u32>, &[u32], Vec<[u32; 2]>, &[u32], Vec<[u32; 2]>) {
        let w = &self.words;
        let head = w[o];
        let lits = head & LIT_MASK;
        let (run, stored) = self.run(o);
        let n_lit = lits.count_ones() as usize;
        let lit0 = o + 1 + stored + if n_lit >= 2 { 2 } else { 0 };
        let children = &w[lit0..lit0 + n_lit];
        if head & EXTRAS == 0 {
            return (lits, run, children, Vec::new(), &[], Vec::new());
        }
        let p = lit0 + n_lit;
        let (n_term, n_complex, n_wild) = (w[p] as usize, w[p + 1] as usize, w[p + 2] as usize);
        let t0 = p + 3;
        let c0 = t0 + 2 * n_term;
        let e0 = c0 + n_complex;
        (
            lits,
            run,
            children,
            w[t0..c0].as_chunks::<2>().0.to_vec(),
            &w[c0..e0],
            w[e0..e0 + 2 * n_wild]
                .as_chunks::<2>()
                .0
                .iter()
                .map(|&[edge, child]| [edge & SET_MASK, child])
                .collect(),
        )
    }
}

#[cfg(test)]
impl Trie {
    /// The run sets of the record at `o` (an [`ANY_RUN`] spelled out) and how many
    /// words of them the record stores.
    fn run(&self, o: usize) -> (Vec<u32>, usize) {
        let head = self.words[o];
        let run_len = ((head >> RUN_SHIFT) & 0x3F) as usize;
        if head & ANY_RUN != 0 {
            return (vec![ANY_DIGIT; run_len], 0);
        }
        (self.words[o + 1..o + 1 + run_len].to_vec(), run_len)
    }

    /// The (shortest, longest) number lengths of each wildcard edge of the record at
    /// `o`, in edge order.
    fn wildcard_bounds(&self, o: usize) -> Vec<(u32, u32)> {
        let w = &self.words;
        let head = w[o];
        let lits = head & LIT_MASK;
        let (_, stored) = self.run(o);
        let n_lit = lits.count_ones() as usize;
        let p = o + 1 + stored + if n_lit >= 2 { 2 } else { 0 } + n_lit;
        if head & EXTRAS == 0 {
            return Vec::new();
        }
        let (n_term, n_complex, n_wild) = (w[p] as usize, w[p + 1] as usize, w[p + 2] as usize);
        let e0 = p + 3 + 2 * n_term + n_complex;
        w[e0..e0 + 2 * n_wild]
            .iter()
            .step_by(2)
            .map(|&edge| (edge >> MIN_LEN_SHIFT & 0x7F, edge >> MAX_LEN_SHIFT))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walk a trie of bare patterns (no peers needed: none is complex).
    /// What the exact matcher says, pattern by pattern, in the order `walk` sorts to.
    fn exact_matches(patterns: &[&str], number: &str) -> Vec<(u32, u32, usize)> {
        let digits = Digits::parse(number).expect("number");
        let mut want: Vec<_> = patterns
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let m = Pattern::parse(p).expect("pattern").matches(&digits)?;
                Some((to_u32(i), m.explicit, m.matched_len))
            })
            .collect();
        want.sort_unstable();
        want
    }

    fn walk(patterns: &[&str], number: &str) -> Vec<(u32, u32, usize)> {
        let mut b = TrieBuilder::new(Key::DestinationPattern);
        for (i, p) in patterns.iter().enumerate() {
            b.insert(to_u32(i), &Pattern::parse(p).expect("pattern"), 0);
        }
        let t = b.freeze();
        let mut out = Vec::new();
        t.lookup(&[], &Digits::parse(number).expect("number"), &mut out);
        let mut got: Vec<_> = out
            .iter()
            .map(|h| (h.peer, h.matched.explicit, h.matched.matched_len))
            .collect();
        got.sort_unstable();
        got
    }

    #[test]
    fn trie_walk_agrees_with_the_exact_matcher() {
        let patterns = [
            "9T",
            "9....",
            "95...",
            "95[2-9]..",
            "95[^5]..$",
            "951..$",
            "9512",
            "9512T$",
            "\\9.",
            "+1T",
            ".T",
            "[0-9]5",
            "*9",
            "#",
        ];
        let numbers = [
            "9",
            "95",
            "951",
            "9512",
            "95123",
            "95523",
            "951234",
            "99999",
            "+15551234",
            "5",
            "05",
            "*9",
            "#",
            "",
        ];
        for number in numbers {
            assert_eq!(
                walk(&patterns, number),
                exact_matches(&patterns, number),
                "{number}"
            );
        }
    }

    fn freeze(patterns: &[&str]) -> Trie {
        let mut b = TrieBuilder::new(Key::DestinationPattern);
        for (i, p) in patterns.iter().enumerate() {
            b.insert(to_u32(i), &Pattern::parse(p).expect("pattern"), 0);
        }
        b.freeze()
    }

    /// Patterns under four-digit literal prefixes: the top levels are plain, so the
    /// walk starts from a direct table; it must agree with the exact matcher for
    /// short numbers, non-digits in the prefix and numbers reaching the leaves.
    #[test]
    fn direct_table_walk_agrees_with_the_exact_matcher() {
        let mut patterns = Vec::new();
        for a in 0..10 {
            for b in [1, 5, 9] {
                for c in [0, 4, 7] {
                    patterns.push(format!("{a}{b}{c}1T"));
                    patterns.push(format!("{a}{b}{c}2[2-9]..$"));
                    patterns.push(format!("{a}{b}{c}212$"));
                    patterns.push(format!("{a}{b}{c}1.3"));
                }
            }
        }
        let mut refs: Vec<&str> = patterns.iter().map(String::as_str).collect();
        // 90 of 1,000 three-digit prefixes used; four digits deep the `T` terminals.
        assert_eq!(freeze(&refs).direct.map(|d| d.len), Some(3));
        // A `*` one digit deep stops the table above it.
        assert_eq!(
            freeze(&[&refs[..], &["1*11"]].concat())
                .direct
                .map(|d| d.len),
            Some(1)
        );
        // A terminal two digits deep too.
        assert_eq!(
            freeze(&[&refs[..], &["15"]].concat()).direct.map(|d| d.len),
            Some(2)
        );
        refs.push("1*11");
        let numbers = [
            "", "1", "15", "150", "1501", "15012", "1501999", "15022", "150212", "1502123",
            "1502999", "15029999", "1502A3", "1513", "1*11", "1*51", "0970333", "99491", "9119",
            "#",
        ];
        for with_star in [false, true] {
            let patterns = if with_star {
                &refs[..]
            } else {
                &refs[..refs.len() - 1]
            };
            for number in numbers {
                assert_eq!(
                    walk(patterns, number),
                    exact_matches(patterns, number),
                    "{number} {with_star}"
                );
            }
        }
    }

    #[test]
    fn literal_edges_sit_in_digit_order_before_wildcards() {
        let mut b = TrieBuilder::new(Key::DestinationPattern);
        for (i, p) in ["7", ".", "3", "+", "[2-4]", "0"].iter().enumerate() {
            b.insert(to_u32(i), &Pattern::parse(p).expect("pattern"), 0);
        }
        let t = b.freeze();
        let (lits, run, children, terminals, complex, wild) = t.record(0);
        let (zero, three, seven, plus) = (1, 1 << 3, 1 << 7, 1 << 16);
        assert_eq!(lits, zero | three | seven | plus);
        assert_eq!((run, terminals, complex), (vec![], vec![], &[][..]));
        // Wildcard edges in insertion order.
        let sets: Vec<u32> = wild.iter().map(|e| e[0]).collect();
        assert_eq!(sets, [crate::routing::pattern::ANY_DIGIT, 0b1_1100]);
        // The literal children by digit, each the record of one terminal.
        let peers: Vec<u32> = children
            .iter()
            .map(|&c| {
                let (_, _, _, terminals, _, _) = t.record(c as usize);
                assert_eq!(terminals.len(), 1, "one terminal at {c}");
                terminals[0][0]
            })
            .collect();
        assert_eq!(peers, [5, 2, 0, 3], "children of 0, 3, 7, +");
        // The walk finds each child by its rank: the number "7" reaches peer 0 ("7")
        // and the wildcard pattern that takes a 7 ("."), not "[2-4]".
        assert_eq!(
            walk(&["7", ".", "3", "+", "[2-4]", "0"], "7"),
            [(0, 1, 1), (1, 0, 1)]
        );
    }

    /// Each wildcard edge knows the number lengths its subtree can match, so a walk
    /// skips a branch that cannot end at the number's length; skipping must never
    /// lose a match the exact matcher finds.
    #[test]
    fn wildcard_edges_skip_subtrees_of_other_lengths() {
        let patterns = [
            "9....$", "9.5T$", "9[2-9]..", "9.5.", "8[1-3]2$", "8[1-3]T", "81",
        ];
        let t = freeze(&patterns);
        let (_, _, children, ..) = t.record(0);
        let (eight, nine) = (children[0] as usize, children[1] as usize);
        // `.`: "9....$" ends at 5, "9.5T$" at 3 to 35, "9.5." from 4 on;
        // `[2-9]`: "9[2-9].." from 4 on.
        assert_eq!(t.wildcard_bounds(nine), [(3, NO_LIMIT), (4, NO_LIMIT)]);
        // One `[1-3]` edge ("81" makes the 8 a branch, not part of a run):
        // "8[1-3]2$" ends at 3, "8[1-3]T" from 2 on.
        assert_eq!(t.wildcard_bounds(eight), [(2, NO_LIMIT)]);
        // Only `$` ends under the `.`: a bounded range ("91" keeps the 9 a branch).
        let bounded = ["9....$", "9.5T$", "9..$", "91"];
        let exact_only = freeze(&bounded);
        let nine = exact_only.record(0).2[0] as usize;
        assert_eq!(exact_only.wildcard_bounds(nine), [(3, 35)]);
        let long_t = format!("95{}", "5".repeat(40));
        let numbers = [
            "9", "95", "955", "9555", "95555", "955555", "9255", "92555", "8", "82", "822", "8222",
            "842", &long_t,
        ];
        for number in numbers {
            for set in [&patterns[..], &bounded[..]] {
                assert_eq!(walk(set, number), exact_matches(set, number), "{number}");
            }
        }
    }

    #[test]
    fn a_chain_longer_than_one_run_still_matches_exactly() {
        // 130 characters after the 9: more than one record's run holds.
        let long = format!("9{}", "[0-9]".repeat(130));
        let patterns = [long.as_str(), "9T", "91"];
        assert_eq!(walk(&patterns, "91"), [(1, 1, 2), (2, 2, 2)]);
        let max = format!("9{}", "1".repeat(63));
        assert_eq!(walk(&patterns, &max), [(1, 1, 33), (2, 2, 2)]);
    }
}
