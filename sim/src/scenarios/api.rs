//! api: an HTTP gateway → a function → a key-value store. Functions in six
//! runtimes, with cold starts at their realistic init durations (Python
//! ~180 ms, Node.js ~170 ms, Go ~80 ms, Rust ~12 ms, Java ~3 s, Java with
//! snapshot restore ~200 ms) and warm invocations of a few ms.

use super::Scenario;
use super::common::{Ctx, Function, Runtime, kv_write, log};
use crate::faults::FaultKind;
use crate::plan::{Batch, SpanPlan};
use opentelemetry::KeyValue;
use opentelemetry::logs::Severity;
use opentelemetry::trace::SpanKind;
use std::time::Duration;

pub struct Api {
    functions: Vec<Function>,
    requests: u64,
}

impl Default for Api {
    fn default() -> Self {
        Api {
            functions: vec![
                Function::new("orders-python", Runtime::Python),
                Function::new("orders-node", Runtime::Node),
                Function::new("orders-go", Runtime::Go),
                Function::new("orders-rust", Runtime::Rust),
                Function::new("orders-java", Runtime::Java),
                Function::new("orders-java-snapstart", Runtime::JavaSnapStart),
            ],
            requests: 0,
        }
    }
}

impl Scenario for Api {
    fn name(&self) -> &'static str {
        "api"
    }

    fn unit(&mut self, ctx: &mut Ctx<'_>) -> Batch {
        self.requests += 1;
        let n = self.requests;
        let order = format!("order-{}", ctx.rng.u64(1..5000));
        let (method, route) = if ctx.chance(0.3) {
            ("POST", "/orders")
        } else {
            ("GET", "/orders/{id}")
        };
        let f = (n as usize) % self.functions.len();
        let function = &mut self.functions[f];
        let warm_work = if matches!(function.runtime, Runtime::Java | Runtime::JavaSnapStart) {
            ctx.ms(5, 15)
        } else {
            ctx.ms(1, 6)
        };
        let mut out = Batch::default();
        let gateway = ctx.key();
        // Lay out from a start in the past so the request has ended by now.
        let t0 = ctx.now - Duration::from_secs(4);
        let at = t0 + ctx.ms(1, 3);
        let (span, took) = function.invoke(
            ctx,
            &format!("{method} {route}"),
            SpanKind::Server,
            "http",
            at,
            warm_work,
        );
        let invocation = span.key();
        let name = function.name;
        let delay = ctx.ms(0, 2);
        let (stored, write) = kv_write(ctx, name, invocation, "orders", at + delay, &mut out);
        let failed = !stored || (ctx.fault(FaultKind::Errors) && ctx.chance(0.4));
        let status = match (stored, failed) {
            (false, _) => 429,
            (true, true) => 502,
            _ => 200,
        };
        let mut span = span
            .parent(gateway)
            .attr(KeyValue::new("http.request.method", method))
            .attr(KeyValue::new("http.route", route))
            .attr(KeyValue::new("order.id", order.clone()));
        if failed {
            span = span.failed("OrderServiceError", &format!("could not serve {order}"));
            out.logs.push(log(
                name,
                at + took,
                Severity::Error,
                Some("exception"),
                format!("{method} {route} for {order} failed"),
                vec![KeyValue::new("order.id", order.clone())],
                Some(invocation),
            ));
        }
        let mut built = span.build();
        built.end = built.end.max(at + write);
        let end = built.end + ctx.ms(1, 3);
        let mut gw = SpanPlan::new(
            gateway,
            "api-gateway",
            format!("{method} {route}"),
            SpanKind::Server,
            t0,
            end,
        )
        .attr(KeyValue::new("http.request.method", method))
        .attr(KeyValue::new("http.route", route))
        .attr(KeyValue::new("http.response.status_code", status))
        .attr(KeyValue::new("order.id", order));
        if status >= 500 {
            gw = gw.failed("BadGateway", "integration error");
        }
        // Parents first, then shift everything to end now.
        let total = end.duration_since(t0).unwrap_or_default();
        let shift = ctx
            .now
            .duration_since(t0)
            .unwrap_or_default()
            .saturating_sub(total);
        let mut spans = vec![gw.build(), built];
        spans.append(&mut out.spans);
        for mut s in spans {
            s.start += shift;
            s.end += shift;
            out.spans.push(s);
        }
        for l in &mut out.logs {
            l.time += shift;
        }
        out
    }
}
