//! A client of the session protocol (docs/src/reconnection.md), written from the book
//! alone.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use super::Client;

/// What the welcome said.
#[derive(Debug, Clone)]
pub struct Welcome {
    pub id: i32,
    pub session: String,
    pub grace: f64,
    pub resumed: bool,
    pub received: u64,
    pub keepalive: f64,
}

/// The value of `key` in the welcome's flat JSON object.
fn field<'a>(json: &'a str, key: &str) -> &'a str {
    let at = json.find(&format!("\"{key}\":")).expect(key) + key.len() + 3;
    let rest = &json[at..];
    let end = rest.find([',', '}']).unwrap();
    rest[..end].trim_matches('"')
}

/// Reads a welcome frame; `None` if the frame is something else.
pub fn welcome(msg: &Message) -> Option<Welcome> {
    let Message::Binary(b) = msg else { return None };
    if b.len() < 2 || b[0] != 0 || b[1] != 2 {
        return None;
    }
    let json = std::str::from_utf8(&b[2..]).unwrap();
    Some(Welcome {
        id: field(json, "id").parse().unwrap(),
        session: field(json, "session").to_string(),
        grace: field(json, "grace").parse().unwrap(),
        resumed: field(json, "resumed") == "true",
        received: field(json, "received").parse().unwrap(),
        keepalive: field(json, "keepalive").parse().unwrap(),
    })
}

/// A returning client's hello: `00 03`, the secret's 16 bytes (from its hex form in the
/// welcome), the number of game messages received (u64 little endian).
pub fn hello(secret_hex: &str, received: u64) -> Message {
    let mut b = vec![0u8, 3];
    for i in (0..secret_hex.len()).step_by(2) {
        b.push(u8::from_str_radix(&secret_hex[i..i + 2], 16).expect("a hex secret"));
    }
    b.extend_from_slice(&received.to_le_bytes());
    Message::Binary(b.into())
}

/// A game message as a session sends it.
pub fn escape(msg: Message) -> Message {
    match msg {
        Message::Binary(b) if b.first() == Some(&0) => {
            Message::Binary([&[0u8, 0][..], &b].concat().into())
        }
        Message::Text(t) if t.as_bytes().first() == Some(&0) => {
            Message::Text(format!("\0\0{}", t.as_str()).into())
        }
        other => other,
    }
}

pub fn ack(count: u64) -> Message {
    let mut b = vec![0u8, 1];
    b.extend_from_slice(&count.to_le_bytes());
    Message::Binary(b.into())
}

/// `url` with `query` added to its own.
pub fn with_query(url: &str, query: &str) -> String {
    let joint = if url.contains('?') { '&' } else { '?' };
    format!("{url}{joint}{query}")
}

/// Why a read gave no game message.
#[derive(Debug, PartialEq)]
pub enum Gone {
    /// The connection broke: [`SessionClient::reconnect`].
    Broken,
    /// The server closed the session (close code).
    Closed(u16),
}

/// One client with a session.
pub struct SessionClient {
    url: String,
    pub welcome: Welcome,
    received: u64,
    acked: u64,
    /// Sent and not acknowledged: the front is message number `first`.
    log: VecDeque<Message>,
    first: u64,
    ws: Option<Client>,
    pub reconnects: usize,
    /// The close code of the last return the server turned away.
    pub turned_away: Option<u16>,
}

impl SessionClient {
    /// Connects to `url` (a query of the game's own is kept) asking for a session.
    pub async fn open(url: &str) -> Self {
        let mut client = Self::open_url(&with_query(url, "gws=2")).await;
        client.url = url.to_string();
        client
    }

    /// Connects to `url`, whose query already asks for a session (it comes back to the
    /// path alone).
    pub async fn open_url(url: &str) -> Self {
        let (ws, welcome) = Self::dial(url).await.expect("connect");
        Self::with_connection(url, ws, welcome)
    }

    /// A client on a connection already open and welcomed (from [`SessionClient::dial_with`]).
    pub fn with_connection(url: &str, ws: Client, welcome: Welcome) -> Self {
        SessionClient {
            url: url.split('?').next().unwrap().to_string(),
            welcome,
            received: 0,
            acked: 0,
            log: VecDeque::new(),
            first: 1,
            ws: Some(ws),
            reconnects: 0,
            turned_away: None,
        }
    }

    /// Connects to `url`; a returning client sends `hello` first. The welcome, or why
    /// there is none: `Err(Some(code))` when the server turned the connection away with
    /// a close frame, `Err(None)` when the connection failed.
    pub async fn dial_with(
        url: &str,
        hello: Option<Message>,
    ) -> Result<(Client, Welcome), Option<u16>> {
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(|_| None)?;
        if let Some(hello) = hello {
            ws.send(hello).await.map_err(|_| None)?;
        }
        let first = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .map_err(|_| None)?
            .ok_or(None)?
            .map_err(|_| None)?;
        if let Message::Close(frame) = &first {
            return Err(Some(frame.as_ref().map_or(1005, |f| f.code.into())));
        }
        let welcome = welcome(&first).expect("the first frame is the welcome");
        Ok((ws, welcome))
    }

    async fn dial(url: &str) -> Option<(Client, Welcome)> {
        Self::dial_with(url, None).await.ok()
    }

    pub fn id(&self) -> i32 {
        self.welcome.id
    }

