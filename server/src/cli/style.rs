//! Colour as cargo does it: `--color auto|always|never`, then NO_COLOR (off), then
//! CLICOLOR_FORCE (on, even into a pipe), else on only when stderr is a terminal that is not
//! `dumb`. Decided once per process; every escape the CLI prints goes through `paint`, so none
//! reaches a pipe or a file unless asked for.

use std::io::IsTerminal as _;
use std::sync::OnceLock;

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

static ENABLED: OnceLock<bool> = OnceLock::new();

/// Decides, once, whether the CLI colours what it prints on stderr.
pub fn init(choice: ColorChoice) {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let on = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => decide(
            var("NO_COLOR").is_some(),
            var("CLICOLOR_FORCE").is_some_and(|v| v != "0"),
            std::io::stderr().is_terminal() && var("TERM").as_deref() != Some("dumb"),
        ),
    };
    let _ = ENABLED.set(on);
}

fn decide(no_color: bool, force: bool, terminal: bool) -> bool {
    !no_color && (force || terminal)
}

/// Whether colour is on (false until `init`).
pub fn enabled() -> bool {
    ENABLED.get().copied().unwrap_or(false)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    /// Status words of success: `✓ rebuilt`.
    Good,
    /// Failures and errors.
    Bad,
    /// Warnings.
    Warn,
    /// Notes, hints, infos.
    Note,
    /// What matters less: phases, the image build's log.
    Dim,
    Bold,
}

/// `text` in `paint`, when colour is on.
pub fn paint(paint: Paint, text: &str) -> String {
    if !enabled() || text.is_empty() {
        return text.to_string();
    }
    let code = match paint {
        Paint::Good => "1;32",
        Paint::Bad => "1;31",
        Paint::Warn => "1;33",
        Paint::Note => "1;36",
        Paint::Dim => "2",
        Paint::Bold => "1",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_beats_force_and_force_beats_a_pipe() {
        assert!(!decide(true, true, true));
        assert!(decide(false, true, false));
        assert!(decide(false, false, true));
        assert!(!decide(false, false, false));
    }
}
