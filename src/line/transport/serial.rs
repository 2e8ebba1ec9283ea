//! Serial devices and pseudo-terminals (contract section 1: raw 8N1, no flow control,
//! no echo, no CR/LF translation).
//!
//! serialport opens the device in raw mode (`cfmakeraw`), which is exactly the
//! contract's "no echo, no CR/LF translation"; we set 8N1 and no flow control
//! explicitly so a device left in another mode by an earlier program is corrected.

use std::io;
use std::path::PathBuf;

use super::{Opener, PortOptions, Stream};

/// Opens (and reopens) a serial device by path.
pub(crate) struct SerialOpener {
    path: PathBuf,
}

impl SerialOpener {
    pub(crate) fn new(path: PathBuf) -> Self {
        SerialOpener { path }
    }
}

impl Opener for SerialOpener {
    fn open(&mut self, options: &PortOptions) -> io::Result<(Box<dyn Stream>, String)> {
        let path = self.path.to_string_lossy().into_owned();
        let port = serialport::new(path.as_str(), options.baud)
            .data_bits(serialport::DataBits::Eight)
            .parity(serialport::Parity::None)
            .stop_bits(serialport::StopBits::One)
            .flow_control(serialport::FlowControl::None)
            .timeout(options.poll_interval)
            .open_native()
            .map_err(|e| io::Error::other(format!("{path}: {e}")))?;
        Ok((Box::new(port), path))
    }
}
