//! Engines in front of the real one, for the tests of engines other than the local socket:
//! socat as a loopback TCP or TLS proxy of the engine's socket, and certificates for TLS made
//! with openssl. The real engine answers behind each: nothing is mocked.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ENGINE_SOCKET: &str = "/var/run/docker.sock";

/// A process of the test's own, killed when dropped.
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

pub fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on 127.0.0.1:{port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn require(tool: &str) {
    let found = Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().expect("sh");
    assert!(found.status.success(), "{tool} is not installed (.ci/engine.sh installs it)");
}

/// socat forwarding 127.0.0.1:port to the engine's socket; `listen` is socat's listening
/// address type (TCP-LISTEN, or OPENSSL-LISTEN with `options` naming its certificates).
pub fn proxy(listen: &str, options: &str, port: u16) -> Daemon {
    require("socat");
    let child = Command::new("socat")
        .arg(format!("{listen}:{port},bind=127.0.0.1,reuseaddr,fork{options}"))
        .arg(format!("UNIX-CONNECT:{ENGINE_SOCKET}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("socat starts");
    wait_for_port(port);
    Daemon(child)
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl.
pub fn make_certs(dir: &Path) {
    require("openssl");
    let sh = |script: &str| {
        let out = Command::new("sh").arg("-ec").arg(script).current_dir(dir).output().expect("sh");
        assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
    };
    sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 2 -subj /CN=test-ca 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -keyout server-key.pem -out server.csr -subj /CN=127.0.0.1 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out server.pem -days 2 -extfile server.ext 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -keyout key.pem -out client.csr -subj /CN=client 2>/dev/null
        printf 'extendedKeyUsage=clientAuth\\n' > client.ext
        openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out cert.pem -days 2 -extfile client.ext 2>/dev/null");
}
