//! Reading and trimming the dead-letter stream of webhook deliveries
//! ([`Keys::webhook_dead_letters`](super::Keys::webhook_dead_letters), one key, so
//! one slot on Redis Cluster): `XRANGE` pages oldest first, `XDEL` one entry once it
//! is re-sent. The entries are written by the delivery loop, never here.

use super::{Store, StoreError, command};

/// One dead-lettered delivery, as the delivery loop writes it (the fields of
/// [`Keys::webhook_dead_letters`](super::Keys::webhook_dead_letters)). Missing text
/// fields read as empty, missing numbers as 0, so a partial entry still lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The entry's stream id (`<ms>-<seq>`, when it was dead-lettered).
    pub stream_id: String,
    /// The receiver it was meant for.
    pub url: String,
    /// The event's `id` (`<live_id>:<stream id>`).
    pub event_id: String,
    /// The event's name (`room_started`, …).
    pub event: String,
    /// The event's room.
    pub live_id: String,
    /// The exact JSON body that was sent, to be sent again unchanged.
    pub body: String,
    /// Delivery attempts made before it was dead-lettered.
    pub attempts: u64,
    /// The last failure, as text.
    pub error: String,
    /// When the event happened, ms since the Unix epoch.
    pub created_at: i64,
}

impl DeadLetter {
    /// An entry from its stream id and field / value pairs; unknown fields ignored.
    pub fn from_entry(stream_id: &str, fields: &[(String, String)]) -> Self {
        let get = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map_or("", |(_, v)| v.as_str())
        };
        Self {
            stream_id: stream_id.to_owned(),
            url: get("url").to_owned(),
            event_id: get("event_id").to_owned(),
            event: get("event").to_owned(),
            live_id: get("live_id").to_owned(),
            body: get("body").to_owned(),
            attempts: get("attempts").parse().unwrap_or(0),
            error: get("error").to_owned(),
            created_at: get("created_at").parse().unwrap_or(0),
        }
    }
}

impl Store {
    /// Up to `count` dead letters after stream id `after` (exclusive; `None` = from
    /// the oldest), oldest first. One `XRANGE`, O(log N + count).
    pub async fn dead_letters(
        &self,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let entries = self
            .op("dead_letters.read")
            .stream_range(self.keys.webhook_dead_letters(), after, count)
            .await?;
        Ok(entries
            .iter()
            .map(|(id, fields)| DeadLetter::from_entry(id, fields))
            .collect())
    }

    /// Removes the dead letter `stream_id` (`XDEL`); whether it was there.
    pub async fn delete_dead_letter(&self, stream_id: &str) -> Result<bool, StoreError> {
        let removed: u64 = self
            .op("dead_letters.delete")
            .command(
                command("XDEL")
                    .arg(self.keys.webhook_dead_letters())
                    .arg(stream_id),
            )
            .await?;
        Ok(removed > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_reads_every_documented_field() {
        let pairs: Vec<(String, String)> = [
            ("url", "http://h/x"),
            ("event_id", "live_a:1-0"),
            ("event", "room_started"),
            ("live_id", "live_a"),
            ("body", "{}"),
            ("attempts", "7"),
            ("error", "timed out"),
            ("created_at", "1733100000000"),
            ("later_field", "ignored"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let d = DeadLetter::from_entry("5-0", &pairs);
        assert_eq!(
            d,
            DeadLetter {
                stream_id: "5-0".into(),
                url: "http://h/x".into(),
                event_id: "live_a:1-0".into(),
                event: "room_started".into(),
                live_id: "live_a".into(),
                body: "{}".into(),
                attempts: 7,
                error: "timed out".into(),
                created_at: 1_733_100_000_000,
            }
        );
        assert_eq!(DeadLetter::from_entry("6-0", &[]).attempts, 0);
    }
}
