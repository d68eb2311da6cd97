//! What the pure `decide` function of a cloud kind returns, whatever the provider: the decision vocabulary
//! shared by every reconciler (each kind brings its own `Step`s).
//!
//! The types make the impossible unrepresentable: `Act` carries a non-empty [`Plan`] and the observation it
//! acts on (`O`, e.g. the cloud resource read this reconcile), so the code that performs a step never indexes
//! a list or checks that something was observed.

/// The next thing to do about a cloud resource. `O` is what was observed (only `Act` needs it back).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision<S, O> {
    /// No cloud resource yet: create it.
    Create,
    /// The resource is changing (or in a state that must not be touched): look again later.
    Wait { state: String },
    /// Perform `plan.now` on `on`; the rest of the plan follows in later reconciles.
    Act { plan: Plan<S>, on: O },
    /// Observe-only mode and `on` differs from the spec: report the plan, never write.
    Differs { plan: Plan<S>, on: O },
    /// Everything matches.
    Converged,
}

/// A non-empty sequence of steps: the one to do now, then the rest (for progress messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan<S> {
    pub now: S,
    pub then: Vec<S>,
}

impl<S> Plan<S> {
    /// The plan of `steps`; `None` when there is nothing to do.
    pub fn new(mut steps: Vec<S>) -> Option<Plan<S>> {
        if steps.is_empty() {
            return None;
        }
        let now = steps.remove(0);
        Some(Plan { now, then: steps })
    }

    /// Every step, the current one first.
    pub fn iter(&self) -> impl Iterator<Item = &S> {
        std::iter::once(&self.now).chain(self.then.iter())
    }

    pub fn len(&self) -> usize {
        1 + self.then.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

/// A cloud resource as `decide` reads it (`view`, reduced to what decisions need) together with the resource
/// itself (`remote`), which an `Act` decision hands back to the code that performs the step.
#[derive(Clone, Debug)]
pub struct Seen<V, R> {
    pub view: V,
    pub remote: R,
}

impl<V, R> std::borrow::Borrow<V> for Seen<V, R> {
    fn borrow(&self) -> &V {
        &self.view
    }
}

/// Inputs of a decision beyond the spec and the cloud state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// The desired password differs from the one last applied.
    pub password_differs: bool,
    /// `clouddb.dev/reconcile: observe`.
    pub observe_only: bool,
}

impl<S, O> Decision<S, O> {
    /// The plan when the cloud has no such resource: create it, or (observe-only) wait for it to appear.
    pub fn absent(flags: Flags) -> Decision<S, O> {
        if flags.observe_only {
            Decision::Wait {
                state: "NotFound".into(),
            }
        } else {
            Decision::Create
        }
    }

    /// The plan, given the `steps` needed on `on` (none: converged), respecting observe-only mode.
    pub fn from_steps(steps: Vec<S>, flags: Flags, on: O) -> Decision<S, O> {
        match (Plan::new(steps), flags.observe_only) {
            (None, _) => Decision::Converged,
            (Some(plan), true) => Decision::Differs { plan, on },
            (Some(plan), false) => Decision::Act { plan, on },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_are_never_empty_and_keep_their_order() {
        assert_eq!(Plan::<u8>::new(vec![]), None);
        let p = Plan::new(vec![1, 2, 3]).expect("non-empty");
        assert_eq!((p.now, p.len()), (1, 3));
        assert_eq!(p.iter().copied().collect::<Vec<_>>(), vec![1, 2, 3]);
        let observing = Flags {
            observe_only: true,
            ..Flags::default()
        };
        assert!(matches!(
            Decision::from_steps(vec![1], observing, "x"),
            Decision::Differs { .. }
        ));
        assert_eq!(
            Decision::<u8, &str>::from_steps(vec![], Flags::default(), "x"),
            Decision::Converged
        );
    }
}
