//! Wrappers of the webhook delivery scripts: one shard's slot (`{webhooks:n}`:
//! `webhook_mark.lua`, `webhook_due.lua`, `webhook_progress.lua`,
//! `webhook_unmark.lua`) and `{webhooks}` (`webhook_presence.lua`).

use super::{ScriptCall, Scripts, call, flag};
use crate::store::keys::WebhookShardKeys;

impl Scripts {
    /// `webhook_mark.lua`: room `live_id` due in its shard; yields the mark (ms).
    pub(crate) fn webhook_mark(&self, due: &str, live_id: &str) -> ScriptCall<'_, i64> {
        let mut c = call("webhook_mark", None, &self.webhook_mark);
        c.invocation.key(due).arg(live_id);
        c
    }

    /// `webhook_due.lua`: `count` due rooms from rank `offset`, with the node's
    /// clock: `[now_ms, live_id, mark_ms, …]` as strings.
    pub(crate) fn webhook_due(
        &self,
        due: &str,
        offset: usize,
        count: usize,
    ) -> ScriptCall<'_, Vec<String>> {
        let mut c = call("webhook_due", None, &self.webhook_due);
        c.invocation.key(due).arg(offset).arg(count);
        c
    }

    /// `webhook_progress.lua`: fenced cursor (`""` = unchanged) and retry state
    /// (`""` = cleared) of one `<receiver id>|<live_id>` field; false when the lease
    /// is not `token`'s.
    pub(crate) fn webhook_progress(
        &self,
        shard: &WebhookShardKeys,
        token: &str,
        field: &str,
        cursor: &str,
        retry: &str,
    ) -> ScriptCall<'_, bool> {
        let mut c = call("webhook_progress", None, &self.webhook_progress);
        c.invocation
            .key(&shard.lease)
            .key(&shard.cursor)
            .key(&shard.retry)
            .arg(token)
            .arg(field)
            .arg(cursor)
            .arg(retry);
        c
    }

    /// `webhook_unmark.lua`: compare-and-remove of a due mark (and, when
    /// `finished`, the room's `fields`); false when kept.
    pub(crate) fn webhook_unmark(
        &self,
        shard: &WebhookShardKeys,
        token: &str,
        live_id: &str,
        mark_ms: i64,
        finished: bool,
        fields: &[String],
    ) -> ScriptCall<'_, bool> {
        let mut c = call("webhook_unmark", None, &self.webhook_unmark);
        c.invocation
            .key(&shard.due)
            .key(&shard.lease)
            .key(&shard.cursor)
            .key(&shard.retry)
            .arg(token)
            .arg(live_id)
            .arg(mark_ms)
            .arg(flag(finished))
            .arg(fields.join(","));
        c
    }

    /// `webhook_presence.lua`: this replica alive (or leaving); yields how many are.
    pub(crate) fn webhook_presence(
        &self,
        replicas: &str,
        token: &str,
        window_ms: u64,
        alive: bool,
    ) -> ScriptCall<'_, u64> {
        let mut c = call("webhook_presence", None, &self.webhook_presence);
        c.invocation
            .key(replicas)
            .arg(token)
            .arg(window_ms)
            .arg(flag(alive));
        c
    }
}
