//! `bridge-id-updater` binary: see the library crate for what it does.

fn main() -> std::process::ExitCode {
    bridge_id_updater::app::main()
}
