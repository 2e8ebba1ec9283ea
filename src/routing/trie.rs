//! The digit trie the router looks numbers up in: one per (peer type, match key).
//!
//! ```text
//!   patterns ──TrieBuilder::insert──▶ linked build arena ──freeze──▶ Trie (flat arrays)
//!   number   ──Trie::lookup──────────▶ every (peer, explicit digits, matched length)
//! ```
//!
//! Simple patterns (literals, `.`, `[..]`, a final `T`, `$`) are spelled out with one
//! edge per character set, so a walk follows only the branches the number can take;
//! patterns with groups or quantifiers hang off the node of their literal prefix and
//! are checked with the exact matcher.
//!
//! Frozen, each node keeps its literal-digit edges as a dense table indexed by the
//! digit's alphabet index, compressed by a 17-bit presence mask: the edge for digit
//! `d` is at `edges.0 + popcount(lit & ((1 << d) - 1))`. A lookup step is then one
//! mask test and one load whatever the fan-out, with no hashing and no allocation;
//! only the (few) wildcard edges of a node are scanned. A chain of characters with
//! nothing branching or ending in between (the `....` of a DID block, the digits after
//! a prefix becomes unique) is one run edge, so the walk at 100,000 patterns visits
//! about as many nodes as at 100.

use std::sync::Arc;

use super::pattern::{Digits, Item, Pattern, PatternMatch, T_MAX_DIGITS};
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

/// How a simple pattern ends, checked against what is left of the number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// No `$`: longer numbers match too.
    Open,
    /// `$`: the number must end here.
    Exact,
    /// `T` without `$`: any rest.
    T,
    /// `T$`: at most 32 more digits.
    TExact,
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

    fn push_peer(&mut self, node: u32, peer: u32, end: Option<End>) {
        let entry = to_u32(self.peers.len());
        let n = &mut self.nodes[node as usize];
        let head = match end {
            Some(_) => &mut n.terminals,
            None => &mut n.complex,
        };
        self.peers.push(BuildPeer {
            peer,
            end: end.unwrap_or(End::Open),
            next: *head,
        });
        *head = entry;
    }

    pub(crate) fn insert(&mut self, peer: u32, pattern: &Pattern) {
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
            self.push_peer(node, peer, Some(end));
        } else {
            for c in pattern.literal_prefix_indices() {
                node = self.child(node, 1 << c, true);
            }
            self.push_peer(node, peer, None);
        }
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

    /// Flatten breadth-first (frozen ids are handed out in the order nodes are laid
    /// out, so the queue is the frozen-to-build map itself), collapsing every chain of
    /// pass-through nodes into a run edge.
    pub(crate) fn freeze(self) -> Trie {
        let mut t = Trie {
            key: self.key,
            nodes: Vec::with_capacity(self.nodes.len() / 2 + 1),
            edges: Vec::with_capacity(self.edges.len() / 2),
            runs: Vec::with_capacity(self.edges.len() / 2),
            terminals: Vec::new(),
            complex: Vec::new(),
        };
        // Frozen node f is laid out from build node pending[f].
        let mut pending: Vec<u32> = Vec::with_capacity(self.nodes.len() / 2 + 1);
        pending.push(0);
        t.nodes.push(Node::default());
        let mut scratch: Vec<BuildEdge> = Vec::new();
        let mut f = 0;
        while let Some(&b) = pending.get(f) {
            let n = self.nodes[b as usize];
            scratch.clear();
            let mut e = n.edges;
            while e != NIL {
                scratch.push(self.edges[e as usize]);
                e = self.edges[e as usize].next;
            }
            // The lists are newest first: back to insertion order, then the literal
            // edges by digit (the dense table), wildcard edges after them.
            scratch.reverse();
            scratch.sort_by_key(|e| if e.explicit { e.mask } else { u32::MAX });
            let e0 = t.edges.len();
            for e in &scratch {
                let run = t.runs.len();
                let mut explicit = u16::from(e.explicit);
                let mut target = e.child;
                while let Some(step) = self.passes_through(target)
                    && t.runs.len() - run < usize::from(u16::MAX)
                {
                    t.runs.push(step.mask);
                    explicit = explicit.saturating_add(u16::from(step.explicit));
                    target = step.child;
                }
                let child = t.nodes.len();
                t.nodes.push(Node::default());
                pending.push(target);
                t.edges.push(Edge {
                    mask: e.mask,
                    child: to_u32(child),
                    run: to_u32(run),
                    run_len: u16::try_from(t.runs.len() - run).unwrap_or(u16::MAX),
                    explicit,
                });
            }
            let t0 = t.terminals.len();
            let mut p = n.terminals;
            while p != NIL {
                let entry = self.peers[p as usize];
                t.terminals.push((entry.peer, entry.end));
                p = entry.next;
            }
            t.terminals[t0..].reverse();
            let c0 = t.complex.len();
            let mut p = n.complex;
            while p != NIL {
                let entry = self.peers[p as usize];
                t.complex.push(entry.peer);
                p = entry.next;
            }
            t.complex[c0..].reverse();
            t.nodes[f] = Node {
                lit: n.lit,
                edges: (to_u32(e0), to_u32(t.edges.len())),
                terminals: (to_u32(t0), to_u32(t.terminals.len())),
                complex: (to_u32(c0), to_u32(t.complex.len())),
            };
            f += 1;
        }
        t
    }
}

