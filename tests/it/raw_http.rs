//! A raw HTTP/1.1 server on loopback whose answers each test writes byte by
//! byte (an nginx whose backend is down, a truncated body, a flood, headers
//! no framework would send), so a test does not depend on what the demo
//! happens to do today.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request as the raw server read it.
pub struct Req {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the server does after writing a reply.
#[derive(Clone, Copy, PartialEq)]
pub enum After {
    /// Serve the next request on the connection.
    KeepAlive,
    /// Keep the connection open and write nothing more (a body that never
    /// completes).
    Hold,
    /// Keep writing 64 KiB chunks until the client goes away.
    Flood,
}

pub struct Reply {
    pub bytes: Vec<u8>,
    pub after: After,
}

/// A complete response: status line, headers (Content-Length added unless
/// given) and body.
pub fn reply(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut out = format!("HTTP/1.1 {status}\r\n").into_bytes();
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    Reply {
        bytes: out,
        after: After::KeepAlive,
    }
}

pub type Route = Arc<dyn Fn(&Req) -> Reply + Send + Sync>;

/// Serves `route` on 127.0.0.1:0; returns `http://127.0.0.1:PORT`.
pub async fn raw_server(route: Route) -> (String, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = l.accept().await else {
                return;
            };
            let route = route.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut got = Vec::new();
                loop {
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    let end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    let head = String::from_utf8_lossy(&got[..end]).into_owned();
                    got.drain(..end);
                    let mut lines = head.split("\r\n");
                    let mut first = lines.next().unwrap_or("").split(' ');
                    let method = first.next().unwrap_or("").to_string();
                    let path = first.next().unwrap_or("").to_string();
                    let headers: Vec<(String, String)> = lines
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                        .collect();
                    let req = Req {
                        method,
                        path,
                        headers,
                    };
                    let len: usize = req
                        .header("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    while got.len() < len {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    got.drain(..len);
                    let r = route(&req);
                    if sock.write_all(&r.bytes).await.is_err() {
                        return;
                    }
                    match r.after {
                        After::KeepAlive => {}
                        After::Hold => {
                            // Until the client closes the connection.
                            let _ = sock.read(&mut buf).await;
                            return;
                        }
                        After::Flood => {
                            let chunk = vec![b'x'; 64 * 1024];
                            while sock.write_all(&chunk).await.is_ok() {}
                            return;
                        }
                    }
                }
            });
        }
    });
    (base, task)
}
