//! Every shipped hardware file loads and says what its comments claim.

use std::path::Path;

use dialgate::config::{Hardware, Side};
use dialgate::line::transport::LineSpec;
use dialgate::line::{Framing, T1Framing};

#[test]
fn shipped_hardware_directory_loads() {
    let hw = Hardware::load(Path::new("hardware")).unwrap();
    let t1 = hw.span("span1").unwrap();
    assert_eq!(t1.config.framing, Framing::T1(T1Framing::Esf));
    assert_eq!(t1.line, LineSpec::Tcp("127.0.0.1:7001".into()));
    assert_eq!(t1.side, Side::Network);
    let e1 = hw.span("span2").unwrap();
    assert_eq!(e1.config.framing, Framing::E1 { crc4: true });
    assert_eq!(e1.b_channels.len(), 30);
}

#[test]
fn shipped_examples_load() {
    let hw = Hardware::load(Path::new("hardware/examples")).unwrap();
    let card = hw.span("pbx-t1").unwrap();
    assert_eq!(card.line, LineSpec::Serial("/dev/ttyUSB0".into()));
    assert!(card.pcap.is_some());
}

#[test]
fn a_broken_file_in_a_directory_loads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy("hardware/sim-t1.yaml", dir.path().join("a.yaml")).unwrap();
    std::fs::write(
        dir.path().join("b.yaml"),
        "spans:\n  - name: x\n    type: t1\n",
    )
    .unwrap();
    let err = Hardware::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("b.yaml"), "{err}");
    assert!(err.contains("missing field"), "{err}");
}

#[test]
fn the_same_span_name_in_two_files_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy("hardware/sim-t1.yaml", dir.path().join("a.yaml")).unwrap();
    std::fs::copy("hardware/sim-t1.yaml", dir.path().join("b.yaml")).unwrap();
    let err = Hardware::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("span1") && err.contains("twice"), "{err}");
}
