//! Packet formats: checked views over bytes plus owned representations.
