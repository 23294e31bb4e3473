//! `passkeyd webhooks ...`: the delivery log and redeliveries, directly on the database (the
//! endpoints are set with `passkeyd tenant update --set webhooks=[...]`).

use std::io::Write;

use clap::{Args, Subcommand};
use serde_json::json;

use crate::config::Config;
use crate::service::webhooks::worker::now_ms;
use crate::store::{self, AuditEvent, StoreError, WebhookDelivery};
use crate::tenant::TenantId;

/// `passkeyd webhooks ...`
#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Print the tenant's deliveries, newest first, one JSON object a line.
    Deliveries(DeliveriesArgs),
    /// Send a delivery again (the same body and `webhook-id`), whatever became of it; a
    /// running server sends it within a second or so.
    Redeliver(RedeliverArgs),
}

/// Arguments of `passkeyd webhooks deliveries`.
#[derive(Debug, Args)]
pub struct DeliveriesArgs {
    /// The tenant.
    #[arg(long, value_parser = parse_id)]
    pub tenant: TenantId,
    /// At most this many.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
}

/// Arguments of `passkeyd webhooks redeliver`.
#[derive(Debug, Args)]
pub struct RedeliverArgs {
    /// The tenant whose delivery it is (every store operation names its tenant).
    #[arg(long, value_parser = parse_id)]
    pub tenant: TenantId,
    /// The delivery ID (`whd_...`), as the delivery log shows it.
    pub delivery_id: String,
}

fn parse_id(text: &str) -> Result<TenantId, String> {
    TenantId::parse(text).map_err(|e| e.to_string())
}

fn line(d: &WebhookDelivery) -> serde_json::Value {
    json!({
        "id": d.message.id,
        "messageId": d.message.message_id,
        "url": d.message.endpoint_url,
        "eventType": d.message.event_type,
        "status": d.status.as_str(),
        "attempts": d.attempts,
        "createdAt": d.message.created_at,
        "nextAttemptAt": d.next_attempt_at,
        "lastStatus": d.last_status,
        "lastError": d.last_error,
        "deliveredAt": d.delivered_at,
    })
}

/// Runs a webhooks command.
pub async fn run(
    command: WebhooksCommand,
    config: &Config,
    out: &mut impl Write,
) -> Result<(), String> {
    let store = store::open(config).await.map_err(|e| e.to_string())?;
    let result = async {
        match command {
            WebhooksCommand::Deliveries(args) => {
                let page = store
                    .webhook_deliveries(&args.tenant, None, args.limit.clamp(1, 1_000))
                    .await
                    .map_err(|e| e.to_string())?;
                for d in &page {
                    writeln!(out, "{}", line(d)).map_err(|e| e.to_string())?;
                }
                Ok(())
            }
            WebhooksCommand::Redeliver(args) => {
                let done = match store
                    .redeliver_webhook(&args.tenant, &args.delivery_id, now_ms())
                    .await
                {
                    Ok(done) => done,
                    Err(StoreError::NotFound) => {
                        return Err(format!(
                            "tenant {} has no delivery {}",
                            args.tenant, args.delivery_id
                        ))
                    }
                    Err(e) => return Err(e.to_string()),
                };
                let event = AuditEvent {
                    at: super::now().0,
                    actor: "cli".to_owned(),
                    action: "webhooks.redeliver".to_owned(),
                    subject: Some(format!("delivery:{}", args.delivery_id)),
                    outcome: "success".to_owned(),
                    details: json!({}),
                    ..AuditEvent::default()
                };
                if let Err(e) = store.insert_audit_event(&args.tenant, &event).await {
                    tracing::warn!(error = %e, "cannot record the audit event");
                }
                writeln!(out, "{}", line(&done)).map_err(|e| e.to_string())
            }
        }
    }
    .await;
    store.close().await;
    result
}
