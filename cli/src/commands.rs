//! One function per command: the admin route it calls and how its answer is shown.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::client::{query, seg, Client};
use crate::error::CliError;
use crate::render::{cell, clean, field, pairs, print_json, Table};
use crate::{
    AccountsCmd, Command, ConflictsCmd, DirectoriesCmd, HoldsDecision, InviteArgs, LogArgs,
    OrgsCmd, SafeguardCmd, TokensCmd,
};

/// Resumable calls (sync-all, safeguard approve/release) stop after this many 202s.
const MAX_RESUMES: usize = 10_000;

pub async fn run(c: &Client, command: Command, json: bool) -> Result<(), CliError> {
    match command {
        Command::Orgs(cmd) => orgs(c, cmd, json).await,
        Command::Directories(cmd) => directories(c, cmd, json).await,
        Command::Tokens(cmd) => tokens(c, cmd, json).await,
        Command::Invite(args) => invite(c, args, json).await,
        Command::Accounts(cmd) => accounts(c, cmd, json).await,
        Command::Diagnose { email } => diagnose(c, &email, json).await,
        Command::Conflicts(cmd) => conflicts(c, cmd, json).await,
        Command::Log(args) => log(c, args, json).await,
        Command::Safeguard(cmd) => safeguard(c, cmd, json).await,
    }
}

fn dry(dry_run: bool) -> String {
    if dry_run {
        "?dryRun=true".into()
    } else {
        String::new()
    }
}

/// With `--json`, prints the API's answer and says so: the caller is done.
fn printed_json(json: bool, body: &Value) -> bool {
    if json {
        print_json(body);
    }
    json
}