    /// The local port of the client's connection.
    pub fn local_port(&self) -> u16 {
        match self.ws.as_ref().unwrap().get_ref() {
            tokio_tungstenite::MaybeTlsStream::Plain(tcp) => tcp.local_addr().unwrap().port(),
            _ => unreachable!("plain connections only"),
        }
    }

    /// Takes the connection out, open: the next [`SessionClient::reconnect`] comes back
    /// while it still stands.
    pub fn detach(&mut self) -> Option<Client> {
        self.ws.take()
    }

    /// Where the next [`SessionClient::reconnect`] goes (another route to the server).
    pub fn set_url(&mut self, url: &str) {
        self.url = url.split('?').next().unwrap().to_string();
    }

    pub fn is_broken(&self) -> bool {
        self.ws.is_none()
    }

    /// Game messages received in the session.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Messages sent and not yet acknowledged by the server.
    pub fn unacknowledged(&self) -> usize {
        self.log.len()
    }

    /// Sends a game message (kept until acknowledged; written when connected).
    pub async fn send(&mut self, msg: Message) {
        self.log.push_back(msg.clone());
        if let Some(ws) = &mut self.ws
            && ws.send(escape(msg)).await.is_err()
        {
            self.ws = None;
        }
    }

    /// Acknowledges what was received, if anything is new.
    pub async fn ack(&mut self) {
        if self.received <= self.acked {
            return;
        }
        if let Some(ws) = &mut self.ws {
            if ws.send(ack(self.received)).await.is_err() {
                self.ws = None;
                return;
            }
            self.acked = self.received;
        }
    }

    /// The next game message.
    pub async fn recv(&mut self) -> Result<Message, Gone> {
        loop {
            let ws = self.ws.as_mut().ok_or(Gone::Broken)?;
            let msg = match ws.next().await {
                Some(Ok(msg)) => msg,
                _ => {
                    self.ws = None;
                    return Err(Gone::Broken);
                }
            };
            let data = match msg {
                Message::Close(frame) => {
                    self.ws = None;
                    return Err(Gone::Closed(frame.map_or(1005, |f| f.code.into())));
                }
                Message::Binary(b) if b.first() == Some(&0) => {
                    if b.get(1) == Some(&1) && b.len() == 10 {
                        let count = u64::from_le_bytes(b[2..10].try_into().unwrap());
                        while self.first <= count && self.log.pop_front().is_some() {
                            self.first += 1;
                        }
                    }
                    if b.get(1) != Some(&0) {
                        continue;
                    }
                    Message::Binary(b.slice(2..))
                }
                Message::Text(t) if t.as_bytes().first() == Some(&0) => {
                    Message::Text(t.as_str()[2..].to_string().into())
                }
                m @ (Message::Text(_) | Message::Binary(_)) => m,
                _ => continue,
            };
            self.received += 1;
            if self.received - self.acked >= 32 {
                self.ack().await;
            }
            return Ok(data);
        }
    }

    /// The next frame as it arrived (for a connection without a session).
    pub async fn recv_raw(&mut self) -> Message {
        self.ws.as_mut().unwrap().next().await.unwrap().unwrap()
    }

    /// Comes back to the session (retrying for up to its grace period): `gws_return`
    /// names the peer, the hello proves it; then the welcome is acknowledged at once,
    /// which tells the server the client has the welcome's new secret. The welcome, or
    /// `None` when the server gave a new session instead (it is kept), turned the return
    /// away, or never answered.
    pub async fn reconnect(&mut self) -> Option<Welcome> {
        self.ws = None;
        let url = with_query(&self.url, &format!("gws=2&gws_return={}", self.welcome.id));
        let give_up = tokio::time::Instant::now() + Duration::from_secs_f64(self.welcome.grace);
        let mut pause = Duration::from_millis(5);
        let (ws, welcome) = loop {
            let hello = hello(&self.welcome.session, self.received);
            match Self::dial_with(&url, Some(hello)).await {
                Ok(done) => break done,
                // Turned away: the session cannot be resumed.
                Err(Some(code)) => {
                    self.turned_away = Some(code);
                    return None;
                }
                Err(None) => {}
            }
            if tokio::time::Instant::now() >= give_up {
                return None;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        };
        self.reconnects += 1;
        self.ws = Some(ws);
        if !welcome.resumed {
            self.welcome = welcome;
            return None;
        }
        // The welcome acknowledged at once (the old secret opens nothing after it).
        if let Some(ws) = self.ws.as_mut()
            && ws.send(ack(self.received)).await.is_err()
        {
            self.ws = None;
        }
        self.acked = self.received;
        // The server has received `welcome.received`: the rest again, in order.
        while self.first <= welcome.received && self.log.pop_front().is_some() {
            self.first += 1;
        }
        let again: Vec<Message> = self.log.iter().cloned().collect();
        self.welcome = welcome.clone();
        for msg in again {
            let ws = self.ws.as_mut()?;
            if ws.send(escape(msg)).await.is_err() {
                self.ws = None;
                return Some(welcome);
            }
        }
        Some(welcome)
    }

    /// Closes cleanly (the session ends).
    pub async fn close(mut self) {
        if let Some(mut ws) = self.ws.take() {
            let _ = ws.close(None).await;
            while let Some(Ok(_)) = ws.next().await {}
        }
    }
}
