//! A real headless Chromium for end-to-end tests (Debian `chromium` and
//! `chromium-driver`, installed by `scripts/test`), driven over `WebDriver`,
//! and the few steps every page test takes: fill a field, submit a form,
//! wait for the next page, take a screenshot, pick up a download.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use thirtyfour::ChromeCapabilities;
use thirtyfour::prelude::*;

/// The Debian browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// The Debian browser's `WebDriver` server.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A running chromedriver, stopped when dropped.
#[derive(Debug)]
pub struct Driver {
    child: Child,
    /// Its loopback port.
    pub port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Starts chromedriver on a free loopback port; fails the test, saying how
/// to install them, when the browser or its driver is missing.
pub async fn start_chromedriver() -> Driver {
    assert!(
        Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists(),
        "this test needs Debian's chromium and chromium-driver: run scripts/test, which installs them"
    );
    // The port was free a moment ago; another test may take it first, and
    // a loaded machine may start chromedriver slowly: up to three ports,
    // up to 20 s each.
    let mut tried = Vec::new();
    for _ in 0..3 {
        let port = free_port();
        tried.push(port);
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let mut driver = Driver { child, port };
        for _ in 0..400 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return driver;
            }
            if driver.child.try_wait().ok().flatten().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    panic!("chromedriver did not start on ports {tried:?}");
}

/// The capabilities every session starts from: headless Chromium, 1280×900.
fn chromium() -> ChromeCapabilities {
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary(CHROMIUM).expect("binary capability");
    for arg in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,900",
    ] {
        caps.add_arg(arg).expect("browser argument");
    }
    caps
}

async fn session(driver: &Driver, caps: ChromeCapabilities) -> WebDriver {
    // reqwest is built with `rustls-no-provider` when the graph crate is in
    // the same build (features unify): the WebDriver client needs a
    // process-wide crypto provider then. Installing it twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    WebDriver::new(format!("http://127.0.0.1:{}", driver.port), caps)
        .await
        .expect("a Chromium session")
}

/// A new headless Chromium session, 1280×900.
pub async fn browser(driver: &Driver) -> WebDriver {
    session(driver, chromium()).await
}

/// A new headless Chromium session, 1280×900, that saves what it downloads
/// in `dir` without asking (Chromium's `download.default_directory`
/// preference); [`wait_for_download`] picks the file up.
pub async fn browser_downloading_to(driver: &Driver, dir: &Path) -> WebDriver {
    let mut caps = chromium();
    let dir = dir.to_str().expect("a UTF-8 download directory");
    caps.add_experimental_option(
        "prefs",
        std::collections::BTreeMap::from([("download.default_directory", dir)]),
    )
    .expect("download preferences");
    session(driver, caps).await
}

/// Waits (up to 15 s) until the browser has saved `name` in `dir` and
/// returns its bytes. Chromium writes a download to a `.crdownload` file
/// and renames it when complete, so the name appears only then.
pub async fn wait_for_download(dir: &Path, name: &str) -> Vec<u8> {
    let file = dir.join(name);
    for _ in 0..150 {
        if let Ok(bytes) = std::fs::read(&file) {
            return bytes;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let there: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name())
                .collect()
        })
        .unwrap_or_default();
    panic!(
        "the browser did not download {name}; {} holds {there:?}",
        dir.display()
    );
}