fn arr(v: &Value, key: &str) -> Vec<Value> {
    v.get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn num(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn managed_by(v: &Value) -> String {
    match v.get("managedBy") {
        Some(m) => match m.get("directory").and_then(Value::as_str) {
            Some(d) => format!("directory {}", clean(d)),
            None => cell(m.get("by").unwrap_or(m)),
        },
        None => "-".into(),
    }
}

async fn orgs(c: &Client, cmd: OrgsCmd, json: bool) -> Result<(), CliError> {
    let a = match cmd {
        OrgsCmd::Create { name, domains } => {
            c.post(
                "/orgs",
                Some(&json!({"name": name, "verifiedDomains": domains})),
            )
            .await?
        }
        OrgsCmd::Get => c.get(&c.org_path("")?).await?,
    };
    if json {
        print_json(&a.body);
    } else {
        print!(
            "{}",
            pairs(&[
                ("id", field(&a.body, "id")),
                ("name", field(&a.body, "name")),
                ("verified domains", field(&a.body, "verifiedDomains")),
                ("created", field(&a.body, "created")),
            ])
        );
    }
    Ok(())
}

async fn directories(c: &Client, cmd: DirectoriesCmd, json: bool) -> Result<(), CliError> {
    let origin = c.config().origin().to_string();
    let scim_url = |d: &Value| format!("{origin}{}", field(d, "scimBaseUrl"));
    match cmd {
        DirectoriesCmd::List => {
            let a = c.get(&c.org_path("/directories")?).await?;
            if printed_json(json, &a.body) {
                return Ok(());
            }
            let mut t = Table::new(&["ID", "NAME", "IDP", "SCIM BASE URL"]);
            for d in arr(&a.body, "directories") {
                t.row(vec![
                    field(&d, "id"),
                    field(&d, "name"),
                    field(&d, "idp"),
                    scim_url(&d),
                ]);
            }
            t.print();
        }
        DirectoriesCmd::Create { name, idp } => {
            let a = c
                .post(
                    &c.org_path("/directories")?,
                    Some(&json!({"name": name, "idp": idp})),
                )
                .await?;
            if printed_json(json, &a.body) {
                return Ok(());
            }
            print!(
                "{}",
                pairs(&[
                    ("id", field(&a.body, "id")),
                    ("name", field(&a.body, "name")),
                    ("idp", field(&a.body, "idp")),
                    ("SCIM base URL", scim_url(&a.body)),
                ])
            );
            println!("Next: scimlink tokens create -d {}", field(&a.body, "id"));
        }
    }
    Ok(())
}

async fn tokens(c: &Client, cmd: TokensCmd, json: bool) -> Result<(), CliError> {
    let config = c.config();
    match cmd {
        TokensCmd::List(d) => {
            let dir = config.directory(&d.directory)?;
            let a = c
                .get(&c.org_path(&format!("/directories/{}/tokens", seg(dir)))?)
                .await?;
            if printed_json(json, &a.body) {
                return Ok(());
            }
            let mut t = Table::new(&["ID", "CREATED"]);
            for tok in arr(&a.body, "tokens") {
                t.row(vec![field(&tok, "id"), field(&tok, "created")]);
            }
            t.print();
        }
        TokensCmd::Create(d) => {
            let dir = config.directory(&d.directory)?;
            let a = c
                .post(
                    &c.org_path(&format!("/directories/{}/tokens", seg(dir)))?,
                    None,
                )
                .await?;
            if printed_json(json, &a.body) {
                return Ok(());
            }
            print!(
                "{}",
                pairs(&[
                    ("id", field(&a.body, "id")),
                    ("directory", field(&a.body, "directoryId")),
                    ("token", field(&a.body, "token")),
                ])
            );
            eprintln!("The token is shown once: only its hash is stored. Give it to the IdP now.");
        }
        TokensCmd::Revoke { dir, id } => {
            let dir = config.directory(&dir.directory)?;
            let a = c
                .call(
                    reqwest::Method::DELETE,
                    &c.org_path(&format!("/directories/{}/tokens/{}", seg(dir), seg(&id)))?,
                    None,
                )
                .await?;
            if json {
                print_json(&json!({"id": id, "revoked": a.status == 204}));
            } else {
                println!("token {} revoked", clean(&id));
            }
        }
    }
    Ok(())
}

async fn invite(c: &Client, args: InviteArgs, json: bool) -> Result<(), CliError> {
    let mut body = Map::new();
    body.insert("email".into(), json!(args.email));
    for (k, v) in [
        ("displayName", args.display_name),
        ("givenName", args.given_name),
        ("familyName", args.family_name),
    ] {
        if let Some(v) = v {
            body.insert(k.into(), json!(v));
        }
    }
    let a = c
        .post(
            &c.org_path(&format!("/invites{}", dry(args.dry_run)))?,
            Some(&Value::Object(body)),
        )
        .await?;
    if printed_json(json, &a.body) {
        return Ok(());
    }
    if args.dry_run {
        println!("dry run: nothing was created");
    }
    print_account(&a.body);
    Ok(())
}

fn print_account(a: &Value) {
    let link = match a.get("link") {
        Some(l) if !l.is_null() => format!(
            "SCIM user {} in directory {}",
            field(l, "userId"),
            field(l, "directoryId")
        ),
        _ => "-".into(),
    };
    print!(
        "{}",
        pairs(&[
            ("id", field(a, "id")),
            ("email", field(a, "email")),
            ("origin", field(a, "origin")),
            ("kind", field(a, "kind")),
            ("managed by", managed_by(a)),
            ("status", field(a, "status")),
            ("link", link),
        ])
    );
}

async fn accounts(c: &Client, cmd: AccountsCmd, json: bool) -> Result<(), CliError> {
    match cmd {
        AccountsCmd::List { limit, cursor, all } => {
            let mut cursor = cursor;
            let mut rows = Vec::new();
            let last = loop {
                let q = query(&[
                    ("limit", limit.map(|l| l.to_string())),
                    ("cursor", cursor.clone()),
                ]);
                let a = c.get(&c.org_path(&format!("/accounts{q}"))?).await?;
                rows.extend(arr(&a.body, "accounts"));
                cursor = a
                    .body
                    .get("nextCursor")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if !all || cursor.is_none() {
                    break a.body;
                }
            };
            if json {
                if all {
                    print_json(&json!({"accounts": rows, "nextCursor": null}));
                } else {
                    print_json(&last);
                }
                return Ok(());
            }
            let mut t = Table::new(&[
                "ID",
                "EMAIL",
                "ORIGIN",
                "KIND",
                "MANAGED BY",
                "STATUS",
                "LINKED",
            ]);
            for a in &rows {
                let linked = a
                    .get("link")
                    .filter(|l| !l.is_null())
                    .map(|l| field(l, "userId"))
                    .unwrap_or_else(|| "-".into());
                t.row(vec![
                    field(a, "id"),
                    field(a, "email"),
                    field(a, "origin"),
                    field(a, "kind"),
                    managed_by(a),
                    field(a, "status"),
                    linked,
                ]);
            }
            t.print();
            if let Some(next) = cursor.filter(|_| !all) {
                println!("more: --cursor {}", clean(&next));
            }
        }
        AccountsCmd::Get { id } => {
            let a = c
                .get(&c.org_path(&format!("/accounts/{}", seg(&id)))?)
                .await?;
            if printed_json(json, &a.body) {
                return Ok(());
            }
            print_account(&a.body);
            print_user_and_groups(&a.body);
        }
        AccountsCmd::Access { id } => {
            let a = c
                .get(&c.org_path(&format!("/accounts/{}/access", seg(&id)))?)
                .await?;
            if printed_json(json, &a.body) {
                return Ok(());
            }
            print_access(&a.body);
        }
    }
    Ok(())
}

fn print_user_and_groups(a: &Value) {
    if let Some(u) = a.get("linkedUser").filter(|u| !u.is_null()) {
        println!(
            "linked SCIM user: {} (userName {}, externalId {}, active {})",
            field(u, "id"),
            field(u, "userName"),
            field(u, "externalId"),
            field(u, "active")
        );
    }
    let names = |key: &str| {
        let v: Vec<String> = arr(a, key)
            .iter()
            .map(|g| match g {
                Value::String(_) => cell(g),
                _ => {
                    let name = g.get("displayName").or_else(|| g.get("name")).unwrap_or(g);
                    cell(name)
                }
            })
            .collect();
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(", ")
        }
    };
    println!("synced groups: {}", names("syncedGroups"));
    println!("admin groups:  {}", names("adminGroups"));
}

fn print_access(v: &Value) {
    if let Some(note) = v
        .get("note")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        println!("note: {}", clean(note));
    }
    let mut t = Table::new(&["ROLE", "FROM"]);
    for s in arr(v, "sources") {
        t.row(vec![field(&s, "role"), field(&s, "from")]);
    }
    if t.is_empty() {
        println!("no product access");
    } else {
        t.print();
    }
}

