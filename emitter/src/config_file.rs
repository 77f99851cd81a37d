//! `naap emit --config FILE`: a TOML file whose keys are `emit`'s flag names.

use std::ffi::OsString;

use anyhow::{Context, bail};

/// Replaces `--config FILE` with the flags the file sets, placed right after
/// the first `keep` arguments (`naap emit`, or `naap-emit`) so that flags
/// given on the command line win.
pub fn expand(args: Vec<OsString>, keep: usize) -> anyhow::Result<Vec<OsString>> {
    let Some(at) = args.iter().skip(keep).position(|a| a == "--config").map(|i| i + keep) else {
        return Ok(args);
    };
    let Some(path) = args.get(at + 1).cloned() else {
        bail!("--config needs a file");
    };
    let shown = path.to_string_lossy().into_owned();
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {shown}"))?;
    let mut out: Vec<OsString> = args[..keep].to_vec();
    out.extend(flags(&text, &shown)?);
    out.extend(args[keep..at].iter().cloned());
    out.extend(args[at + 2..].iter().cloned());
    Ok(out)
}

/// The command-line flags a TOML file sets: `key = value` is `--key value`,
/// `key = true` is `--key`, an array repeats the flag. Unknown keys are
/// left to the flag parser, which refuses them by name.
pub fn flags(text: &str, origin: &str) -> anyhow::Result<Vec<OsString>> {
    let table: toml::Table = text.parse().with_context(|| format!("{origin} is not valid TOML"))?;
    let mut flags = Vec::new();
    for (key, value) in table {
        let flag = OsString::from(format!("--{}", key.replace('_', "-")));
        let values = match value {
            toml::Value::Array(items) => items,
            other => vec![other],
        };
        for v in values {
            match v {
                toml::Value::Boolean(true) => flags.push(flag.clone()),
                toml::Value::Boolean(false) => {}
                toml::Value::String(s) => flags.extend([flag.clone(), s.into()]),
                toml::Value::Integer(i) => flags.extend([flag.clone(), i.to_string().into()]),
                toml::Value::Float(f) => flags.extend([flag.clone(), f.to_string().into()]),
                other => bail!("{origin}: {key} = {other} is not a flag value"),
            }
        }
    }
    Ok(flags)
}