/// Runs `steps` in the browser, quits it whatever happened, then reports a
/// failed step as this test's failure.
pub async fn run<F>(d: WebDriver, steps: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let joined = tokio::spawn(steps).await;
    d.quit().await.expect("quit the browser");
    if let Err(e) = joined {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// `target/tmp/NAME` (the calling crate's `CARGO_TARGET_TMPDIR`), created.
#[must_use]
pub fn screenshots(target_tmp: &str, name: &str) -> PathBuf {
    let d = Path::new(target_tmp).join(name);
    std::fs::create_dir_all(&d).expect("screenshot directory");
    d
}

/// Types `text` into the (emptied) field with this id.
pub async fn fill(d: &WebDriver, id: &str, text: &str) {
    let e = d.query(By::Id(id)).first().await.expect("the field");
    e.clear().await.expect("clear the field");
    e.send_keys(text).await.expect("type into the field");
}

/// Clicks the submit button of the form posting to `form_action`.
pub async fn submit(d: &WebDriver, form_action: &str) {
    d.query(By::Css(format!(
        "form[action=\"{form_action}\"] button[type=submit]"
    )))
    .first()
    .await
    .expect("the form's submit button")
    .click()
    .await
    .expect("click submit");
}

/// Clicks the first element matching the CSS `selector`.
pub async fn click(d: &WebDriver, selector: &str) {
    d.query(By::Css(selector))
        .first()
        .await
        .unwrap_or_else(|e| panic!("no {selector}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {selector}: {e}"));
}

/// Clicks the link with this text.
pub async fn follow(d: &WebDriver, text: &str) {
    d.query(By::LinkText(text))
        .first()
        .await
        .expect("the link")
        .click()
        .await
        .expect("click the link");
}

/// Waits (up to 10 s) until the browser is on `path`: a click starts a
/// navigation, it does not wait for it.
pub async fn wait_for_path(d: &WebDriver, path: &str) {
    for _ in 0..100 {
        if d.current_url().await.expect("current URL").path() == path {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = match d.find(By::Tag("body")).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    panic!(
        "the browser did not reach {path}; it is on {}, showing:\n{page}",
        d.current_url().await.expect("current URL")
    );
}

/// Waits (up to 10 s) until the page's text holds `text`, and returns it.
pub async fn wait_for_text(d: &WebDriver, text: &str) -> String {
    let mut body = String::new();
    for _ in 0..100 {
        if let Ok(e) = d.find(By::Tag("body")).await {
            body = e.text().await.unwrap_or_default();
            if body.contains(text) {
                return body;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the page never said {text:?}; it says: {body}");
}

/// The screen sizes every page must fit: a phone (390×844) and a desktop
/// (1280×900).
pub const SIZES: [(u32, u32); 2] = [(390, 844), (1280, 900)];

/// The script that measures sideways overflow: the page's `scrollWidth`
/// against its `clientWidth`, and the elements that reach past the right
/// edge (the outermost ones, so a message names the culprit, not its
/// children).
const OVERFLOW_JS: &str = r"
const root = document.documentElement;
const width = root.clientWidth;
const wide = [];
for (const e of document.body.querySelectorAll('*')) {
  const r = e.getBoundingClientRect();
  if (r.right > width + 1 && r.width > 0) {
    let p = e.parentElement, outer = true;
    while (p && p !== document.body) {
      if (p.getBoundingClientRect().right > width + 1) { outer = false; break; }
      p = p.parentElement;
    }
    if (outer) {
      const name = e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
        (e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\s+/).join('.') : '');
      wide.push(name + ' ' + Math.round(r.right) + 'px');
    }
  }
}
return [root.scrollWidth, width, wide.slice(0, 5).join(', ')];
";

/// Opens `url` and measures it as [`overflow_here`] does.
pub async fn overflow(d: &WebDriver, url: &str, name: &str, shots: &Path) -> Vec<String> {
    d.goto(url).await.expect("open the page");
    overflow_here(d, name, shots).await
}

/// Measures the page the browser shows at each of [`SIZES`] (resizing,
/// not reloading: a page that answered a form stays as it is), saves a
/// screenshot of each (`<name>-390.png`, `<name>-1280.png` in `shots`), and
/// returns what overflows sideways (empty when the page fits both): one
/// line per size naming the page, its width and the elements that stick out.
pub async fn overflow_here(d: &WebDriver, name: &str, shots: &Path) -> Vec<String> {
    let url = d
        .current_url()
        .await
        .map(|u| u.to_string())
        .unwrap_or_default();
    let mut problems = Vec::new();
    for (w, h) in SIZES {
        d.set_window_rect(0, 0, w, h)
            .await
            .expect("resize the window");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (scroll, client, wide): (i64, i64, String) = d
            .execute(OVERFLOW_JS, Vec::new())
            .await
            .expect("measure the page")
            .convert()
            .expect("three values");
        d.screenshot(&shots.join(format!("{name}-{w}.png")))
            .await
            .expect("screenshot");
        if scroll > client {
            problems.push(format!(
                "{name} ({url}) at {w}×{h} is {scroll} px wide for {client} px: {wide}"
            ));
        }
    }
    d.set_window_rect(0, 0, 1280, 900)
        .await
        .expect("resize the window back");
    problems
}