async fn diagnose(c: &Client, email: &str, json: bool) -> Result<(), CliError> {
    let a = c
        .get(&c.org_path(&format!(
            "/diagnose{}",
            query(&[("email", Some(email.to_string()))])
        ))?)
        .await?;
    let v = &a.body;
    if printed_json(json, v) {
        return Ok(());
    }
    println!("email: {} ({})", field(v, "email"), field(v, "kind"));
    println!();
    match v.get("account").filter(|a| !a.is_null()) {
        Some(acc) => {
            println!("Account");
            print_account(acc);
            print_user_and_groups(acc);
        }
        None => println!("Account: none"),
    }
    println!();
    let users = arr(v, "scimUsers");
    if users.is_empty() {
        println!("SCIM users: none");
    } else {
        println!("SCIM users");
        let mut t = Table::new(&[
            "DIRECTORY",
            "ID",
            "USERNAME",
            "EXTERNAL ID",
            "PRIMARY",
            "ACTIVE",
            "ACCOUNT",
        ]);
        for u in &users {
            t.row(vec![
                field(u, "directoryId"),
                field(u, "id"),
                field(u, "userName"),
                field(u, "externalId"),
                field(u, "primary"),
                field(u, "active"),
                field(u, "accountId"),
            ]);
        }
        t.print();
    }
    println!();
    let events = arr(v, "recentEvents");
    if events.is_empty() {
        println!("Recent events: none");
    } else {
        println!("Recent events");
        event_table(&events).print();
    }
    println!();
    println!("Verdict:   {}", field(v, "verdict"));
    println!("Next step: {}", field(v, "nextStep"));
    Ok(())
}

