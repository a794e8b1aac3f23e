//! Cleanup guarantees against the demo target: synthetic trips carry the run
//! id and are deleted whatever fails (every demo fault, injected 5xx), on
//! SIGTERM (`once` and `run`), and by the opt-in `sweep-orphans` flow when a
//! delete itself failed (credential safety: tests/it/credentials.rs).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use smokeprobe::demo::{DemoOptions, DemoServer, OTHER_USERNAME};

use crate::common::*;
use crate::run::{probe, sample, start_run};

fn probe_trips(server: &DemoServer) -> Vec<String> {
    server
        .trips()
        .into_iter()
        .filter(|t| t.title.starts_with("[probe]"))
        .map(|t| format!("{} ({}, {})", t.title, t.status, t.owner))
        .collect()
}

/// `once` of the shipped probe file against `server` with `extra` arguments
/// (`--flow`s), with a JSON report.
async fn lifecycle_once(server: &DemoServer, extra: &[&str]) -> (serde_json::Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let reports = Reports::new();
    let mut args = contravento_args(server, dir.path());
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(reports.args());
    let out = run(args, Vec::new()).await;
    let (stdout, stderr) = text(&out);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{stdout}\n{stderr}"
    );
    (reports.json(), stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_orphans_after_any_demo_fault() {
    let server = demo(&[]).await;
    let faults = [
        "db-down",
        "reject-photos",
        "publish-fails",
        "feed-hides-new",
        "no-security-headers",
        "leak-errors",
        "upload-trusts-type",
        "headers=as-committed",
        "server-version",
        "insecure-cookie",
        "cors=wildcard",
        "source-maps",
        "no-gzip",
        // Create refused, photo upload refused, the feed and the trip page down.
        "error:POST:/api/trips=1:503",
        "error:POST:/api/trips/=1:502",
        "error:GET:/api/trips/public=1:500",
        "error:GET:/api/trips/=1:500",
        "latency:GET:/api/trips/public=300ms",
    ];
    let mut created_and_failed = Vec::new();
    for spec in faults {
        let mut f = smokeprobe::demo::Faults::default();
        f.apply_spec(spec).unwrap();
        server.set_faults(f);
        let (report, stdout) = lifecycle_once(
            &server,
            &["--flow", "trip-lifecycle", "--flow", "upload-validation"],
        )
        .await;
        let left = probe_trips(&server);
        assert!(left.is_empty(), "fault {spec}: orphans {left:?}\n{stdout}");
        for flow in ["trip-lifecycle", "upload-validation"] {
            let created = step(&report, flow, "create-trip")["passed"] == 1;
            let failed = report["flows"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["flow"] == flow && f["failed_runs"] == 1);
            if created {
                // The trip existed and is gone because delete-trip ran and passed.
                assert_eq!(
                    step(&report, flow, "delete-trip")["passed"],
                    1,
                    "fault {spec}: {flow}\n{stdout}"
                );
                if failed {
                    created_and_failed.push(format!("{spec}/{flow}"));
                }
            }
        }
    }
    // The point: runs that created a trip and then failed still cleaned up.
    assert!(
        created_and_failed.len() >= 6,
        "too few faults failed a flow after its trip was created: {created_and_failed:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweeper_deletes_what_a_failed_delete_left_behind() {
    let server = demo(&["error:DELETE:/api/trips=1:502"]).await;
    let d = DemoOptions::default();
    // Data the sweeper must not touch: the probe account's own non-probe trip
    // and another account's "[probe]"-titled trip.
    let client = http_client();
    let api = server.api_url();
    for (user, title) in [
        (d.username.as_str(), "A real ride"),
        (OTHER_USERNAME, "[probe] not ours"),
    ] {
        // POST JSON (with the token once there is one) → the JSON answer.
        let post = async |url: String, token: Option<&str>, body: serde_json::Value| {
            let mut req = client.post(url).json(&body);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let resp = req.send().await.unwrap();
            resp.json::<serde_json::Value>().await.unwrap()
        };
        let login = post(
            format!("{api}/auth/login"),
            None,
            serde_json::json!({"login": user, "password": d.password}),
        )
        .await;
        let token = login["data"]["access_token"].as_str().unwrap().to_string();
        let trip = post(
            format!("{api}/trips"),
            Some(&token),
            serde_json::json!({
                "title": title,
                "description": "A trip that is not synthetic and must survive every sweep.",
                "start_date": "2025-06-01"
            }),
        )
        .await;
        let id = trip["data"]["trip_id"].as_str().unwrap();
        let st = client
            .post(format!("{api}/trips/{id}/publish"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(st, 200);
    }

    // Every DELETE answers 502: trip-lifecycle's trips (published) are orphaned.
    let (report, stdout) =
        lifecycle_once(&server, &["--flow", "trip-lifecycle", "--samples", "2"]).await;
    let delete = step(&report, "trip-lifecycle", "delete-trip");
    assert_eq!(delete["failed"], 2, "{stdout}");
    assert!(
        delete["last_failure"]["attempts"].as_u64().unwrap() > 1,
        "{delete}"
    );
    let orphans = probe_trips(&server);
    assert_eq!(orphans.len(), 3, "{orphans:?}"); // the flow's two + not ours
    server.set_faults(Default::default());

    let dir = tempfile::tempdir().unwrap();
    let sweep = |before: Option<&str>| {
        let mut a = contravento_args(&server, dir.path());
        a.extend(["--flow".into(), "sweep-orphans".into()]);
        if let Some(b) = before {
            a.extend(["--var".into(), format!("orphans_before={b}")]);
        }
        a
    };
    // Too young to be orphans by default (10 minutes): nothing is deleted.
    let out = run(sweep(None), Vec::new()).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_eq!(probe_trips(&server).len(), 3);

    // As if 10 minutes had passed.
    let reports = Reports::new();
    let mut args = sweep(Some("2999-01-01T00:00:00Z"));
    args.extend(reports.args());
    let out = run(args, Vec::new()).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let swept = step(&reports.json(), "sweep-orphans", "delete-orphans")["last"].clone();
    let left: Vec<_> = server
        .trips()
        .into_iter()
        .filter(|t| t.title.starts_with("[probe]") || t.title == "A real ride")
        .map(|t| (t.title, t.owner))
        .collect();
    assert_eq!(
        left,
        vec![
            ("A real ride".to_string(), d.username.clone()),
            ("[probe] not ours".to_string(), OTHER_USERNAME.to_string()),
        ],
        "{swept}"
    );
    // One DELETE per orphan.
    assert_eq!(swept["attempts"], 2, "{swept}");
    server.stop().await;
}

/// Waits until the demo holds a published "[probe]" trip (or panics).
async fn wait_published(server: &DemoServer) {
    let start = Instant::now();
    while !server
        .trips()
        .iter()
        .any(|t| t.title.starts_with("[probe]") && t.status == "published")
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no trip published"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let the run reach the slow feed request.
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// `once --flow trip-lifecycle` against `server`, sent SIGTERM once `ready`
/// says so: (exit output, JSON report).
async fn once_terminated(
    server: &DemoServer,
    ready: impl AsyncFnOnce(),
) -> (std::process::Output, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let reports = Reports::new();
    let mut args = contravento_args(server, dir.path());
    args.extend(["--flow".into(), "trip-lifecycle".into()]);
    args.extend(reports.args());
    let mut child = crate::common::command()
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    ready().await;
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        loop {
            if child.try_wait().unwrap().is_some() {
                return child.wait_with_output().unwrap();
            }
            if start.elapsed() > Duration::from_secs(15) {
                let _ = child.kill();
                panic!("once did not exit after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap();
    (out, reports.json())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_once_runs_cleanup_then_exits_143() {
    // The feed answers after 20 s: the run is parked in appears-in-feed.
    let server = demo(&["latency:GET:/api/trips/public=20s"]).await;
    let (out, report) = once_terminated(&server, async || wait_published(&server).await).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(143), "{stdout}\n{stderr}");
    assert!(probe_trips(&server).is_empty(), "{stdout}");
    assert_eq!(report["verdict"], "interrupted", "{report}");
    assert_eq!(report["exit_code"], 143);
    let feed = step(&report, "trip-lifecycle", "appears-in-feed");
    assert_eq!(feed["skipped"], 1, "{feed}");
    assert!(
        feed["last"]["message"]
            .as_str()
            .unwrap()
            .contains("interrupted"),
        "{feed}"
    );
    assert_eq!(step(&report, "trip-lifecycle", "delete-trip")["passed"], 1);
    assert_eq!(step(&report, "trip-lifecycle", "trip-is-gone")["passed"], 1);
    assert!(stdout.contains("INTERRUPTED"), "{stdout}");
    assert!(stderr.contains("running cleanup steps"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_create_in_flight_finish_so_cleanup_deletes_it() {
    // Creating a trip takes 1.5 s; SIGTERM arrives while the POST is in flight.
    // Abandoning it would leave a trip the probe never learnt the id of.
    let server = demo(&["latency:POST:/api/trips=1500ms"]).await;
    let (out, report) = once_terminated(&server, async || {
        let start = Instant::now();
        // The login (1 request) is done and the create has arrived.
        while server.request_count() < 2 {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "create never sent"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    })
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(143), "{stdout}\n{stderr}");
    assert_eq!(
        step(&report, "trip-lifecycle", "create-trip")["passed"],
        1,
        "{stdout}"
    );
    assert_eq!(
        step(&report, "trip-lifecycle", "draft-is-private")["skipped"],
        1
    );
    assert_eq!(
        step(&report, "trip-lifecycle", "delete-trip")["passed"],
        1,
        "{stdout}"
    );
    assert!(probe_trips(&server).is_empty(), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_run_runs_cleanup_then_exits_0() {
    let server = demo(&["latency:GET:/api/trips/public=20s"]).await;
    let d = DemoOptions::default();
    let yaml = std::fs::read_to_string(repo_file("probes/contravento.yaml")).unwrap();
    let base = format!("base={}", server.base_url());
    let user = format!("username={}", d.username);
    let pw = format!("password={}", d.password);
    let p = start_run(
        &yaml,
        &[
            "--flow",
            "trip-lifecycle",
            "--var",
            &base,
            "--var",
            &user,
            "--secret",
            &pw,
        ],
        &[],
    )
    .await;
    wait_published(&server).await;
    let (code, log) = p.terminate(Duration::from_secs(15)).await;
    assert_eq!(code, Some(0), "{log}");
    assert!(probe_trips(&server).is_empty(), "{log}");
    assert!(
        log.contains("flow interrupted by shutdown") && log.contains("cleanup_failed=false"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn for_each_caps_skips_empty_lists_and_refuses_non_lists() {
    let server = demo(&[]).await;
    let seeded = server
        .trips()
        .into_iter()
        .find(|t| t.status == "published")
        .unwrap()
        .id;
    let step_yaml = |name: &str, list: &str, max: u32| {
        format!(
            "  - name: {name}\n    steps:\n      - name: each\n        for_each: {{ in: {list}, as: id, max: {max} }}\n        url: ${{base}}/trips/${{id}}\n        expect: {{ status: 404 }}\n"
        )
    };
    let yaml = probe(
        &server.api_url(),
        &[
            step_yaml("capped", "three", 2),
            step_yaml("empty", "none", 5),
            step_yaml("not-a-list", "text", 5),
            step_yaml("stops-at-first-failure", "mixed", 5),
        ]
        .concat(),
    )
    .replace(
        "vars:\n",
        &format!("vars:\n  three: '[\"a\", \"b\", \"c\"]'\n  none: '[]'\n  text: 'abc'\n  mixed: '[1, \"{seeded}\", \"y\"]'\n"),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("each.yaml");
    std::fs::write(&file, yaml).unwrap();
    let reports = Reports::new();
    let before = server.request_count();
    let mut args = vec!["once".to_string(), file.display().to_string()];
    args.extend(reports.args());
    let out = run(args, Vec::new()).await;
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let r = reports.json();
    let capped = &step(&r, "capped", "each")["last"];
    assert_eq!(capped["outcome"], "passed", "{capped}");
    assert_eq!(capped["attempts"], 2, "{capped}");
    assert!(
        capped["url"].as_str().unwrap().ends_with("/trips/b"),
        "{capped}"
    );
    assert!(
        capped["message"].as_str().unwrap().contains("2 of 3 items"),
        "{capped}"
    );
    let empty = &step(&r, "empty", "each")["last"];
    assert_eq!(empty["outcome"], "passed", "{empty}");
    assert_eq!(empty["attempts"], 0, "{empty}");
    let bad = &step(&r, "not-a-list", "each")["last"];
    assert_eq!(bad["outcome"], "failed", "{bad}");
    assert_eq!(bad["reason"], "capture", "{bad}");
    // `1` is sent as its JSON text (404); the published trip answers 200: the
    // step fails there and "y" is never requested.
    let mixed = &step(&r, "stops-at-first-failure", "each")["last"];
    assert_eq!(mixed["outcome"], "failed", "{mixed}");
    assert_eq!(mixed["attempts"], 2, "{mixed}");
    assert!(
        mixed["message"]
            .as_str()
            .unwrap()
            .starts_with("item 2 of 3:"),
        "{mixed}"
    );
    assert_eq!(server.request_count() - before, 2 + 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_delete_is_named_left_behind_and_run_deletes_it_later() {
    let d = DemoOptions::default();
    let server = demo(&["error:DELETE:/api/trips=1:502"]).await;

    // `once`: the checklist and the JSON name the trip that stayed.
    let (report, stdout) = lifecycle_once(&server, &["--flow", "trip-lifecycle"]).await;
    let left = &report["left_behind"];
    let trip = &server
        .trips()
        .into_iter()
        .find(|t| t.title.starts_with("[probe]"))
        .unwrap();
    assert_eq!(left.as_array().map(Vec::len), Some(1), "{report}");
    let what = left[0]["what"].as_str().unwrap();
    assert!(
        what.contains(&trip.id) && what.contains("[probe] smoke trip-lifecycle-"),
        "{left}"
    );
    assert_eq!(left[0]["step"], "delete-trip");
    assert!(
        stdout.contains("LEFT BEHIND") && stdout.contains(&trip.id),
        "{stdout}"
    );
    assert_eq!(
        report["flows"][0]["results"][0]["left_behind"][0]["what"], what,
        "{report}"
    );

    // `run` (every second): left behind while deletes fail, deleted on a
    // later run once they work again.
    let fast = shipped_probe_every("1s");
    let mut args = contravento_vars(&server, &d.password);
    args.extend(["--flow".into(), "trip-lifecycle".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let p = start_run(&fast, &args, &[]).await;
    let left = |m: &str| {
        sample(
            m,
            "smokeprobe_left_behind_objects",
            &[("flow", "trip-lifecycle")],
        )
    };
    p.wait_for(Duration::from_secs(60), "a trip left behind", |m| {
        left(m).is_some_and(|n| n >= 1.0)
    })
    .await;
    let (_, page) = p.get("/", None).await;
    assert!(page.contains("Left behind on the target"), "{page}");
    server.set_faults(Default::default());
    p.wait_for(
        Duration::from_secs(60),
        "the left-behind trips deleted",
        |m| left(m) == Some(0.0),
    )
    .await;
    // What `once` left (a different process) is still there; every trip the
    // run process left is gone.
    let remaining: Vec<String> = server
        .trips()
        .into_iter()
        .filter(|t| t.title.starts_with("[probe]"))
        .map(|t| t.id)
        .collect();
    assert_eq!(remaining, vec![trip.id.clone()], "{}", p.log());
    let log = p.log();
    assert!(
        log.contains("deleted what an earlier run left behind"),
        "{log}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cleanup_refused_with_401_logs_in_again_and_deletes() {
    // Tokens live 2 s and the feed takes 2.5 s: the delete's token has expired.
    let server = demo(&["token-ttl=2s", "latency:GET:/api/trips/public=2500ms"]).await;
    let (report, stdout) = lifecycle_once(&server, &["--flow", "trip-lifecycle"]).await;
    let delete = step(&report, "trip-lifecycle", "delete-trip");
    assert_eq!(delete["passed"], 1, "{stdout}");
    assert!(
        delete["last"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("logged in again (`login`)"),
        "{delete}"
    );
    assert!(
        probe_trips(&server).is_empty(),
        "{:?}",
        probe_trips(&server)
    );
    assert!(report.get("left_behind").is_none(), "{report}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_orphans_finds_a_draft_a_killed_probe_left() {
    let d = DemoOptions::default();
    let server = demo(&[]).await;
    let client = http_client();
    let api = server.api_url();
    let login: serde_json::Value = client
        .post(format!("{api}/auth/login"))
        .json(&serde_json::json!({"login": d.username, "password": d.password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["data"]["access_token"].as_str().unwrap();
    // What a probe killed (SIGKILL) right after create-trip leaves: a draft.
    let st = client
        .post(format!("{api}/trips"))
        .bearer_auth(token)
        .json(&serde_json::json!({
            "title": "[probe] smoke trip-lifecycle-killed",
            "description": "Synthetic trip created by smokeprobe after a deploy; it is deleted within seconds.",
            "start_date": "2025-06-01"
        }))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(st, 201);
    assert_eq!(
        server
            .trips()
            .iter()
            .filter(|t| t.status == "draft")
            .count(),
        1
    );
    let dir = tempfile::tempdir().unwrap();
    let mut args = contravento_args(&server, dir.path());
    args.extend([
        "--flow".into(),
        "sweep-orphans".into(),
        "--var".into(),
        "orphans_before=2999-01-01T00:00:00Z".into(),
    ]);
    let out = run(args, Vec::new()).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(
        probe_trips(&server).is_empty(),
        "{:?}",
        probe_trips(&server)
    );
    server.stop().await;
}

/// A client that trusts the TLS demo's CA.
fn trusting_client(server: &DemoServer) -> reqwest::Client {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let pem = server.ca_pem().expect("a TLS demo has a CA");
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA cert");
    }
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .build()
        .expect("reqwest client")
}

/// The users the demo holds besides its two seeded accounts.
fn registered_users(server: &DemoServer) -> Vec<String> {
    let d = DemoOptions::default();
    server
        .state()
        .snapshot()
        .accounts
        .into_keys()
        .filter(|u| *u != d.username && u != OTHER_USERNAME)
        .collect()
}

/// The shipped opt-in registration flow against the demo (whose e-mail
/// validation refuses special-use domains as the real app's does): it
/// passes, the repeat is refused with `USERNAME_TAKEN`, and each user it
/// creates — there is no delete endpoint — is reported as left behind
/// exactly once, in the checklist and the JSON, and never retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_passes_and_reports_each_user_it_leaves_exactly_once() {
    let server = demo(&[]).await;
    let (report, stdout) = lifecycle_once(
        &server,
        &["--flow", "registration", "--samples", "2", "--no-color"],
    )
    .await;
    assert_eq!(report["exit_code"], 0, "{stdout}");
    let register = step(&report, "registration", "register");
    assert_eq!(register["passed"], 2, "{register}");
    let taken = step(&report, "registration", "username-taken");
    assert_eq!(taken["passed"], 2, "{taken}");
    assert_eq!(taken["last"]["status"], 400, "{taken}");

    let users = registered_users(&server);
    assert_eq!(users.len(), 2, "one user per run: {users:?}");
    let left = report["left_behind"].as_array().unwrap();
    assert_eq!(left.len(), 2, "{left:?}");
    for user in &users {
        let what = format!("user {user} (no delete endpoint)");
        let entries: Vec<_> = left.iter().filter(|l| l["what"] == what).collect();
        assert_eq!(entries.len(), 1, "{user}: {left:?}");
        let l = entries[0];
        assert_eq!(l["step"], "register");
        assert_eq!(l["deletable"], false, "{l}");
        assert_eq!(l["attempts"], 0, "never retried: {l}");
        assert_eq!(
            stdout
                .matches(&format!("• {what} — registration/register"))
                .count(),
            1,
            "{stdout}"
        );
    }
    assert!(
        stdout.contains(
            "⚠ LEFT BEHIND on the target: 2 object(s) the probe created and no step can delete (delete them by hand):"
        ),
        "{stdout}"
    );
    // Each run's own result names its own user.
    let runs = report["flows"][0]["results"].as_array().unwrap();
    let per_run: Vec<&str> = runs
        .iter()
        .map(|r| {
            let l = r["left_behind"].as_array().unwrap();
            assert_eq!(l.len(), 1, "{r}");
            l[0]["what"].as_str().unwrap()
        })
        .collect();
    assert_ne!(per_run[0], per_run[1], "{per_run:?}");
    server.stop().await;
}

/// In `run`, a registered user is on the left-behind gauge, the status page
/// and `/api/status` once per user, however many runs later; nothing ever
/// retries it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_counts_each_registered_user_once_and_never_retries_it() {
    let d = DemoOptions::default();
    let server = demo(&[]).await;
    let yaml = std::fs::read_to_string(repo_file("probes/contravento.yaml"))
        .unwrap()
        .replace("    interval: 24h\n", "    interval: 300ms\n");
    let mut args = contravento_vars(&server, &d.password);
    args.extend(["--flow".into(), "registration".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let p = start_run(&yaml, &args, &[]).await;
    let runs = |m: &str| {
        sample(m, "smokeprobe_flow_runs_total", &[("flow", "registration")]).unwrap_or(0.0)
    };
    p.wait_for(Duration::from_secs(60), "two registration runs", |m| {
        runs(m) >= 2.0
    })
    .await;
    // No more users from here on; two more finished runs make sure the one
    // in flight, if any, has reported its user.
    let mut f = smokeprobe::demo::Faults::default();
    f.apply_spec("error:POST:/api/auth/register=1:503").unwrap();
    server.set_faults(f);
    let seen = runs(&p.metrics().await);
    p.wait_for(Duration::from_secs(60), "two more runs", |m| {
        runs(m) >= seen + 2.0
    })
    .await;
    let users = registered_users(&server);
    assert!(users.len() >= 2, "{users:?}");
    let m = p.metrics().await;
    assert_eq!(
        sample(
            &m,
            "smokeprobe_left_behind_objects",
            &[("flow", "registration")]
        ),
        Some(users.len() as f64),
        "{m}"
    );
    let (_, status) = p.get("/api/status", None).await;
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let left = status["probe"]["left_behind"].as_array().unwrap();
    assert_eq!(left.len(), users.len(), "{left:?}");
    for user in &users {
        let what = format!("user {user} (no delete endpoint)");
        let entry: Vec<_> = left.iter().filter(|l| l["what"] == what).collect();
        assert_eq!(entry.len(), 1, "{user}: {left:?}");
        assert_eq!(entry[0]["attempts"], 0, "never retried: {left:?}");
    }
    let (_, page) = p.get("/", None).await;
    assert!(
        page.contains(&format!("Left behind on the target: {}", users.len())),
        "{page}"
    );
    let log = p.log();
    for user in &users {
        assert_eq!(
            log.matches(&format!("LEFT BEHIND on the target: user {user} "))
                .count(),
            1,
            "{log}"
        );
    }
    server.stop().await;
}

/// Every flow of the shipped file, the opt-in ones too, leaves nothing a
/// visitor sees: no trip (so no photo) and no tag count raised — ContraVento
/// never lowers a tag's public `usage_count`. (The registered user is the
/// one thing left, and it is reported: see above.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_of_every_shipped_flow_leaves_no_trip_and_no_tag_count() {
    let server = demo_tls(Some(smokeprobe::demo::TlsMode::Valid), &[]).await;
    let client = trusting_client(&server);
    let tags = || async {
        let resp = client
            .get(format!("{}/tags", server.api_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body: serde_json::Value = resp.json().await.unwrap();
        body["data"]["tags"].clone()
    };
    let state = || async {
        let resp = client
            .get(format!("{}/__demo/state", server.base_url()))
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = resp.json().await.unwrap();
        body["trips"].clone()
    };
    let (tags_before, trips_before) = (tags().await, state().await);
    assert_eq!(
        trips_before.as_array().unwrap().len(),
        2,
        "the seeded trips"
    );
    let (report, stdout) = lifecycle_once(
        &server,
        &["--flow", "+registration", "--flow", "+sweep-orphans"],
    )
    .await;
    assert_eq!(report["exit_code"], 0, "{stdout}");
    let ran: Vec<&str> = report["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["flow"].as_str().unwrap())
        .collect();
    for flow in [
        "trip-lifecycle",
        "upload-validation",
        "registration",
        "sweep-orphans",
    ] {
        assert!(ran.contains(&flow), "{flow} did not run: {ran:?}");
    }
    // Trips were created (and photos uploaded) on the way…
    assert!(step(&report, "trip-lifecycle", "upload-photo")["passed"] == 1);
    // …and nothing of them is left: the same two seeded trips, photos and all.
    assert_eq!(state().await, trips_before);
    let tags_after = tags().await;
    assert_eq!(tags_after, tags_before, "a tag count went up");
    for t in tags_after.as_array().unwrap() {
        assert!(
            !t["normalized"].as_str().unwrap().contains("probe"),
            "{tags_after}"
        );
    }
    server.stop().await;
}

/// `leaves:` names what one request creates: the combinations where that
/// cannot be true are refused before anything is sent, at the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaves_is_refused_where_it_cannot_mean_one_object() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, says) in [
        (
            "        poll: { every: 1s, within: 5s }\n",
            "it can't go with `poll` (every 2xx attempt would create another one)",
        ),
        (
            "        always: true\n        cleans: user ${name}\n",
            "it can't go with `cleans` (it deletes what it names)",
        ),
    ] {
        let yaml = format!(
            "version: 1\nvars:\n  name: probe_x\nflows:\n  - name: signup\n    steps:\n      - name: register\n        method: POST\n        url: https://shop.example/api/users\n        leaves: user ${{name}}\n{extra}"
        );
        let file = dir.path().join("p.yaml");
        std::fs::write(&file, yaml).unwrap();
        let out = command().arg("check").arg(&file).output().unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
        assert!(stderr.contains("p.yaml:10:17: "), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "`leaves` says what this step creates and no step can delete; {says}"
            )),
            "{stderr}"
        );
        assert!(
            !stderr.contains("RawStep") && !stderr.contains("Some("),
            "{stderr}"
        );
    }
    // The step's own captures may be named: it is expanded after the step.
    let yaml = "version: 1\nflows:\n  - name: signup\n    steps:\n      - name: register\n        method: POST\n        url: https://shop.example/api/users\n        leaves: user ${user_id}\n        capture:\n          user_id: { json: $.id }\n";
    let file = dir.path().join("ok.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = command().arg("check").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(
        text(&out).0.contains("leaves \"user ${user_id}\""),
        "{:?}",
        text(&out)
    );
}
