//! Query-string and path parameters, checked and turned into the typed
//! requests of the read functions; every mistake is a 400 that says what to send.

use crate::components::window_bounds;
use crate::error::ApiError;
use crate::metrics::{MetricQuery, MetricsRequest, Step};
use crate::search::{SearchRequest, SearchSignal};
use serde::Deserialize;
use weir_core::series::Aggregate;
use weir_core::{TraceId, parse_duration, parse_time_at};

/// Default and largest page sizes of a search.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// Most metric points one request reads.
const DEFAULT_POINT_LIMIT: usize = 100_000;

/// Query-string parameters whose errors are answered in the API's JSON
/// shape (axum's own `Query` answers in plain text).
pub(crate) struct ApiQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| ApiQuery(v))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

/// A time parameter; `default` when absent or blank.
fn time_param(value: Option<&str>, default: u64) -> Result<u64, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(default),
        Some(v) => Ok(parse_time_at(v, weir_core::now_unix_nanos())?),
    }
}

/// A page size from `limit`: `default` when absent, else 1 to `max`.
fn page_limit(limit: Option<usize>, default: usize, max: usize) -> Result<usize, ApiError> {
    match limit {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::BadRequest(format!(
            "limit={n}: ask for 1 to {max} results per page (use next_cursor for more)"
        ))),
    }
}

/// `/api/v1/search?q=&signal=&from=&to=&limit=&cursor=`.
#[derive(Deserialize)]
pub(crate) struct SearchParams {
    #[serde(default)]
    q: String,
    signal: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

impl SearchParams {
    pub(crate) fn request(self) -> Result<SearchRequest, ApiError> {
        let signal = match self.signal.as_deref().unwrap_or("all") {
            "spans" => SearchSignal::Spans,
            "logs" => SearchSignal::Logs,
            "all" | "" => SearchSignal::All,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "signal `{other}` is not one of spans, logs, all"
                )));
            }
        };
        Ok(SearchRequest {
            query: self.q,
            signal,
            from: time_param(self.from.as_deref(), 0)?,
            to: time_param(self.to.as_deref(), u64::MAX)?,
            limit: page_limit(self.limit, DEFAULT_LIMIT, MAX_LIMIT)?,
            cursor: self.cursor.filter(|c| !c.is_empty()),
        })
    }
}

/// `?from=&to=`, both optional.
#[derive(Deserialize)]
pub(crate) struct RangeParams {
    from: Option<String>,
    to: Option<String>,
}

impl RangeParams {
    /// `[from, to]`, everything when absent.
    pub(crate) fn bounds(&self) -> Result<(u64, u64), ApiError> {
        Ok((
            time_param(self.from.as_deref(), 0)?,
            time_param(self.to.as_deref(), u64::MAX)?,
        ))
    }
}

/// `?window=`, a duration; 15 minutes when absent.
#[derive(Deserialize)]
pub(crate) struct WindowParams {
    window: Option<String>,
}

impl WindowParams {
    /// The window as `[from, to)` minute bounds ending in `now`'s minute.
    pub(crate) fn bounds(&self, now: u64) -> Result<(u64, u64), ApiError> {
        let window = match self.window.as_deref().map(str::trim) {
            None | Some("") => std::time::Duration::from_secs(15 * 60),
            Some(w) => parse_duration(w)?,
        };
        Ok(window_bounds(window, now))
    }
}

/// A trace id in a path.
pub(crate) fn trace_id(text: &str) -> Result<TraceId, ApiError> {
    TraceId::from_hex(text)
        .map_err(|e| ApiError::BadRequest(format!("`{text}` is not a trace id: {e}")))
}

/// `/api/v1/metrics?name=&service=&from=&to=&limit=&step=&agg=&match[key]=value`:
/// read as pairs because `match[...]` keys are the user's.
pub(crate) fn metrics_request(pairs: &[(String, String)]) -> Result<MetricsRequest, ApiError> {
    let param = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let name = param("name").ok_or_else(|| {
        ApiError::BadRequest("name is required: /api/v1/metrics?name=<metric name>".into())
    })?;
    let matchers = pairs
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.strip_prefix("match[")?.strip_suffix(']')?.to_string(),
                v.clone(),
            ))
        })
        .collect();
    let query = MetricQuery {
        name,
        service: param("service"),
        from: time_param(param("from").as_deref(), 0)?,
        // The database stores signed nanoseconds.
        to: time_param(param("to").as_deref(), i64::MAX as u64)?,
        limit: param("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(DEFAULT_POINT_LIMIT),
    };
    let step = match param("step") {
        None => None,
        Some(step) => {
            let step_ns = parse_duration(&step)?.as_nanos() as u64;
            if step_ns == 0 {
                return Err(ApiError::BadRequest("step must be longer than zero".into()));
            }
            let agg_name = param("agg").unwrap_or_else(|| "avg".into());
            let agg = Aggregate::parse(&agg_name).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "agg `{agg_name}` is not one of avg, max, min, sum, count, last, rate, p50, p95, p99"
                ))
            })?;
            Some(Step {
                step_ns,
                agg,
                agg_name,
            })
        }
    };
    Ok(MetricsRequest {
        query,
        matchers,
        step,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &[(&str, &str)]) -> Vec<(String, String)> {
        query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn windows_must_be_durations() {
        let now = 10 * 60_000_000_000 + 5;
        let five = WindowParams {
            window: Some("5m".into()),
        };
        assert_eq!(
            five.bounds(now).unwrap(),
            (5 * 60_000_000_000, 11 * 60_000_000_000)
        );
        let default = WindowParams { window: None };
        assert_eq!(default.bounds(now).unwrap().0, 0);
        let soon = WindowParams {
            window: Some("soon".into()),
        };
        assert!(matches!(soon.bounds(now), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn limits_stay_within_a_page() {
        assert_eq!(page_limit(None, 100, 1000).unwrap(), 100);
        assert_eq!(page_limit(Some(1000), 100, 1000).unwrap(), 1000);
        for bad in [0, 1001] {
            let e = page_limit(Some(bad), 100, 1000).unwrap_err().to_string();
            assert!(e.contains("ask for 1 to 1000"), "{e}");
        }
    }

    #[test]
    fn metrics_need_a_name_a_positive_step_and_a_known_aggregation() {
        assert!(metrics_request(&pairs(&[])).is_err());
        let r = metrics_request(&pairs(&[
            ("name", "lag"),
            ("match[shard]", "s-1"),
            ("step", "1m"),
        ]))
        .unwrap();
        assert_eq!(r.matchers, [("shard".to_string(), "s-1".to_string())]);
        let step = r.step.unwrap();
        assert_eq!(
            (step.step_ns, step.agg_name.as_str()),
            (60_000_000_000, "avg")
        );
        assert_eq!(r.query.to, i64::MAX as u64);
        for bad in [
            [("step", "0s"), ("agg", "max")],
            [("step", "1m"), ("agg", "median")],
        ] {
            let q = pairs(&[("name", "lag"), bad[0], bad[1]]);
            assert!(metrics_request(&q).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn search_signals_are_spans_logs_or_all() {
        let params = |signal: &str| SearchParams {
            q: String::new(),
            signal: Some(signal.into()),
            from: None,
            to: None,
            limit: None,
            cursor: Some(String::new()),
        };
        let all = params("").request().unwrap();
        assert_eq!(
            (all.signal, all.limit, all.cursor),
            (SearchSignal::All, 100, None)
        );
        assert_eq!(params("logs").request().unwrap().signal, SearchSignal::Logs);
        assert!(params("metrics").request().is_err());
    }
}
