//! In-process back-to-back call setup and clearing: a user-side `DChannel`
//! against a network-side one, both LAPD and Q.931, no HDLC framing. One
//! iteration is one whole call: SETUP, CALL PROCEEDING, CONNECT, CONNECT ACK,
//! DISCONNECT, RELEASE, RELEASE COMPLETE, plus the LAPD acknowledgements.
//! Target: at least 20,000 calls/s on one core (`cargo bench --bench isdn_calls`).

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dialgate::isdn::lapd::Side;
use dialgate::isdn::q931::Cause;
use dialgate::isdn::q931::Variant;
use dialgate::isdn::q931::ie::{NumberingPlan, PartyNumber, TypeOfNumber};
use dialgate::isdn::{CallId, Command, Config, DChannel, Event, SetupRequest};

struct Pair {
    user: DChannel,
    network: DChannel,
    now: Instant,
    offered: Option<CallId>,
    cleared: u64,
}

impl Pair {
    #[expect(clippy::disallowed_methods, reason = "bench epoch")]
    fn new() -> Self {
        let now = Instant::now();
        let mut pair = Self {
            user: DChannel::new(Config::t1(Side::User, Variant::National)),
            network: DChannel::new(Config::t1(Side::Network, Variant::National)),
            now,
            offered: None,
            cleared: 0,
        };
        pair.user.handle_link_up(now);
        pair.network.handle_link_up(now);
        pair.run();
        pair
    }

    fn run(&mut self) {
        loop {
            let mut moved = false;
            while let Some(frame) = self.user.poll_transmit() {
                moved = true;
                self.network.handle_frame(self.now, &frame);
            }
            while let Some(frame) = self.network.poll_transmit() {
                moved = true;
                self.user.handle_frame(self.now, &frame);
            }
            while let Some(event) = self.network.poll_event() {
                match event {
                    Event::Setup(setup) => self.offered = Some(setup.call),
                    Event::Cleared { .. } => self.cleared += 1,
                    _ => {}
                }
            }
            while let Some(event) = self.user.poll_event() {
                if let Event::Cleared { .. } = event {
                    self.cleared += 1;
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn call(&mut self, request: &SetupRequest) {
        let call = self.user.new_call_id();
        self.user.handle_command(
            self.now,
            Command::Setup {
                call,
                request: Box::new(request.clone()),
            },
        );
        self.run();
        let Some(offered) = self.offered.take() else {
            return;
        };
        self.network
            .handle_command(self.now, Command::Proceeding { call: offered });
        self.network.handle_command(
            self.now,
            Command::Connect {
                call: offered,
                connected: None,
            },
        );
        self.run();
        self.user.handle_command(
            self.now,
            Command::Release {
                call,
                cause: Cause::NORMAL_CLEARING,
                progress: None,
            },
        );
        self.run();
    }
}

fn calls(c: &mut Criterion) {
    let request = SetupRequest {
        calling: Some(PartyNumber::new(
            TypeOfNumber::NATIONAL,
            NumberingPlan::ISDN,
            "2125551000",
        )),
        ..SetupRequest::new(PartyNumber::new(
            TypeOfNumber::NATIONAL,
            NumberingPlan::ISDN,
            "2125552000",
        ))
    };
    let mut pair = Pair::new();
    let mut group = c.benchmark_group("isdn_calls");
    group.throughput(Throughput::Elements(1));
    group.bench_function("setup_connect_clear", |b| {
        b.iter(|| pair.call(black_box(&request)));
    });
    group.finish();
    // Every call must have been cleared on both sides, or the figure is a lie.
    assert_eq!(pair.user.call_count() + pair.network.call_count(), 0);
    assert!(pair.cleared > 0);
}

criterion_group!(benches, calls);
criterion_main!(benches);
