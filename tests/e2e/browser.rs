//! A real headless Chromium, driven over the W3C WebDriver protocol through
//! chromedriver: navigate, read the page, click links, take screenshots.

use base64::Engine as _;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where the screenshots go, for people to look at.
pub fn screenshot_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A browser session.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::blocking::Client,
    _profile: tempfile::TempDir,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    /// Starts chromedriver and a headless Chromium at 1280×900.
    pub fn start() -> Browser {
        for binary in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            assert!(
                std::path::Path::new(binary).exists(),
                "{binary} is missing: install Debian's chromium and chromium-driver (.ci/run does)"
            );
        }
        let port = crate::harness::free_port().port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        crate::harness::wait_for("chromedriver to listen", Duration::from_secs(30), || {
            http.get(format!("{base}/status")).send().ok().map(|_| ())
        });
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        }}});
        let v: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .and_then(|r| r.json())
            .expect("a browser session starts");
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        Browser {
            driver,
            base,
            session,
            http,
            _profile: profile,
        }
    }

    fn try_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Value> {
        let url = format!("{}/session/{}{}", self.base, self.session, path);
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req.send().and_then(|r| r.json()).unwrap();
        if v["value"].get("error").is_some() {
            return Err(v["value"].clone());
        }
        Ok(v["value"].clone())
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver {path}: {e}"))
    }

    /// Waits until a new document has replaced `old_body` and finished loading.
    fn wait_for_navigation(&self, old_body: &str) {
        crate::harness::wait_for("the next page to load", Duration::from_secs(30), || {
            let stale = self
                .try_call(
                    reqwest::Method::GET,
                    &format!("/element/{old_body}/name"),
                    None,
                )
                .is_err();
            let ready = self
                .try_call(
                    reqwest::Method::POST,
                    "/execute/sync",
                    Some(json!({"script": "return document.readyState", "args": []})),
                )
                .is_ok_and(|v| v == "complete");
            (stale && ready).then_some(())
        });
    }

    /// Opens a URL and waits for it to load.
    pub fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })));
    }

    /// Moves the pointer over the first element matching `css`, `dx` pixels
    /// right of its centre, through WebDriver's input actions.
    pub fn hover(&self, css: &str, dx: i64) {
        let id = self.find(css);
        self.pointer(json!([
            {"type": "pointerMove", "duration": 0, "origin": {ELEMENT: id}, "x": dx, "y": 0}
        ]));
    }

    /// Runs a mouse's input `actions` (WebDriver's pointer action list).
    fn pointer(&self, actions: Value) {
        self.call(
            reqwest::Method::POST,
            "/actions",
            Some(json!({"actions": [{
                "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
                "actions": actions
            }]})),
        );
    }

    /// Drags across the first element matching `css` from `from_dx` to
    /// `to_dx` pixels right of its centre, and waits for the page that
    /// leads to.
    pub fn drag_across(&self, css: &str, from_dx: i64, to_dx: i64) {
        let old_body = self.find("body");
        let id = self.find(css);
        self.pointer(json!([
            {"type": "pointerMove", "duration": 0, "origin": {ELEMENT: id}, "x": from_dx, "y": 0},
            {"type": "pointerDown", "button": 0},
            {"type": "pointerMove", "duration": 200, "origin": {ELEMENT: id}, "x": to_dx, "y": 0},
            {"type": "pointerUp", "button": 0}
        ]));
        self.wait_for_navigation(&old_body);
    }

    /// Runs `script` (a function body) in the page and returns its value.
    pub fn eval(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    /// Makes pages see `prefers-color-scheme: dark` (or light), through
    /// chromedriver's DevTools passthrough.
    pub fn prefer_color_scheme(&self, scheme: &str) {
        self.call(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(json!({
                "cmd": "Emulation.setEmulatedMedia",
                "params": {"features": [{"name": "prefers-color-scheme", "value": scheme}]}
            })),
        );
    }

    /// The lowest contrast ratio (WCAG 2) between the text colour and the
    /// background colour of the elements matching `css`, and the text of
    /// the element that has it.
    pub fn lowest_contrast(&self, css: &str) -> (f64, String) {
        let v = self.eval(&format!(
            "const rgb = c => c.match(/[0-9.]+/g).slice(0, 3).map(Number);
             const lum = c => {{
               const [r, g, b] = rgb(c).map(v => {{ v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }});
               return 0.2126 * r + 0.7152 * g + 0.0722 * b;
             }};
             const bg = e => {{
               for (; e; e = e.parentElement) {{
                 const c = getComputedStyle(e).backgroundColor;
                 if (c && !c.startsWith('rgba(0, 0, 0, 0)') && c !== 'transparent') return c;
               }}
               return 'rgb(255, 255, 255)';
             }};
             let worst = [99, ''];
             for (const e of document.querySelectorAll({css:?})) {{
               const a = lum(getComputedStyle(e).color), b = lum(bg(e));
               const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
               if (ratio < worst[0]) worst = [ratio, e.innerText];
             }}
             return worst;"
        ));
        (
            v[0].as_f64().unwrap_or(0.0),
            v[1].as_str().unwrap_or_default().to_string(),
        )
    }

    /// The visible text of the page.
    pub fn text(&self) -> String {
        let body = self.find("body");
        self.call(reqwest::Method::GET, &format!("/element/{body}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The current URL.
    pub fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn find(&self, css: &str) -> String {
        let v = self.call(
            reqwest::Method::POST,
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css} on {}: {v}", self.url()))
            .to_string()
    }

    /// How many elements match.
    pub fn count(&self, css: &str) -> usize {
        self.call(
            reqwest::Method::POST,
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        )
        .as_array()
        .map_or(0, Vec::len)
    }

    /// Clicks the first element matching `css` and waits for the page it
    /// leads to.
    pub fn click(&self, css: &str) {
        let old_body = self.find("body");
        let id = self.find(css);
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        );
        self.wait_for_navigation(&old_body);
    }

    /// Types into the first element matching `css`.
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            Some(json!({})),
        );
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// Resizes the window.
    pub fn resize(&self, width: u32, height: u32) {
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        );
    }

    /// Saves a PNG screenshot as `target/screenshots/<name>.png`.
    pub fn screenshot(&self, name: &str) -> std::path::PathBuf {
        let b64 = self.call(reqwest::Method::GET, "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
