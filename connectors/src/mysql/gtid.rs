//! MariaDB global transaction ids: `domain-server-sequence`, one per replication domain.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// One MariaDB GTID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gtid {
    /// Replication domain.
    pub domain: u32,
    /// Server that wrote the transaction.
    pub server: u32,
    /// Sequence number within the domain.
    pub seq: u64,
}

impl Gtid {
    /// The GTID of a MariaDB `GTID_EVENT` (type 0xA2): the sequence number is the body's first 8
    /// bytes, the domain the next 4 (both little-endian); the server id is in the event header.
    /// Also returns whether the transaction is standalone (a DDL statement with no `COMMIT`).
    pub fn from_event_body(body: &[u8], server: u32) -> Option<(Gtid, bool)> {
        let seq = u64::from_le_bytes(body.get(0..8)?.try_into().ok()?);
        let domain = u32::from_le_bytes(body.get(8..12)?.try_into().ok()?);
        let standalone = body.get(12).is_some_and(|flags| flags & 1 != 0);
        Some((
            Gtid {
                domain,
                server,
                seq,
            },
            standalone,
        ))
    }
}

impl fmt::Display for Gtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.domain, self.server, self.seq)
    }
}

/// A GTID position: the last transaction seen in each replication domain, as MariaDB's
/// `@@gtid_binlog_pos` and `@slave_connect_state` write it (`0-1-57,1-2-9`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GtidPosition(BTreeMap<u32, Gtid>);

impl GtidPosition {
    /// Records `gtid` as the latest of its domain.
    pub fn advance(&mut self, gtid: Gtid) {
        self.0.insert(gtid.domain, gtid);
    }

    /// Whether every domain of `other` is at or behind this position.
    pub fn covers(&self, other: &GtidPosition) -> bool {
        other.0.iter().all(|(domain, theirs)| {
            self.0
                .get(domain)
                .is_some_and(|ours| ours.seq >= theirs.seq)
        })
    }

    /// Whether no transaction has been seen.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for GtidPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, gtid) in self.0.values().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{gtid}")?;
        }
        Ok(())
    }
}

/// A GTID position that could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("not a GTID position: {0:?}")]
pub struct BadGtid(String);

impl FromStr for GtidPosition {
    type Err = BadGtid;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut position = GtidPosition::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let mut fields = part.split('-');
            let mut next = || fields.next().ok_or_else(|| BadGtid(text.to_string()));
            let bad = |_| BadGtid(text.to_string());
            let gtid = Gtid {
                domain: next()?.parse().map_err(bad)?,
                server: next()?.parse().map_err(bad)?,
                seq: next()?.parse().map_err(bad)?,
            };
            position.advance(gtid);
        }
        Ok(position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_compare_per_domain() {
        let p: GtidPosition = "0-1-57, 1-2-9".parse().expect("parses");
        assert_eq!(p.to_string(), "0-1-57,1-2-9");
        let behind: GtidPosition = "0-1-50".parse().expect("parses");
        assert!(p.covers(&behind));
        assert!(!behind.covers(&p));
        assert!(p.covers(&GtidPosition::default()));
        assert!("0-1".parse::<GtidPosition>().is_err());
        assert!("".parse::<GtidPosition>().expect("empty").is_empty());
    }

    #[test]
    fn gtid_events_decode() {
        let mut body = 57u64.to_le_bytes().to_vec();
        body.extend(3u32.to_le_bytes());
        body.push(1);
        let (gtid, standalone) = Gtid::from_event_body(&body, 7).expect("decodes");
        assert_eq!(gtid.to_string(), "3-7-57");
        assert!(standalone);
        assert!(Gtid::from_event_body(&body[..5], 7).is_none());
    }
}
