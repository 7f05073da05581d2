mod common;
use common::*;
use bridge_test_support::fake_tab::Reply;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shot() {
    let mode = std::env::var("SHOT").unwrap_or_default();
    let server = TestServer::start(&base_config(""));
    if mode != "notab" {
        let _t1 = server.tab(|_| hello_reply()).await;
        let n = std::sync::atomic::AtomicUsize::new(0);
        let _t2 = server.tab(move |_| if n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 { Reply::fail(500, "application/json", "{}") } else { Reply::StreamThenHang(vec!["a0:\"x\"\n".into()]) }).await;
        for i in 0..4 {
            let _ = client().post(server.url("/v1/chat/completions")).json(&chat_body(if i % 2 == 0 {"text-model"} else {"search-model"}, "hi", i % 2 == 0)).send().await.unwrap().text().await;
        }
        let url = server.url("/v1/chat/completions");
        tokio::spawn(async move { let _ = client().post(url).json(&chat_body("text-model", "hi", true)).send().await; tokio::time::sleep(Duration::from_secs(60)).await; });
        tokio::time::sleep(Duration::from_millis(300)).await;
        shoot(&server).await;
        std::mem::forget(_t1); std::mem::forget(_t2);
    } else {
        shoot(&server).await;
    }
}

async fn shoot(server: &TestServer) {
    let url = server.url("/");
    let size = std::env::var("SIZE").unwrap_or("400,900".into());
    let out = tokio::task::spawn_blocking(move || std::process::Command::new("/usr/bin/chromium").args(["--headless","--no-sandbox","--disable-gpu","--disable-background-networking","--disable-component-update","--disable-sync","--no-first-run","--user-data-dir=/tmp/shotprof","--hide-scrollbars","--virtual-time-budget=4000", &format!("--window-size={size}"), "--screenshot=/tmp/status.png", &url]).output().unwrap()).await.unwrap();
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
}
