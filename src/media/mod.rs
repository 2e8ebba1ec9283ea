//! Media: B-channel G.711 samples ↔ RTP, DTMF and tones (not built yet; see the media issue).
