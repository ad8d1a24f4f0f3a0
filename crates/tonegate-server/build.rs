//! Records the compiler's version for the `tonegate_build_info` metric.

fn main() {
    let rustc = rustc_version::version().map_or_else(|_| "unknown".to_owned(), |v| v.to_string());
    println!("cargo:rustc-env=TONEGATE_RUSTC_VERSION={rustc}");
}
