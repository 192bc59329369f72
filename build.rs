//! Lays out the code the agent runs in steady state in one block.
//!
//! The kernel maps a binary's code 64 KiB at a time around each page that
//! faults (`fault_around_bytes`), so a loop whose few hundred functions are
//! strewn over the 9 MB of code kept some 4 MB of it resident. The release
//! link (LLD, the default linker of `x86_64-unknown-linux-gnu`) places the
//! functions of `layout/hot-functions.txt` first and together: about
//! 600 KB of code, a dozen such windows. The list is measured, not written
//! by hand (`benches/code-layout.sh`), and `tests/code_layout.rs` fails when
//! the release binary no longer has it in one block.
//!
//! `TWINSTAR_CODE_LAYOUT=off` builds without it (a linker other than LLD
//! does not know the option).
//!
//! The release link also packs the relative relocations (`-z
//! pack-relative-relocs`, read by glibc 2.36 and later): the dynamic
//! loader reads them at start, and the 12,600 of them took 296 KiB of the
//! file as `.rela.dyn` entries, 8 KiB packed.

use std::path::Path;

fn main() {
    let list = Path::new("layout/hot-functions.txt");
    println!("cargo:rerun-if-changed={}", list.display());
    println!("cargo:rerun-if-env-changed=TWINSTAR_CODE_LAYOUT");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let lld_by_default = std::env::var("TARGET").is_ok_and(|t| t == "x86_64-unknown-linux-gnu");
    if release && lld_by_default {
        // Linked with LLD, which knows the option.
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    let wanted = std::env::var("TWINSTAR_CODE_LAYOUT").map_or(true, |v| v != "off");
    if !(release && lld_by_default && wanted && list.exists()) {
        return;
    }
    let Ok(manifest_dir) = std::env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    let list = Path::new(&manifest_dir).join(list);
    println!(
        "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
        list.display()
    );
    // Names of functions that a change removed or inlined are skipped.
    println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
}
