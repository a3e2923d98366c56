//! Which of the engine's image builders makes a full build: BuildKit or the classic one.
//! As `docker build` decides it: BuildKit when the engine offers it, unless the user asks
//! otherwise (`builder` in rebuilder.toml, or `DOCKER_BUILDKIT`, as docker honours it).

use std::fmt;

use super::config::{BuilderChoice, Config};
use crate::error::{Error, ErrorKind, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageBuilder {
    BuildKit,
    Classic,
}

impl fmt::Display for ImageBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImageBuilder::BuildKit => "BuildKit",
            ImageBuilder::Classic => "the classic builder",
        })
    }
}

/// What the user asked for, and where: None is "whatever the engine offers".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    pub builder: Option<ImageBuilder>,
    /// Where the request comes from, for messages: "rebuilder.toml", "DOCKER_BUILDKIT=0".
    pub source: String,
}

/// The request: rebuilder.toml's `builder` (the project's own choice) wins over the
/// environment's `DOCKER_BUILDKIT` (read like Go's `strconv.ParseBool`, empty = unset).
pub fn requested(config: &Config, docker_buildkit: Option<&str>) -> Result<Requested> {
    match config.builder {
        Some(BuilderChoice::Buildkit) => {
            return Ok(Requested { builder: Some(ImageBuilder::BuildKit), source: "rebuilder.toml".into() })
        }
        Some(BuilderChoice::Classic) => {
            return Ok(Requested { builder: Some(ImageBuilder::Classic), source: "rebuilder.toml".into() })
        }
        Some(BuilderChoice::Auto) | None => {}
    }
    let Some(value) = docker_buildkit.filter(|v| !v.is_empty()) else {
        return Ok(Requested { builder: None, source: "the engine's default".into() });
    };
    let builder = match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => ImageBuilder::BuildKit,
        "0" | "f" | "F" | "FALSE" | "false" | "False" => ImageBuilder::Classic,
        other => {
            return Err(Error::new(
                ErrorKind::Config,
                format!("DOCKER_BUILDKIT environment variable expects boolean value: `{other}`"),
                "set DOCKER_BUILDKIT=1 (BuildKit) or DOCKER_BUILDKIT=0 (the classic builder), or unset it",
            ))
        }
    };
    Ok(Requested { builder: Some(builder), source: format!("DOCKER_BUILDKIT={value}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(builder: Option<BuilderChoice>) -> Config {
        Config { builder, ..Config::default() }
    }

    #[test]
    fn the_config_wins_then_the_environment_then_the_engine() {
        let r = requested(&with(Some(BuilderChoice::Classic)), Some("1")).expect("valid");
        assert_eq!(r.builder, Some(ImageBuilder::Classic));
        assert_eq!(r.source, "rebuilder.toml");
        let r = requested(&with(Some(BuilderChoice::Auto)), Some("0")).expect("valid");
        assert_eq!((r.builder, r.source.as_str()), (Some(ImageBuilder::Classic), "DOCKER_BUILDKIT=0"));
        let r = requested(&with(None), Some("True")).expect("valid");
        assert_eq!(r.builder, Some(ImageBuilder::BuildKit));
        assert_eq!(requested(&with(None), None).expect("valid").builder, None);
        // docker treats an empty value as unset.
        assert_eq!(requested(&with(None), Some("")).expect("valid").builder, None);
    }

    #[test]
    fn a_value_go_does_not_read_as_a_boolean_is_refused_as_docker_refuses_it() {
        for bad in ["yes", "on", "2", " 1"] {
            let err = requested(&with(None), Some(bad)).expect_err(bad);
            assert!(err.cause.contains("expects boolean value"), "{}", err.cause);
        }
    }
}