fn event_table(events: &[Value]) -> Table {
    let mut t = Table::new(&["TIME", "DIRECTORY", "BY", "OUTCOME", "EMAIL", "MESSAGE"]);
    for e in events {
        t.row(vec![
            field(e, "time"),
            field(e, "directoryId"),
            field(e, "idp"),
            field(e, "outcome"),
            field(e, "email"),
            field(e, "message"),
        ]);
    }
    t
}

fn conflict_row(t: &mut Table, g: &Value) {
    let sites: Vec<String> = arr(g, "sites")
        .iter()
        .map(|s| match s {
            Value::String(_) => cell(s),
            _ => cell(s.get("name").or_else(|| s.get("id")).unwrap_or(s)),
        })
        .collect();
    let status = if g.get("canSync").and_then(Value::as_bool) == Some(false) {
        "blocked (default access)".to_string()
    } else if g.get("rejected").and_then(Value::as_bool) == Some(true) {
        "rejected".to_string()
    } else {
        "held".to_string()
    };
    t.row(vec![
        field(g, "directoryId"),
        field(g, "groupId"),
        field(g, "name"),
        field(g, "roles"),
        if sites.is_empty() {
            "-".into()
        } else {
            sites.join(", ")
        },
        num(g, "added").to_string(),
        num(g, "removed").to_string(),
        num(g, "unchanged").to_string(),
        status,
    ]);
}

const CONFLICT_HEADER: [&str; 9] = [
    "DIRECTORY",
    "GROUP",
    "NAME",
    "PRODUCT ACCESS",
    "SITES",
    "ADDED",
    "REMOVED",
    "UNCHANGED",
    "STATUS",
];

/// The accounts added and removed of a review or a dry run, with their access deltas.
fn print_deltas(v: &Value) {
    let added = arr(v, "accountsAdded");
    let removed = arr(v, "accountsRemoved");
    let mut t = Table::new(&["CHANGE", "ACCOUNT", "EMAIL", "STATUS", "ACCESS", "KEEPS"]);
    for (list, change, key, sign) in [
        (&added, "added", "gains", "+"),
        (&removed, "removed", "loses", "-"),
    ] {
        for a in list {
            let delta: Vec<String> = arr(a, key)
                .iter()
                .map(|r| format!("{sign}{}", cell(r)))
                .collect();
            let keeps: Vec<String> = arr(a, "keeps")
                .iter()
                .map(|k| format!("{} ({})", field(k, "role"), field(k, "from")))
                .collect();
            t.row(vec![
                change.into(),
                field(a, "accountId"),
                field(a, "email"),
                field(a, "status"),
                if delta.is_empty() {
                    "no change".into()
                } else {
                    delta.join(" ")
                },
                if keeps.is_empty() {
                    "-".into()
                } else {
                    keeps.join("; ")
                },
            ]);
        }
    }
    if t.is_empty() {
        println!("no account is added or removed");
    } else {
        t.print();
    }
}

