//! Gateway events in the specification's WebSocket event shape (`type`, `data`,
//! `timestamp`), published on a broadcast channel. Subscribers that fall behind lose the
//! oldest events rather than slowing the gateway.

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::db::NodeRow;

#[derive(Clone)]
pub struct Events {
    tx: broadcast::Sender<Value>,
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}

pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

impl Events {
    pub fn new() -> Self {
        Events {
            tx: broadcast::channel(1024).0,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Value> {
        self.tx.subscribe()
    }

    fn send(&self, kind: &str, data: Value) {
        // No subscribers is fine.
        let _ = self.tx.send(json!({
            "type": kind,
            "data": data,
            "timestamp": rfc3339(crate::db::now()),
        }));
    }

    pub fn file_created(&self, bucket: &str, key: &str, size: u64, etag: &str) {
        self.send(
            "file.created",
            json!({ "bucket": bucket, "key": key, "size": size, "etag": etag }),
        );
    }

    pub fn file_deleted(&self, bucket: &str, key: &str) {
        self.send("file.deleted", json!({ "bucket": bucket, "key": key }));
    }

    pub fn node_joined(&self, n: &NodeRow) {
        self.send(
            "node.joined",
            json!({
                "node_id": n.id,
                "peer_id": n.peer_id,
                "grpc_address": n.grpc_address,
                "capacity_bytes": n.capacity_bytes,
                "location": { "datacenter": n.datacenter, "rack": n.rack, "region": n.region },
            }),
        );
    }

    pub fn node_left(&self, id: &str, reason: &str) {
        self.send("node.left", json!({ "node_id": id, "reason": reason }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_the_specification_shape() {
        let e = Events::new();
        let mut rx = e.subscribe();
        e.file_deleted("b", "k");
        let v = rx.try_recv().unwrap();
        assert_eq!(v["type"], "file.deleted");
        assert_eq!(v["data"]["key"], "k");
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
