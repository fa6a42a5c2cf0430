//! `reportq keys` and `reportq webhook`.

use super::*;

/// `reportq keys ...`: the bucket's key records, through the same code the API checks with.
pub(crate) async fn keys(cmd: KeysCmd) -> Res {
    let cfg = reportq::config::ApiSettings::from_env()?;
    let access = reportq::startup::Services::from_env(&cfg.bucket).await.access(&cfg);
    let now = reportq::domain::now_epoch();
    match cmd {
        KeysCmd::Create { name, scopes, quota } => {
            let scopes = reportq::domain::access::Scope::parse_list(&scopes)?;
            let (token, rec) = access.create_key(&name, scopes, quota, now).await?;
            eprintln!("key {} ({}) made; it is shown this once and stored only as a hash:", rec.id, rec.name);
            println!("{token}");
            // Its own: events for this key's jobs are signed with it, and nobody else's are.
            eprintln!("its webhook signing secret (for verifying its callbacks; shown this once): {}", rec.webhook_secrets[0]);
            if cfg.auth != reportq::access::AuthMode::Keys {
                eprintln!("note: REPORTQ_AUTH is {} here; the API checks keys only with REPORTQ_AUTH=keys", cfg.auth.as_str());
            }
        }
        KeysCmd::List { json } => {
            let all = access.list_keys().await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &all.iter()
                            .map(|k| serde_json::json!({
                                "id": k.id, "name": k.name, "scopes": k.scopes, "quota_per_day": k.quota_per_day,
                                "created_at": reportq::domain::job::rfc3339(k.created_at_epoch),
                                "revoked_at": k.revoked_at_epoch.map(reportq::domain::job::rfc3339),
                            }))
                            .collect::<Vec<_>>()
                    )?
                );
                return Ok(());
            }
            println!("{:<12}  {:<20}  {:<18}  {:>10}  {:<20}  revoked", "id", "name", "scopes", "today/quota", "created");
            for k in all {
                let scopes = k.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");
                let used = access.used_today(&k.id, now).await?;
                let quota = k.quota_per_day.map(|q| format!("{used}/{q}")).unwrap_or_else(|| format!("{used}/-"));
                let revoked = k.revoked_at_epoch.map(reportq::domain::job::rfc3339).unwrap_or_default();
                println!(
                    "{:<12}  {:<20}  {:<18}  {:>11}  {:<20}  {revoked}",
                    k.id,
                    k.name,
                    scopes,
                    quota,
                    reportq::domain::job::rfc3339(k.created_at_epoch)
                );
            }
        }
        KeysCmd::Revoke { id } => match access.revoke_key(&id, now).await? {
            Some(k) => eprintln!("key {} ({}) revoked", k.id, k.name),
            None => return Err(format!("no key {id}").into()),
        },
        KeysCmd::RotateWebhookSecret { id } => match access.rotate_webhook_secret(&id).await? {
            Some((secret, k)) => {
                eprintln!(
                    "key {} ({}): new webhook signing secret, shown this once; the previous one signs beside it until the next rotation:",
                    k.id, k.name
                );
                println!("{secret}");
            }
            None => return Err(format!("no key {id}").into()),
        },
    }
    Ok(())
}