/// A frozen edge: a run of one or more pattern characters with no branching, no
/// terminal and no complex pattern in between (path compression), so a chain like
/// the `....` of a DID block is one step of the walk instead of four.
#[derive(Clone, Copy, Debug)]
struct Edge {
    /// The set of the run's first character.
    mask: u32,
    /// Frozen node the run leads to.
    child: u32,
    /// Start, in [`Trie::runs`], of the sets of the run's further characters.
    run: u32,
    /// How many further characters the run has.
    run_len: u16,
    /// Explicit digits over the whole run.
    explicit: u16,
}

/// A frozen node: ranges into the trie's flat arrays.
#[derive(Clone, Copy, Debug, Default)]
struct Node {
    /// Bit `d` set: the node has a literal edge for alphabet index `d`; those edges
    /// come first in `edges`, by digit.
    lit: u32,
    edges: (u32, u32),
    terminals: (u32, u32),
    complex: (u32, u32),
}

/// A digit trie over one pattern attribute of one peer type.
#[derive(Clone, Debug)]
pub(crate) struct Trie {
    key: Key,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    /// The sets of the characters after the first of each run edge.
    runs: Vec<u32>,
    terminals: Vec<(u32, End)>,
    complex: Vec<u32>,
}

fn slice<T>(v: &[T], (a, b): (u32, u32)) -> &[T] {
    v.get(a as usize..b as usize).unwrap_or_default()
}

impl Trie {
    /// Every peer whose pattern matches `number`, appended to `out` in walk order.
    pub(crate) fn lookup(&self, peers: &[Arc<DialPeer>], number: &Digits, out: &mut Vec<Hit>) {
        if !self.nodes.is_empty() {
            self.visit(peers, number, 0, 0, 0, out);
        }
    }

    /// The run edge `e` taken at `depth` (the digit there already tested): where it
    /// leads, if the number goes on through the whole run.
    fn follow(&self, digits: &[u8], e: &Edge, depth: usize) -> Option<usize> {
        let end = depth + 1 + usize::from(e.run_len);
        // A number that ends inside a run matches nothing there: runs hold no
        // terminals.
        let rest = digits.get(depth + 1..end)?;
        let run = self.runs.get(e.run as usize..).unwrap_or_default();
        rest.iter()
            .zip(run)
            .all(|(&d, m)| m & (1 << d) != 0)
            .then_some(end)
    }

    fn visit(
        &self,
        peers: &[Arc<DialPeer>],
        number: &Digits,
        mut node: u32,
        mut depth: usize,
        mut explicit: u32,
        out: &mut Vec<Hit>,
    ) {
        let digits = number.indices();
        let len = digits.len();
        // The literal edge is followed in this loop, the wildcard edges by recursion:
        // a walk down a literal chain costs no stack.
        loop {
            let Some(n) = self.nodes.get(node as usize) else {
                return;
            };
            for &(peer, end) in slice(&self.terminals, n.terminals) {
                let rest = len - depth;
                let matched_len = match end {
                    End::Open => Some(depth),
                    End::Exact => (rest == 0).then_some(depth),
                    End::T => Some(len.min(depth + T_MAX_DIGITS as usize)),
                    End::TExact => (rest <= T_MAX_DIGITS as usize).then_some(len),
                };
                if let Some(matched_len) = matched_len {
                    out.push(Hit {
                        peer,
                        matched: PatternMatch {
                            explicit,
                            matched_len,
                        },
                    });
                }
            }
            for &peer in slice(&self.complex, n.complex) {
                if let Some(matched) = peers
                    .get(peer as usize)
                    .and_then(|p| self.key.of(p))
                    .and_then(|pat| pat.matches(number))
                {
                    out.push(Hit { peer, matched });
                }
            }
            let Some(&c) = digits.get(depth) else {
                return;
            };
            let bit = 1u32 << c;
            let literals = n.lit.count_ones();
            for e in slice(&self.edges, (n.edges.0 + literals, n.edges.1)) {
                if e.mask & bit != 0
                    && let Some(end) = self.follow(digits, e, depth)
                {
                    self.visit(
                        peers,
                        number,
                        e.child,
                        end,
                        explicit + u32::from(e.explicit),
                        out,
                    );
                }
            }
            if n.lit & bit == 0 {
                return;
            }
            let i = n.edges.0 + (n.lit & (bit - 1)).count_ones();
            let Some(e) = self.edges.get(i as usize) else {
                return;
            };
            let Some(end) = self.follow(digits, e, depth) else {
                return;
            };
            node = e.child;
            depth = end;
            explicit += u32::from(e.explicit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walk a trie of bare patterns (no peers needed: none is complex).
    fn walk(patterns: &[&str], number: &str) -> Vec<(u32, u32, usize)> {
        let mut b = TrieBuilder::new(Key::DestinationPattern);
        for (i, p) in patterns.iter().enumerate() {
            b.insert(to_u32(i), &Pattern::parse(p).expect("pattern"));
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
            assert_eq!(walk(&patterns, number), want, "{number}");
        }
    }

    #[test]
    fn literal_edges_sit_in_digit_order_before_wildcards() {
        let mut b = TrieBuilder::new(Key::DestinationPattern);
        for (i, p) in ["7", ".", "3", "+", "[2-4]", "0"].iter().enumerate() {
            b.insert(to_u32(i), &Pattern::parse(p).expect("pattern"));
        }
        let t = b.freeze();
        let root = t.nodes[0];
        let masks: Vec<u32> = slice(&t.edges, root.edges).iter().map(|e| e.mask).collect();
        let (zero, three, seven, plus) = (1, 1 << 3, 1 << 7, 1 << 16);
        assert_eq!(root.lit, zero | three | seven | plus);
        assert_eq!(
            masks,
            [
                zero,
                three,
                seven,
                plus,
                crate::routing::pattern::ANY_DIGIT,
                0b1_1100
            ]
        );
    }
}
