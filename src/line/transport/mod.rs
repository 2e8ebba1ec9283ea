//! The driver seam: one blocking thread per span that moves bytes between the device
//! and the protocol stack, and knows nothing about frames.
