//! Feeds arbitrary text to the configuration loader. Whatever the text, it
//! must be accepted or rejected without panicking, and every error must point
//! at a place inside the text (line 1..=lines+1, as the loader promises
//! file:line:col for every mistake).

#![no_main]

use libfuzzer_sys::fuzz_target;
use twinstar::config::parse_str;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let Err(errors) = parse_str(text, "fuzz.yaml") else {
        return;
    };
    assert!(!errors.0.is_empty(), "a rejection names at least one error");
    let lines = text.lines().count() + 1;
    for error in &errors.0 {
        assert_eq!(error.file, "fuzz.yaml");
        assert!(
            (error.line as usize) <= lines,
            "error {error} points past the end of a {lines}-line text"
        );
        assert!(!error.message.is_empty());
    }
});
