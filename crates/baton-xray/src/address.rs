//! Where the X-Ray daemon listens: `AWS_XRAY_DAEMON_ADDRESS`.

use std::net::{SocketAddr, ToSocketAddrs};

use crate::error::BuildError;

/// The environment variable that names the daemon's address.
pub const DAEMON_ADDRESS_ENV: &str = "AWS_XRAY_DAEMON_ADDRESS";

/// The daemon's address when nothing says otherwise.
pub const DEFAULT_DAEMON_ADDRESS: &str = "127.0.0.1:2000";

/// The UDP part of an `AWS_XRAY_DAEMON_ADDRESS` value, which is either one `host:port` (used
/// for both UDP and TCP) or two addresses, `tcp:host:port udp:host:port`, in either order.
/// Only UDP matters here: segments go over UDP; TCP is the daemon's sampling proxy.
pub(crate) fn udp_part(value: &str) -> Result<&str, BuildError> {
    let value = value.trim();
    let invalid = || BuildError::InvalidAddress {
        value: value.to_owned(),
    };
    let mut parts = value.split_whitespace();
    let first = parts.next().ok_or_else(invalid)?;
    match (parts.next(), parts.next()) {
        (None, _) => {
            if first.starts_with("udp:") || first.starts_with("tcp:") {
                return Err(invalid());
            }
            Ok(first)
        }
        (Some(second), None) => {
            let (mut udp, mut tcp) = (None, None);
            for part in [first, second] {
                if let Some(addr) = part.strip_prefix("udp:") {
                    udp = Some(addr);
                } else if let Some(addr) = part.strip_prefix("tcp:") {
                    tcp = Some(addr);
                }
            }
            match (udp, tcp) {
                (Some(udp), Some(_)) => Ok(udp),
                _ => Err(invalid()),
            }
        }
        _ => Err(invalid()),
    }
}

/// Resolves `host:port` (an IP or a name; a name is looked up once, here).
pub(crate) fn resolve(addr: &str) -> Result<SocketAddr, BuildError> {
    let invalid = || BuildError::InvalidAddress {
        value: addr.to_owned(),
    };
    let (host, port) = addr.rsplit_once(':').ok_or_else(invalid)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(invalid());
    }
    if let Ok(socket) = addr.parse::<SocketAddr>() {
        return Ok(socket);
    }
    addr.to_socket_addrs()
        .map_err(|source| BuildError::Resolve {
            value: addr.to_owned(),
            source,
        })?
        .next()
        .ok_or_else(invalid)
}

/// The daemon's UDP address from the environment (or the default).
pub(crate) fn from_env(env: fn(&str) -> Option<String>) -> Result<SocketAddr, BuildError> {
    match env(DAEMON_ADDRESS_ENV) {
        Some(value) if !value.trim().is_empty() => resolve(udp_part(&value)?),
        _ => resolve(DEFAULT_DAEMON_ADDRESS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    const CASES: &[(&str, Option<&str>)] = &[
        ("127.0.0.1:2000",                          Some("127.0.0.1:2000")),
        ("  10.0.0.5:3000 ",                        Some("10.0.0.5:3000")),
        ("tcp:127.0.0.1:2000 udp:127.0.0.2:2001",   Some("127.0.0.2:2001")),
        ("udp:127.0.0.2:2001 tcp:127.0.0.1:2000",   Some("127.0.0.2:2001")),
        ("udp:127.0.0.2:2001",                      None),
        ("tcp:127.0.0.1:2000 tcp:127.0.0.1:2001",   None),
        ("a b c",                                   None),
        ("",                                        None),
    ];

    #[test]
    fn udp_part_of_each_form() {
        for (input, expected) in CASES {
            assert_eq!(udp_part(input).ok(), *expected, "input {input:?}");
        }
    }

    #[test]
    fn resolves_ip_and_rejects_bad_ports() {
        assert_eq!(
            resolve("127.0.0.1:2000").unwrap(),
            "127.0.0.1:2000".parse().unwrap()
        );
        assert_eq!(
            resolve("[::1]:2000").unwrap(),
            "[::1]:2000".parse().unwrap()
        );
        assert!(resolve("127.0.0.1").is_err());
        assert!(resolve("127.0.0.1:99999").is_err());
        assert!(resolve(":2000").is_err());
        assert!(resolve("localhost:2000").is_ok());
    }

    #[test]
    fn environment_or_default() {
        assert_eq!(
            from_env(|_| None).unwrap(),
            "127.0.0.1:2000".parse().unwrap()
        );
        assert_eq!(
            from_env(|name| (name == DAEMON_ADDRESS_ENV)
                .then(|| "tcp:127.0.0.1:2000 udp:127.0.0.9:2009".to_owned()))
            .unwrap(),
            "127.0.0.9:2009".parse().unwrap()
        );
        assert!(from_env(|_| Some("nonsense".to_owned())).is_err());
    }
}
