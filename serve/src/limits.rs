//! Limits that keep the read paths up under abuse: a request rate per tenant, subscriptions
//! per tenant and in all, and concurrent large renders. Each refusal says why and when to
//! come back.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::auth::{RateKey, Reader};
use crate::error::ApiError;

/// The limits, configurable; the defaults suit a 2-core machine.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Requests per second each tenant (and platform staff, the operator, anonymous readers,
    /// each as one) may make on average...
    pub requests_per_second: u32,
    /// ... with bursts of this many.
    pub request_burst: u32,
    /// Open subscriptions per tenant.
    pub subscriptions_per_tenant: usize,
    /// Open subscriptions in all.
    pub subscriptions: usize,
    /// Large renders (pages encoded off the async workers, subscription snapshots) at once.
    pub concurrent_renders: usize,
    /// The largest message a subscriber may send, in bytes.
    pub client_message_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            requests_per_second: 100,
            request_burst: 200,
            subscriptions_per_tenant: 64,
            subscriptions: 10_000,
            concurrent_renders: 4,
            client_message_bytes: 4096,
        }
    }
}

/// The limits' live state.
pub(crate) struct Guards {
    limits: Limits,
    rate: DefaultKeyedRateLimiter<RateKey>,
    subscriptions: Arc<Mutex<Subscriptions>>,
    renders: Arc<Semaphore>,
}

/// Open subscriptions, per tenant and in all.
#[derive(Default)]
struct Subscriptions {
    total: usize,
    by_key: HashMap<RateKey, usize>,
}

/// An open subscription's place under the caps, given back when dropped.
pub(crate) struct SubscriptionSlot {
    key: RateKey,
    subscriptions: Arc<Mutex<Subscriptions>>,
}

impl Drop for SubscriptionSlot {
    fn drop(&mut self) {
        let mut open = lock(&self.subscriptions);
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.by_key.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.by_key.remove(&self.key);
            }
        }
    }
}

fn lock(m: &Mutex<Subscriptions>) -> std::sync::MutexGuard<'_, Subscriptions> {
    // Plain counters: a panic elsewhere cannot leave them half-changed.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How long a refused client should wait before trying again, when the refusal has no clock.
const RETRY_SOON: Duration = Duration::from_secs(1);

impl Guards {
    pub(crate) fn new(limits: Limits) -> Guards {
        let at_least_one = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(at_least_one(limits.requests_per_second))
            .allow_burst(at_least_one(limits.request_burst));
        Guards {
            rate: RateLimiter::keyed(quota),
            subscriptions: Arc::default(),
            renders: Arc::new(Semaphore::new(limits.concurrent_renders.max(1))),
            limits,
        }
    }

    /// The limits in force.
    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Counts a request of `reader` against its rate; 429 with the wait when it is over.
    pub(crate) fn admit(&self, reader: &Reader) -> Result<(), ApiError> {
        self.rate
            .check_key(&reader.rate_key())
            .map_err(|not_until| {
                ApiError::RateLimited(not_until.wait_time_from(DefaultClock::default().now()))
            })
    }

    /// A place for one more subscription of `reader`; 429 past either cap. Platform staff, the
    /// operator and anonymous readers are each capped as one tenant.
    pub(crate) fn subscription(&self, reader: &Reader) -> Result<SubscriptionSlot, ApiError> {
        let key = reader.rate_key();
        let mut open = lock(&self.subscriptions);
        if open.total >= self.limits.subscriptions {
            return Err(ApiError::TooManySubscriptions(format!(
                "the engine has {} open subscriptions, its limit",
                self.limits.subscriptions
            )));
        }
        let mine = open.by_key.entry(key).or_default();
        if *mine >= self.limits.subscriptions_per_tenant {
            return Err(ApiError::TooManySubscriptions(format!(
                "this tenant has {} open subscriptions, its limit",
                self.limits.subscriptions_per_tenant
            )));
        }
        *mine += 1;
        open.total += 1;
        Ok(SubscriptionSlot {
            key,
            subscriptions: self.subscriptions.clone(),
        })
    }

    /// A permit for one large render; 503 while as many are under way as the limit allows.
    pub(crate) fn render(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.renders
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::Busy(RETRY_SOON))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    fn guards(limits: Limits) -> Guards {
        Guards::new(limits)
    }

    #[test]
    fn subscriptions_are_capped_per_tenant_and_in_all_and_given_back_when_closed() {
        let guards = guards(Limits {
            subscriptions_per_tenant: 2,
            subscriptions: 3,
            ..Limits::default()
        });
        let tenant = |company| Reader::Tenant {
            company,
            user: None,
            exp: 0,
        };
        let a1 = guards.subscription(&tenant(1)).expect("first");
        let _a2 = guards.subscription(&tenant(1)).expect("second");
        let refused = guards
            .subscription(&tenant(1))
            .err()
            .expect("over the tenant's cap");
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.to_string().contains("this tenant"), "{refused}");
        let _b1 = guards.subscription(&tenant(2)).expect("another tenant");
        let refused = guards
            .subscription(&tenant(3))
            .err()
            .expect("over the engine's cap");
        assert!(refused.to_string().contains("the engine"), "{refused}");
        drop(a1);
        guards
            .subscription(&tenant(3))
            .expect("a place was given back");
    }

    #[test]
    fn large_renders_past_the_bound_are_refused_with_a_wait() {
        let guards = guards(Limits {
            concurrent_renders: 1,
            ..Limits::default()
        });
        let first = guards.render().expect("a permit");
        let refused = guards.render().expect_err("busy");
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        drop(first);
        let _again = guards.render().expect("free again");
    }

    #[test]
    fn the_request_rate_is_per_tenant() {
        let guards = guards(Limits {
            requests_per_second: 1,
            request_burst: 3,
            ..Limits::default()
        });
        let one = Reader::Tenant {
            company: 1,
            user: None,
            exp: 0,
        };
        for _ in 0..3 {
            guards.admit(&one).expect("within the burst");
        }
        let refused = guards.admit(&one).expect_err("over the rate");
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let two = Reader::Tenant {
            company: 2,
            user: None,
            exp: 0,
        };
        guards
            .admit(&two)
            .expect("another tenant has its own bucket");
    }
}