async fn conflicts(c: &Client, cmd: ConflictsCmd, json: bool) -> Result<(), CliError> {
    match cmd {
        ConflictsCmd::List => {
            let a = c.get(&c.org_path("/conflicts")?).await?;
            if printed_json(json, &a.body) {
                return Ok(());
            }
            let list = arr(&a.body, "conflicts");
            if list.is_empty() {
                println!("no held group");
                return Ok(());
            }
            let mut t = Table::new(&CONFLICT_HEADER);
            for g in &list {
                conflict_row(&mut t, g);
            }
            t.print();
            println!(
                "{} held; review one: scimlink conflicts review <DIRECTORY> <GROUP>",
                list.len()
            );
        }
        ConflictsCmd::Review {
            directory,
            group,
            offset,
            limit,
            all,
        } => {
            let base = c.org_path(&format!("/conflicts/{}/{}", seg(&directory), seg(&group)))?;
            let mut offset = offset;
            let mut pages: Vec<Value> = Vec::new();
            loop {
                let q = query(&[
                    ("offset", Some(offset.to_string())),
                    ("limit", limit.map(|l| l.to_string())),
                ]);
                let a = c.get(&format!("{base}{q}")).await?;
                let next = a.body.get("nextOffset").and_then(Value::as_u64);
                pages.push(a.body);
                match next {
                    Some(n) if all && n > offset => offset = n,
                    _ => break,
                }
            }
            let mut body = pages.first().cloned().unwrap_or(Value::Null);
            if pages.len() > 1 {
                let (mut added, mut removed) = (Vec::new(), Vec::new());
                for p in &pages {
                    added.extend(arr(p, "accountsAdded"));
                    removed.extend(arr(p, "accountsRemoved"));
                }
                body["accountsAdded"] = json!(added);
                body["accountsRemoved"] = json!(removed);
                body["nextOffset"] = Value::Null;
            }
            let next = pages
                .last()
                .and_then(|p| p.get("nextOffset"))
                .and_then(Value::as_u64);
            if printed_json(json, &body) {
                return Ok(());
            }
            let mut t = Table::new(&CONFLICT_HEADER);
            conflict_row(&mut t, &body);
            t.print();
            if let Some(why) = body.get("blockedBecause").and_then(Value::as_str) {
                println!("cannot sync: {}", clean(why));
            }
            println!(
                "{} added, {} removed, {} unchanged",
                num(&body, "added"),
                num(&body, "removed"),
                num(&body, "unchanged")
            );
            println!();
            print_deltas(&body);
            if let Some(n) = next {
                println!("more: --offset {n} (or --all)");
            }
        }
        ConflictsCmd::Sync {
            directory,
            group,
            dry: d,
        } => {
            let a = conflict_action(c, &directory, &group, "sync", d.dry_run).await?;
            if json {
                print_json(&a.body);
            } else if d.dry_run {
                println!("dry run: nothing was changed. Syncing would:");
                print_deltas(&a.body);
            } else {
                println!(
                    "synced {}: {} added, {} removed; directory {} manages it from now on",
                    field(&a.body, "name"),
                    num(&a.body, "added"),
                    num(&a.body, "removed"),
                    clean(&directory)
                );
            }
        }
        ConflictsCmd::SyncAll {
            dry: d,
            include_rejected,
        } => {
            sync_all(c, d.dry_run, include_rejected, json).await?;
        }
        ConflictsCmd::Reject {
            directory,
            group,
            dry: d,
        } => {
            let a = conflict_action(c, &directory, &group, "reject", d.dry_run).await?;
            if json {
                print_json(&a.body);
            } else if d.dry_run {
                println!("dry run: group {} would stay held, rejected", clean(&group));
            } else {
                println!("group {} rejected: it stays held", clean(&group));
            }
        }
    }
    Ok(())
}

/// POST /conflicts/{d}/{g}/{action} (sync, reject), with `?dryRun=true` on a dry run.
async fn conflict_action(
    c: &Client,
    directory: &str,
    group: &str,
    action: &str,
    dry_run: bool,
) -> Result<crate::client::Answer, CliError> {
    let path = c.org_path(&format!(
        "/conflicts/{}/{}/{action}{}",
        seg(directory),
        seg(group),
        dry(dry_run)
    ))?;
    c.post(&path, None).await
}

