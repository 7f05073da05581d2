//! `bridge-model-updater` binary: see the library crate for what it does.

fn main() -> std::process::ExitCode {
    bridge_model_updater::app::main()
}
