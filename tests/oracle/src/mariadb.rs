//! A private MariaDB server with a row binlog, on a free loopback port, for one test.
//!
//! It runs the distribution's `mariadbd` (`scripts/setup` installs it where missing) on a data
//! directory of its own, so tests never touch the machine's own server. It is stopped and its
//! files removed when dropped; `kill` and `restart` let tests take it away mid-stream.

use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running private server.
pub struct PrivateMariaDb {
    dir: tempfile::TempDir,
    port: u16,
    server: Option<Child>,
}

fn tool(name: &str) -> io::Result<PathBuf> {
    let candidates = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    candidates
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{name} not found: run scripts/setup to install MariaDB"),
            )
        })
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl PrivateMariaDb {
    /// Initialises a data directory and starts the server on a free port.
    pub fn start() -> io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("twinflow-mariadb-")
            .tempdir()?;
        let data = dir.path().join("data");
        // Each server keeps its temporary files apart: servers bootstrapping at the same time
        // in one shared /tmp trip over each other's temporary tables.
        std::fs::create_dir(dir.path().join("tmp"))?;
        let output = Command::new(tool("mariadb-install-db")?)
            .env("TMPDIR", dir.path().join("tmp"))
            .args([
                "--no-defaults",
                "--user=root",
                "--auth-root-authentication-method=normal",
            ])
            .arg("--skip-test-db")
            .arg(format!("--datadir={}", data.display()))
            .output()?;
        if !output.status.success() {
            return Err(io::Error::other(format!(
                "mariadb-install-db failed ({}): {}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        let mut db = PrivateMariaDb {
            dir,
            port: free_port()?,
            server: None,
        };
        db.launch()?;
        Ok(db)
    }

    fn launch(&mut self) -> io::Result<()> {
        let dir = self.dir.path();
        let child = Command::new(tool("mariadbd")?)
            .env("TMPDIR", dir.join("tmp"))
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.join("data").display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", dir.join("mysqld.sock").display()))
            .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
            .arg(format!("--log-error={}", dir.join("error.log").display()))
            .arg(format!(
                "--log-bin={}",
                dir.join("data").join("binlog").display()
            ))
            .args([
                "--user=root",
                "--binlog-format=ROW",
                "--binlog-row-image=FULL",
                "--binlog-row-metadata=FULL",
                "--binlog-annotate-row-events=OFF",
                "--server-id=1",
                "--skip-name-resolve",
                "--innodb-flush-log-at-trx-commit=2",
                "--sync-binlog=0",
                "--innodb-buffer-pool-size=128M",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.server = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.sql("SELECT 1").is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
        Err(io::Error::other(format!("mariadbd did not start:\n{log}")))
    }

    /// `mysql://root@127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    /// Runs SQL through the `mariadb` client; returns its tab-separated output without headers.
    pub fn sql(&self, sql: &str) -> io::Result<String> {
        self.client(|c| c.arg("-e").arg(sql))
    }

    /// Runs a SQL file through the `mariadb` client.
    pub fn source(&self, file: &Path) -> io::Result<String> {
        let input = std::fs::File::open(file)?;
        self.client(|c| c.stdin(input))
    }

    fn client(&self, args: impl FnOnce(&mut Command) -> &mut Command) -> io::Result<String> {
        let mut command = Command::new(tool("mariadb")?);
        command
            .args(["--no-defaults", "-h127.0.0.1", "-uroot", "-N", "-B"])
            .arg("--default-character-set=utf8mb4")
            .arg(format!("-P{}", self.port));
        let output = args(&mut command).output()?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(io::Error::other(
                String::from_utf8_lossy(&output.stderr).into_owned(),
            ))
        }
    }

    /// Kills the server with SIGKILL (no clean shutdown).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same data directory and port.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        self.launch()
    }
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        if let Some(mut child) = self.server.take() {
            // SIGTERM for a clean shutdown; SIGKILL if it takes too long.
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