/// A progress bar on stderr, drawn only on a terminal (and never with --json).
fn progress(json: bool, what: &str) -> indicatif::ProgressBar {
    if json {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

/// POST /conflicts/sync-all until it answers 200 (a 202 is progress: call again). A dry run
/// changes nothing, so calling again would answer the same: it is one call.
async fn sync_all(
    c: &Client,
    dry_run: bool,
    include_rejected: bool,
    json: bool,
) -> Result<(), CliError> {
    let mut q = vec![];
    if dry_run {
        q.push(("dryRun", Some("true".to_string())));
    }
    if include_rejected {
        q.push(("includeRejected", Some("true".to_string())));
    }
    let path = c.org_path(&format!("/conflicts/sync-all{}", query(&q)))?;
    let bar = progress(json, "syncing held groups");
    let mut synced: Vec<Value> = Vec::new();
    let mut total = None;
    let mut calls = 0;
    let last = loop {
        let a = c.post(&path, None).await?;
        calls += 1;
        let t = *total.get_or_insert(num(&a.body, "total"));
        synced.extend(arr(&a.body, "syncedGroups"));
        bar.set_length(t);
        bar.set_position(synced.len() as u64);
        if a.status != 202 || dry_run || calls >= MAX_RESUMES {
            break a.body;
        }
    };
    bar.finish_and_clear();
    let mut out = last.clone();
    out["total"] = json!(total.unwrap_or(0));
    out["synced"] = json!(synced.len());
    out["syncedGroups"] = json!(synced);
    out["calls"] = json!(calls);
    if printed_json(json, &out) {
        return Ok(());
    }
    if dry_run {
        println!("dry run: nothing was changed. Sync all would:");
    }
    let mut t = Table::new(&["RESULT", "GROUP", "NAME", "ADDED", "REMOVED", "REASON"]);
    for g in arr(&out, "syncedGroups") {
        let (added, removed) = if dry_run {
            (num(&g, "added").to_string(), num(&g, "removed").to_string())
        } else {
            ("".into(), "".into())
        };
        t.row(vec![
            if dry_run {
                "would sync".into()
            } else {
                "synced".into()
            },
            field(&g, "groupId"),
            field(&g, "name"),
            added,
            removed,
            "".into(),
        ]);
    }
    for (key, label) in [("refused", "refused"), ("skipped", "skipped")] {
        for g in arr(&out, key) {
            t.row(vec![
                label.into(),
                field(&g, "groupId"),
                field(&g, "name"),
                "".into(),
                "".into(),
                field(&g, "reason"),
            ]);
        }
    }
    if !t.is_empty() {
        t.print();
    }
    println!(
        "{} of {} held groups {}, {} refused, {} skipped, {} remaining",
        synced.len(),
        num(&out, "total"),
        if dry_run { "would sync" } else { "synced" },
        arr(&out, "refused").len(),
        arr(&out, "skipped").len(),
        num(&out, "remaining"),
    );
    if dry_run {
        if let Some(g) = arr(&out, "syncedGroups").first() {
            println!(
                "per-account changes: scimlink conflicts review {} {}",
                field(g, "directoryId"),
                field(g, "groupId")
            );
        }
    }
    Ok(())
}

fn event_key(e: &Value) -> String {
    e.to_string()
}

/// GET /events (or a directory's), newest first, paged by cursor up to `limit`.
async fn log(c: &Client, args: LogArgs, json: bool) -> Result<(), CliError> {
    // Only --follow takes over Ctrl-C: anything else ends by the default action.
    let stop = args.follow.then(Stop::listen);
    let base = match &args.directory {
        Some(d) => c.org_path(&format!("/directories/{}/events", seg(d)))?,
        None => c.org_path("/events")?,
    };
    let filters = |limit: usize, cursor: Option<String>| {
        query(&[
            ("email", args.email.clone()),
            ("scimId", args.scim_id.clone()),
            ("outcome", args.outcome.clone()),
            ("since", args.since.clone()),
            ("until", args.until.clone()),
            ("limit", Some(limit.clamp(1, 200).to_string())),
            ("cursor", cursor),
        ])
    };
    let mut events: Vec<Value> = Vec::new();
    let mut cursor = None;
    loop {
        let want = args.limit.saturating_sub(events.len());
        let a = c
            .get(&format!("{base}{}", filters(want, cursor.clone())))
            .await?;
        events.extend(arr(&a.body, "events"));
        cursor = a
            .body
            .get("nextCursor")
            .and_then(Value::as_str)
            .map(str::to_string);
        if cursor.is_none() || events.len() >= args.limit {
            break;
        }
    }
    events.truncate(args.limit);
    if !args.follow {
        if json {
            print_json(&json!({"events": events, "nextCursor": cursor}));
        } else if events.is_empty() {
            println!("no event");
        } else {
            event_table(&events).print();
        }
        return Ok(());
    }
    // Follow: newest last, then every poll's new events, until Ctrl-C, SIGTERM or --follow-for.
    let mut stop = stop.unwrap_or_else(Stop::listen);
    let mut seen: HashSet<String> = events.iter().map(event_key).collect();
    events.reverse();
    print_events_stream(&events, json);
    let deadline = args
        .follow_for
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    loop {
        let sleep = tokio::time::sleep(Duration::from_secs(args.interval.max(1)));
        let until_deadline = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = stop.wait() => return Ok(()),
            _ = until_deadline => return Ok(()),
            _ = sleep => {}
        }
        // New events are at the head: read pages until one holds an event already seen.
        let mut fresh: Vec<Value> = Vec::new();
        let mut cursor = None;
        for _ in 0..10 {
            let a = c
                .get(&format!("{base}{}", filters(200, cursor.clone())))
                .await?;
            let page = arr(&a.body, "events");
            let mut reached_seen = false;
            for e in page {
                if seen.contains(&event_key(&e)) {
                    reached_seen = true;
                } else {
                    fresh.push(e);
                }
            }
            cursor = a
                .body
                .get("nextCursor")
                .and_then(Value::as_str)
                .map(str::to_string);
            if reached_seen || cursor.is_none() {
                break;
            }
        }
        for e in &fresh {
            seen.insert(event_key(e));
        }
        fresh.reverse();
        print_events_stream(&fresh, json);
    }
}

/// Follow mode's output: one line per event (JSON lines with --json).
fn print_events_stream(events: &[Value], json: bool) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for e in events {
        let line = if json {
            e.to_string()
        } else {
            format!(
                "{}  {}  {}  {}  {}  {}",
                field(e, "time"),
                field(e, "directoryId"),
                field(e, "outcome"),
                field(e, "email"),
                field(e, "idp"),
                field(e, "message")
            )
        };
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
}

/// Ctrl-C (SIGINT) and SIGTERM, listened for from its creation: a signal during the first
/// fetch also ends `--follow` cleanly rather than by the default action.
struct Stop {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Stop {
    fn listen() -> Stop {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Stop {
                signals: signal(SignalKind::interrupt())
                    .ok()
                    .zip(signal(SignalKind::terminate()).ok()),
            }
        }
        #[cfg(not(unix))]
        Stop {}
    }

    /// Resolves on the next signal.
    async fn wait(&mut self) {
        #[cfg(unix)]
        if let Some((interrupt, terminate)) = &mut self.signals {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn safeguard(c: &Client, cmd: SafeguardCmd, json: bool) -> Result<(), CliError> {
    let config = c.config();
    let path =
        |dir: &str, rest: &str| c.org_path(&format!("/directories/{}/safeguard{rest}", seg(dir)));
    match cmd {
        SafeguardCmd::Get(d) => {
            let a = c.get(&path(config.directory(&d.directory)?, "")?).await?;
            if json {
                print_json(&a.body);
            } else {
                print_safeguard(&a.body);
            }
        }
        SafeguardCmd::Set {
            dir,
            enabled,
            share_percent,
            min_count,
            window_minutes,
            dry: d,
        } => {
            let mut body = Map::new();
            if let Some(v) = enabled {
                body.insert("enabled".into(), json!(v));
            }
            if let Some(v) = share_percent {
                body.insert("sharePercent".into(), json!(v));
            }
            if let Some(v) = min_count {
                body.insert("minCount".into(), json!(v));
            }
            if let Some(v) = window_minutes {
                body.insert("windowMinutes".into(), json!(v));
            }
            let a = c
                .call(
                    reqwest::Method::PUT,
                    &path(config.directory(&dir.directory)?, &dry(d.dry_run))?,
                    Some(&Value::Object(body)),
                )
                .await?;
            if json {
                print_json(&a.body);
            } else {
                if d.dry_run {
                    println!("dry run: nothing was changed. The settings would be:");
                }
                print_safeguard(&a.body);
            }
        }
        SafeguardCmd::Holds(d) => {
            let a = c
                .get(&path(config.directory(&d.directory)?, "/holds")?)
                .await?;
            if printed_json(json, &a.body) {
                return Ok(());
            }
            let mut t = Table::new(&[
                "ACCOUNT",
                "EMAIL",
                "SINCE",
                "SUSPENSION HELD",
                "WOULD LOSE",
                "KEEPS",
                "REASONS",
            ]);
            for h in arr(&a.body, "holds") {
                t.row(vec![
                    field(&h, "accountId"),
                    field(&h, "email"),
                    field(&h, "since"),
                    field(&h, "suspensionHeld"),
                    field(&h, "wouldLose"),
                    field(&h, "keptRoles"),
                    field(&h, "reasons"),
                ]);
            }
            if !t.is_empty() {
                t.print();
            }
            println!(
                "{} held, {} suspensions held, {} accounts would lose access",
                num(&a.body, "total"),
                num(&a.body, "suspensionsHeld"),
                num(&a.body, "accountsLosingAccess")
            );
        }
        SafeguardCmd::Approve(h) => decide(c, h, "approve", json).await?,
        SafeguardCmd::Release(h) => decide(c, h, "release", json).await?,
    }
    Ok(())
}

fn print_safeguard(v: &Value) {
    print!(
        "{}",
        pairs(&[
            ("directory", field(v, "directoryId")),
            ("enabled", field(v, "enabled")),
            ("share percent", field(v, "sharePercent")),
            ("min count", field(v, "minCount")),
            ("window minutes", field(v, "windowMinutes")),
            ("tripped", field(v, "tripped")),
            ("held", field(v, "held")),
        ])
    );
    if let Some(r) = v.get("recommended") {
        println!(
            "recommended: share percent {}, min count {}",
            field(r, "sharePercent"),
            field(r, "minCount")
        );
    }
    if let Some(w) = v.get("window").filter(|w| !w.is_null()) {
        println!(
            "window: since {}, baseline {} users, {} counted, threshold {}",
            field(w, "start"),
            field(w, "baselineUsers"),
            field(w, "counted"),
            field(w, "threshold")
        );
    }
}

/// POST .../safeguard/holds/approve|release, resumed on 202 (not on a dry run).
async fn decide(c: &Client, h: HoldsDecision, decision: &str, json: bool) -> Result<(), CliError> {
    let dir = c.config().directory(&h.dir.directory)?;
    let path = c.org_path(&format!(
        "/directories/{}/safeguard/holds/{decision}{}",
        seg(dir),
        dry(h.dry.dry_run)
    ))?;
    let body = if h.accounts.is_empty() {
        None
    } else {
        Some(json!({"accountIds": h.accounts}))
    };
    let bar = progress(json, decision);
    let mut holds: Vec<Value> = Vec::new();
    let mut calls = 0;
    let last = loop {
        let a = c.post(&path, body.as_ref()).await?;
        calls += 1;
        holds.extend(arr(&a.body, "holds"));
        bar.set_length(holds.len() as u64 + num(&a.body, "remaining"));
        bar.set_position(holds.len() as u64);
        if a.status != 202 || h.dry.dry_run || calls >= MAX_RESUMES {
            break a.body;
        }
    };
    bar.finish_and_clear();
    let mut out = last;
    out["decided"] = json!(holds.len());
    out["holds"] = json!(holds);
    if printed_json(json, &out) {
        return Ok(());
    }
    if h.dry.dry_run {
        println!("dry run: nothing was changed. This would {decision}:");
    }
    let mut t = Table::new(&["ACCOUNT", "EMAIL", "REVOKED"]);
    for x in &holds {
        t.row(vec![
            field(x, "accountId"),
            field(x, "email"),
            field(x, "revoked"),
        ]);
    }
    if !t.is_empty() {
        t.print();
    }
    println!(
        "{} holds {}, {} accounts losing access, {} not held",
        holds.len(),
        match (h.dry.dry_run, decision) {
            (true, "approve") => "would be approved",
            (true, _) => "would be released",
            (false, "approve") => "approved",
            (false, _) => "released",
        },
        num(&out, "accountsLosingAccess"),
        arr(&out, "notHeld").len()
    );
    Ok(())
}
