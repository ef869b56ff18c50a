//! The load tool's lean HTTP/1.1 client: one keep-alive connection per
//! sender, each request written in one piece and each answer read by its
//! `Content-Length`, the way `wrk` sends.
//!
//! Why: the load tool shares the machine's two cores with the service,
//! localbase and PostgreSQL, so whatever its senders spend is taken from
//! what it measures. reqwest's pooled client spent ~0.06 ms of CPU a lead
//! (docs/benchmarks.md); in production the senders are elsewhere. `--client
//! reqwest` keeps the pooled client for comparison.
//!
//! Only what the load tool needs: `POST`, answers with a `Content-Length`
//! (actix-web and the Node route send one for every body they know), no
//! redirects, no TLS. Anything else is an error naming what was seen.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One sender's connection to `addr`, opened on first use and again after
/// an error or a `Connection: close`.
pub struct Connection {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

/// Where to post and the request head's fixed part (host, headers).
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    head: String,
}

impl Target {
    /// `url` is `http://host:port/path`; `headers` are added to every request.
    pub fn new(url: &str, headers: &[(&str, &str)]) -> io::Result<Target> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{url} is not an http:// URL")))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let addr: SocketAddr = authority
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{authority} is not ip:port: {e}")))?;
        let path = if path.is_empty() { "/" } else { path };
        let mut head = format!("POST {path} HTTP/1.1\r\nHost: {authority}\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        Ok(Target { addr, head })
    }
}

impl Connection {
    pub fn new(addr: SocketAddr) -> Connection {
        Connection { addr, stream: None, buf: Vec::with_capacity(4096) }
    }

    /// Posts `body` and returns the answer's status once its whole body has
    /// been read. Any error drops the connection (the next post opens one).
    pub async fn post(&mut self, target: &Target, body: &[u8]) -> io::Result<u16> {
        let result = self.exchange(target, body).await;
        if !matches!(result, Ok((_, true))) {
            self.stream = None;
        }
        result.map(|(status, _)| status)
    }

    /// The status and whether the connection may be kept.
    async fn exchange(&mut self, target: &Target, body: &[u8]) -> io::Result<(u16, bool)> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(self.addr).await?;
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
        }
        let stream = self.stream.as_mut().expect("connected above");
        self.buf.clear();
        self.buf.extend_from_slice(target.head.as_bytes());
        self.buf.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        self.buf.extend_from_slice(body);
        stream.write_all(&self.buf).await?;

        self.buf.clear();
        let head_end = loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                break end + 4;
            }
            read_more(stream, &mut self.buf).await?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).map_err(|_| invalid("a response head that is not UTF-8"))?;
        let status: u16 = head
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| invalid(&format!("a status line {:?}", head.lines().next().unwrap_or(""))))?;
        let mut length = None;
        let mut keep = true;
        for line in head.lines().skip(1) {
            let Some((name, value)) = line.split_once(':') else { continue };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse::<usize>().map_err(|_| invalid(&format!("Content-Length {value:?}")))?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(invalid(&format!("Transfer-Encoding {value:?} (only Content-Length is read)")));
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
                keep = false;
            }
        }
        let length = length.ok_or_else(|| invalid("an answer without Content-Length"))?;
        while self.buf.len() < head_end + length {
            read_more(stream, &mut self.buf).await?;
        }
        if self.buf.len() > head_end + length {
            return Err(invalid("bytes after the answer (nothing was pipelined)"));
        }
        Ok((status, keep))
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<()> {
    let mut chunk = [0u8; 4096];
    let n = stream.read(&mut chunk).await?;
    if n == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection mid-answer"));
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("the load tool's client read {what}"))
}
