//! `redis://HOST:PORT[/DB]`, read into the client's connection settings.
//!
//! Read here rather than by the client's own URL parser so that the
//! binary carries no URL machinery (host names in other scripts and their
//! tables): a Redis address is a host, a port and a database number.

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};

use crate::error::{Error, Result};

/// Where the shared Redis is.
#[derive(Clone, Debug)]
pub(crate) struct Address {
    pub host: String,
    pub port: u16,
    pub db: i64,
}

impl Address {
    /// Reads `redis://HOST[:PORT][/DB]` (port 6379 and database 0 unless
    /// given); the error says what is wrong and the form expected.
    pub fn parse(text: &str) -> Result<Address> {
        let bad = |why: &str| {
            Error::Config(format!(
                "--redis {text:?}: {why}; expected redis://HOST:PORT or redis://HOST:PORT/DB, e.g. redis://127.0.0.1:6379"
            ))
        };
        let rest = text
            .strip_prefix("redis://")
            .ok_or_else(|| bad("it must start with redis://"))?;
        let (authority, db) = match rest.split_once('/') {
            Some((a, "")) => (a, 0),
            Some((a, db)) => (
                a,
                db.parse::<i64>()
                    .ok()
                    .filter(|d| *d >= 0)
                    .ok_or_else(|| bad("the database must be a number"))?,
            ),
            None => (rest, 0),
        };
        if authority.contains('@') {
            return Err(bad(
                "user names and passwords in the address are not supported",
            ));
        }
        let (host, port) = match authority.rsplit_once(':') {
            // An IPv6 literal is in brackets: [::1]:6379.
            Some((h, p)) if !p.contains(']') => (
                h,
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?,
            ),
            _ => (authority, 6379),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("the host is missing"));
        }
        Ok(Address {
            host: host.to_string(),
            port,
            db,
        })
    }

    pub fn connection_info(&self) -> redis::RedisResult<ConnectionInfo> {
        Ok(ConnectionAddr::Tcp(self.host.clone(), self.port)
            .into_connection_info()?
            .set_redis_settings(RedisConnectionInfo::default().set_db(self.db)))
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "redis://[{}]:{}/{}", self.host, self.port, self.db)
        } else {
            write!(f, "redis://{}:{}/{}", self.host, self.port, self.db)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Address;

    #[test]
    fn addresses() {
        let a = Address::parse("redis://127.0.0.1:6380/2").unwrap();
        assert_eq!((a.host.as_str(), a.port, a.db), ("127.0.0.1", 6380, 2));
        let a = Address::parse("redis://cache").unwrap();
        assert_eq!((a.host.as_str(), a.port, a.db), ("cache", 6379, 0));
        let a = Address::parse("redis://[::1]:7000").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("::1", 7000));
        assert_eq!(a.to_string(), "redis://[::1]:7000/0");
        for bad in [
            "127.0.0.1:6379",
            "redis://:6379",
            "redis://h:x",
            "redis://h:0",
            "redis://h/x",
            "redis://u:p@h",
        ] {
            let e = Address::parse(bad).unwrap_err().to_string();
            assert!(e.contains("expected redis://HOST:PORT"), "{bad}: {e}");
        }
    }
}
